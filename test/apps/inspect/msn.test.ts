import { describe, expect, it } from 'vitest';
import { msn } from '../../../src/apps/msn/detect.js';
import { MsnChatInspector, payloadLength } from '../../../src/apps/msn/inspect.js';
import { MSN, msnMsg } from '../../../src/apps/msn/session.js';
import type { InspectEvents } from '../../../src/apps/types.js';
import { LAB, cat, feed, fromSteps, splitInvariant, text, utf8, type Script } from './harness.js';

const make = (ev: InspectEvents) => new MsnChatInspector(ev);
const PLAIN = 'text/plain; charset=UTF-8';
const mime = (ctype: string, body: string, extra = '') => `MIME-Version: 1.0\r\nContent-Type: ${ctype}\r\n${extra}\r\n${body}`;
const invite = (cmd: string, file: string) =>
  mime(
    'text/x-msmsgsinvite; charset=UTF-8',
    `Application-Name: File Transfer\r\nApplication-GUID: {5D3E02AB-6190-11d3-BBBB-00C04F795683}\r\n` +
      `Invitation-Command: ${cmd}\r\nInvitation-Cookie: 72893\r\n` +
      (file ? `Application-File: ${file}\r\nApplication-FileSize: 13321\r\n` : '') +
      'Connectivity: N\r\n\r\n',
  );

/** `<head> <length>\r\n<payload>` (MSNP payload command). */
const withPayload = (head: string, payload: string) => cat(text(`${head} ${utf8(payload).length}\r\n`), utf8(payload));

describe('MSN chat inspector', () => {
  it('lab switchboard session: client message without sender, server message with sender and recipient', () => {
    const script = fromSteps(MSN[1].build(LAB));
    const { events } = splitInvariant(make, script);
    expect(events).toEqual([
      { t: 'chat', dir: 0, msg: { text: 'hello', contentType: PLAIN } },
      { t: 'chat', dir: 1, msg: { text: 'hi there', from: 'friend@example.com', to: 'user@example.com', contentType: PLAIN } },
    ]);
    expect(feed((ev) => msn.inspect!(ev), script).events()).toEqual(events);
  });

  it('lab notification session has no chat', () => {
    expect(splitInvariant(make, fromSteps(MSN[0].build(LAB))).events).toEqual([]);
  });

  it('answered switchboard: typing, file invitation, UTF-8 text, accept, payload commands skipped', () => {
    const script: Script = [
      [0, text('ANS 1 bob@hotmail.com 849102291.520491113 11752013\r\n')],
      [1, text('IRO 1 1 1 alice@hotmail.com Alice%20A\r\nANS 1 OK\r\n')],
      [1, msnMsg('alice@hotmail.com Alice%20A', mime('text/x-msmsgscontrol', '\r\n', 'TypingUser: alice@hotmail.com\r\n'))],
      [1, msnMsg('alice@hotmail.com;{f0e3b2a1-1111-2222-3333-444455556666} Alice%20A', invite('INVITE', 'Urlaubsfotos ä.zip'))],
      [0, msnMsg('2 N', invite('ACCEPT', ''))],
      [0, msnMsg('3 A', mime(PLAIN, 'Grüße 👋 — 你好!\r\nzweite Zeile', 'X-MMS-IM-Format: FN=Arial; EF=; CO=0; CS=0; PF=0\r\n'))],
      [1, text('ACK 3\r\n')],
      // A notification-style payload command whose payload looks like a MSG line: skipped by length.
      [1, cat(withPayload('NOT', 'MSG fake@x.com Fake 5\r\nhello world!!\r\n'), text('XX\r\n'))],
      [1, withPayload('UBX alice@hotmail.com', '<Data><PSM>hi</PSM></Data>')],
      [0, withPayload('UUX 4', '<Data><PSM></PSM></Data>')],
      [1, text('UUX 4 0\r\nBYE alice@hotmail.com\r\n')],
    ];
    const { events } = splitInvariant(make, script);
    expect(events).toEqual([
      { t: 'name', dir: 1, name: 'Urlaubsfotos ä.zip', source: 'msn-invite' },
      { t: 'chat', dir: 0, msg: { text: 'Grüße 👋 — 你好!\r\nzweite Zeile', contentType: PLAIN } },
    ]);
  });

  it('payload lengths of MSNP commands', () => {
    expect(payloadLength(['MSG', '4', 'N', '130'])).toBe(130);
    expect(payloadLength(['MSG', 'a@b.c', 'Nick', '77'])).toBe(77);
    expect(payloadLength(['MSG', '4', 'N'])).toBe('bad');
    expect(payloadLength(['MSG', '4', 'N', '-1'])).toBe('bad');
    expect(payloadLength(['ADL', '7', 'OK'])).toBeNull();
    expect(payloadLength(['ADL', '7', '90'])).toBe(90);
    expect(payloadLength(['QRY', '10'])).toBeNull();
    expect(payloadLength(['QRY', '10', 'msmsgs@msnmsgr.com', '32'])).toBe(32);
    expect(payloadLength(['241', '9', '120'])).toBe(120);
    expect(payloadLength(['CAL', '2', 'friend@example.com'])).toBeNull();
  });
});

describe('MSN chat inspector: malformed input', () => {
  const weirds = (script: Script, end = true) => feed(make, script, { end }).events();

  it('truncated MIME, bad and oversized MSG lines, payload cut by the end of the stream', () => {
    expect(weirds([[1, msnMsg('a@b.c A', 'MIME-Version: 1.0\r\nContent-Type: text/plain')], [1, msnMsg('a@b.c A', mime(PLAIN, 'next'))]])).toEqual([
      { t: 'weird', name: 'msn_mime_truncated' },
      { t: 'chat', dir: 1, msg: { text: 'next', from: 'a@b.c', contentType: PLAIN } },
    ]);
    expect(weirds([[0, text('MSG 1 N abc\r\nhello')]])).toEqual([{ t: 'weird', name: 'msn_bad_msg' }]);
    expect(weirds([[0, text('MSG 1 N\r\n')]])).toEqual([{ t: 'weird', name: 'msn_bad_msg' }]);
    expect(weirds([[0, text('MSG 1 N 70000\r\n')]])).toEqual([{ t: 'weird', name: 'msn_msg_too_large' }]);
    expect(weirds([[0, text('MSG 1 N 500\r\nMIME-Version: 1.0\r\n')]])).toEqual([{ t: 'weird', name: 'msn_msg_truncated' }]);
    expect(weirds([[0, text('X'.repeat(9000))]])).toEqual([{ t: 'weird', name: 'msn_line_too_long' }]);
  });

  it('invalid UTF-8 is replaced and counted; an unknown charset falls back to UTF-8', () => {
    const bad = cat(text(`MSG 1 N ${mime(PLAIN, '').length + 3}\r\n${mime(PLAIN, '')}`), Uint8Array.from([0x61, 0xff, 0x62]));
    expect(weirds([[0, bad]])).toEqual([
      { t: 'weird', name: 'msn_bad_utf8' },
      { t: 'chat', dir: 0, msg: { text: 'a\uFFFDb', contentType: PLAIN } },
    ]);
    const latin = cat(text(`MSG 1 N ${mime('text/plain; charset=ISO-8859-1', '').length + 1}\r\n${mime('text/plain; charset=ISO-8859-1', '')}`), Uint8Array.from([0xe9]));
    expect(weirds([[0, latin]])).toEqual([{ t: 'chat', dir: 0, msg: { text: 'é', contentType: 'text/plain; charset=ISO-8859-1' } }]);
    const odd = msnMsg('1 N', mime('text/plain; charset=x-klingon', 'qapla'));
    expect(weirds([[0, odd]])).toEqual([
      { t: 'weird', name: 'msn_bad_charset' },
      { t: 'chat', dir: 0, msg: { text: 'qapla', contentType: 'text/plain; charset=x-klingon' } },
    ]);
    expect(utf8('x').length).toBe(1);
  });

  it('a gap stops that direction only', () => {
    const got: string[] = [];
    const m = new MsnChatInspector({
      chat: (d, msg) => void got.push(`${d}:${msg.text}`),
      fileName: () => {},
      fileStart: () => 0,
      fileData: () => {},
      fileEnd: () => {},
      weird: (w) => void got.push(w),
    });
    m.onData(0, msnMsg('1 N', mime(PLAIN, 'one')).subarray(0, 20));
    m.onGap(0, 30);
    m.onData(0, msnMsg('2 N', mime(PLAIN, 'two')));
    m.onData(1, msnMsg('a@b.c A', mime(PLAIN, 'three')));
    expect(got).toEqual(['1:three']);
  });

  it('never throws on random input', async () => {
    const fc = (await import('fast-check')).default;
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom(0, 1), fc.oneof(fc.uint8Array({ maxLength: 200 }), fc.constantFrom(...['MSG 1 N 5\r\n', 'MSG a@b A 3\r\n', 'NOT 4\r\n', '\r\n', 'abc', 'Content-Type: text/plain\r\n\r\nhi'].map(text)))), { maxLength: 12 }), (parts) => {
        feed(make, parts.map(([d, b]) => [d as 0 | 1, b] as const));
      }),
      { numRuns: 300 },
    );
  });
});
