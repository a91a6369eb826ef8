import { describe, expect, it } from 'vitest';
import { http } from '../../../src/apps/http/detect.js';
import { HttpInspector } from '../../../src/apps/parse/http-parser.js';
import { HTTP } from '../../../src/apps/http/session.js';
import type { InspectEvents } from '../../../src/apps/types.js';
import { LAB, cat, feed, fromSteps, sha, splitInvariant, text, utf8, type Script } from './harness.js';

const make = (ev: InspectEvents) => new HttpInspector(ev);

describe('HTTP inspector: lab session', () => {
  it('reports the URL name and the Content-Length body, whatever the split', () => {
    const script = fromSteps(HTTP[0].build(LAB));
    const { events, rec } = splitInvariant(make, script);
    const raw = Buffer.from(script[1][1]);
    const content = raw.subarray(raw.indexOf('\r\n\r\n') + 4);
    expect(events).toEqual([
      { t: 'name', dir: 0, name: 'index.html', source: 'url' },
      { t: 'start', dir: 1, id: 1, info: { name: 'index.html', size: 4000, nameSource: 'url' } },
      { t: 'data', id: 1, len: 4000, sha256: sha(content) },
      { t: 'end', id: 1, complete: true },
    ]);
    expect(sha(rec.file(1))).toBe(sha(content));
  });

  it('is attached to the http descriptor', () => {
    const rec = feed((ev) => http.inspect!(ev), fromSteps(HTTP[0].build(LAB)));
    expect(rec.events()[0]).toEqual({ t: 'name', dir: 0, name: 'index.html', source: 'url' });
  });
});

describe('HTTP inspector: framing', () => {
  it('de-chunks a chunked body with extensions and trailers, Content-Disposition filename* wins', () => {
    const file = cat(utf8('hello, '), utf8('chunked '), utf8('wörld\n'));
    const res =
      'HTTP/1.1 200 OK\r\n' +
      'Content-Type: application/octet-stream\r\n' +
      `Content-Disposition: attachment; filename="fallback.txt"; filename*=UTF-8''na%C3%AFve%20r%C3%A9sum%C3%A9.txt\r\n` +
      'Transfer-Encoding: chunked\r\n' +
      'Trailer: X-Checksum\r\n' +
      '\r\n';
    const chunks = cat(
      text('7\r\n'), utf8('hello, '), text('\r\n'),
      text('8;name="ext"\r\n'), utf8('chunked '), text('\r\n'),
      text('00007 \r\n'), utf8('wörld\n'), text('\r\n'),
      text('0\r\nX-Checksum: abc\r\nX-Other: 1\r\n\r\n'),
    );
    const script: Script = [
      [0, text('GET /files/download?id=42 HTTP/1.1\r\nHost: example.org\r\n\r\n')],
      [1, cat(text(res), chunks)],
    ];
    const { events, rec } = splitInvariant(make, script);
    expect(events).toEqual([
      { t: 'name', dir: 0, name: 'download', source: 'url' },
      { t: 'name', dir: 1, name: 'naïve résumé.txt', source: 'content-disposition' },
      { t: 'start', dir: 1, id: 1, info: { name: 'naïve résumé.txt', size: null, nameSource: 'content-disposition' } },
      { t: 'data', id: 1, len: file.length, sha256: sha(file) },
      { t: 'end', id: 1, complete: true },
    ]);
    expect(Buffer.from(rec.file(1)).toString('utf8')).toBe('hello, chunked wörld\n');
  });

  it('matches pipelined responses to requests (HEAD, 304, 100-continue upload, keep-alive)', () => {
    const a = utf8('first file');
    const up = utf8('uploaded bytes');
    const c = utf8('third');
    const script: Script = [
      [0, text('GET /a/first%20file.txt HTTP/1.1\r\nHost: h\r\n\r\nHEAD /b/second.iso HTTP/1.1\r\nHost: h\r\n\r\nGET /c/ HTTP/1.1\r\nHost: h\r\n\r\n')],
      [1, cat(text(`HTTP/1.1 200 OK\r\nContent-Length: ${a.length}\r\n\r\n`), a)],
      [1, text('HTTP/1.1 200 OK\r\nContent-Length: 123456\r\n\r\n')],
      [1, text('HTTP/1.1 304 Not Modified\r\nETag: "x"\r\n\r\n')],
      [0, text(`PUT /upload/new.bin HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: ${up.length}\r\n\r\n`)],
      [1, text('HTTP/1.1 100 Continue\r\n\r\n')],
      [0, up],
      [1, text('HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n')],
      [0, text('GET /d/third.txt HTTP/1.0\r\n\r\n')],
      [1, cat(text('HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n'), c)],
    ];
    const { events } = splitInvariant(make, script);
    expect(events).toEqual([
      { t: 'name', dir: 0, name: 'first file.txt', source: 'url' },
      { t: 'name', dir: 0, name: 'second.iso', source: 'url' },
      { t: 'start', dir: 1, id: 1, info: { name: 'first file.txt', size: a.length, nameSource: 'url' } },
      { t: 'data', id: 1, len: a.length, sha256: sha(a) },
      { t: 'end', id: 1, complete: true },
      { t: 'name', dir: 0, name: 'new.bin', source: 'url' },
      { t: 'start', dir: 0, id: 2, info: { name: 'new.bin', size: up.length, nameSource: 'url' } },
      { t: 'data', id: 2, len: up.length, sha256: sha(up) },
      { t: 'end', id: 2, complete: true },
      { t: 'name', dir: 0, name: 'third.txt', source: 'url' },
      // HTTP/1.0 without Content-Length: delimited by the end of the connection.
      { t: 'start', dir: 1, id: 3, info: { name: 'third.txt', size: null, nameSource: 'url' } },
      { t: 'data', id: 3, len: c.length, sha256: sha(c) },
      { t: 'end', id: 3, complete: true },
    ]);
  });

  it('handles a chunked POST upload and absolute-form targets', () => {
    const body = utf8('a=1&b=2');
    const script: Script = [
      [0, cat(text('POST http://proxy.example/submit/form.cgi?x=1 HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n'), text('7\r\n'), body, text('\r\n0\r\n\r\n'))],
      [1, text('HTTP/1.1 204 No Content\r\n\r\n')],
    ];
    const { events } = splitInvariant(make, script);
    expect(events).toEqual([
      { t: 'name', dir: 0, name: 'form.cgi', source: 'url' },
      { t: 'start', dir: 0, id: 1, info: { name: 'form.cgi', size: null, nameSource: 'url' } },
      { t: 'data', id: 1, len: body.length, sha256: sha(body) },
      { t: 'end', id: 1, complete: true },
    ]);
  });

  it('a close-delimited body cut short by the peer and a Content-Length body cut short end as expected', () => {
    const cut = feed(make, [
      [0, text('GET /x.zip HTTP/1.1\r\n\r\n')],
      [1, text('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345')],
    ]).events();
    expect(cut.slice(-2)).toEqual([{ t: 'data', id: 1, len: 5, sha256: sha(text('12345')) }, { t: 'end', id: 1, complete: false }]);
  });

  it('stops at 101 Switching Protocols and CONNECT tunnels', () => {
    const ws = feed(make, [
      [0, text('GET /chat HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n')],
      [1, text('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello')],
      [0, text('\x81\x85garbage that is not HTTP')],
    ]).events();
    expect(ws).toEqual([{ t: 'name', dir: 0, name: 'chat', source: 'url' }]);
    const tunnel = feed(make, [
      [0, text('CONNECT example.org:443 HTTP/1.1\r\nHost: example.org:443\r\n\r\n')],
      [1, text('HTTP/1.1 200 Connection established\r\n\r\n')],
      [0, text('\x16\x03\x01\x02\x00\x01')],
      [1, text('\x16\x03\x03\x00\x7a')],
    ]).events();
    expect(tunnel).toEqual([]);
  });

  it('a gap stops that direction and ends its transfer incomplete; the other direction goes on', () => {
    // Direct use: feed, gap, then more bytes that must be ignored.
    const events: string[] = [];
    const h = new HttpInspector({
      chat: () => {},
      fileName: (_d, n) => void events.push(`name ${n}`),
      fileStart: () => (events.push('start'), 1),
      fileData: (_id, b) => void events.push(`data ${Buffer.from(b).toString()}`),
      fileEnd: (_id, c) => void events.push(`end ${c}`),
      weird: (w) => void events.push(`weird ${w}`),
    });
    h.onData(0, text('GET /one.bin HTTP/1.1\r\n\r\nGET /two.bin HTTP/1.1\r\n\r\n'));
    h.onData(1, text('HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nabcd'));
    h.onGap(1, 4);
    h.onData(1, text('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nxy'));
    h.onGap(0, 100);
    h.onData(0, text('GET /three.bin HTTP/1.1\r\n\r\n'));
    h.onEnd(0);
    h.onEnd(1);
    expect(events).toEqual(['name one.bin', 'name two.bin', 'start', 'data abcd', 'end false']);
  });
});

describe('HTTP inspector: malformed input (weird, never throws)', () => {
  const run = (script: Script) => feed(make, script).events();
  const weirds = (script: Script) => run(script).filter((e) => e.t === 'weird').map((e) => (e as { name: string }).name);

  it('bad chunk sizes and chunk ends', () => {
    for (const bad of ['zz\r\n', '-1\r\n', '12345678901234\r\n', '\r\n', '5 x\r\n']) {
      const ev = run([[0, text('GET /f HTTP/1.1\r\n\r\n')], [1, text(`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${bad}hello\r\n0\r\n\r\n`)]]);
      expect(ev.filter((e) => e.t === 'weird'), bad).toEqual([{ t: 'weird', name: 'http_bad_chunk_size' }]);
    }
    const ev = run([[0, text('GET /f HTTP/1.1\r\n\r\n')], [1, text('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n')]]);
    expect(ev.slice(-3)).toEqual([
      { t: 'data', id: 1, len: 3, sha256: sha(text('hel')) },
      { t: 'weird', name: 'http_bad_chunk_end' },
      { t: 'end', id: 1, complete: false },
    ]);
  });

  it('header line and header section overflow', () => {
    const longLine = `GET /${'a'.repeat(9000)} HTTP/1.1\r\n\r\n`;
    expect(weirds([[0, text(longLine)]])).toEqual(['http_line_too_long']);
    const many = 'GET /x HTTP/1.1\r\n' + `X-Filler: ${'b'.repeat(1000)}\r\n`.repeat(70) + '\r\n';
    expect(weirds([[0, text(many)]])).toEqual(['http_header_too_long']);
    // Exactly at the cap is fine: an 8192-octet line.
    const atCap = `GET /${'c'.repeat(8192 - 'GET / HTTP/1.1'.length)} HTTP/1.1`;
    expect(atCap.length).toBe(8192);
    expect(weirds([[0, text(atCap + '\r\n\r\n')]])).toEqual([]);
    expect(weirds([[0, text(atCap.replace('GET /', 'GET /c') + '\r\n\r\n')]])).toEqual(['http_line_too_long']);
    // Oversized trailers.
    const trailers = `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n${`T: ${'t'.repeat(2000)}\r\n`.repeat(40)}\r\n`;
    expect(weirds([[0, text('GET /f HTTP/1.1\r\n\r\n')], [1, text(trailers)]])).toEqual(['http_header_too_long']);
  });

  it('negative, non-numeric, conflicting and huge Content-Length', () => {
    const resp = (cl: string) => weirds([[0, text('GET /f HTTP/1.1\r\n\r\n')], [1, text(`HTTP/1.1 200 OK\r\n${cl}\r\n\r\nbody`)]]);
    expect(resp('Content-Length: -5')).toEqual(['http_bad_content_length']);
    expect(resp('Content-Length: 12abc')).toEqual(['http_bad_content_length']);
    expect(resp('Content-Length: 4\r\nContent-Length: 5')).toEqual(['http_bad_content_length']);
    expect(resp('Content-Length: 99999999999999999999999')).toEqual(['http_content_length_too_large']);
    expect(resp('Content-Length: 4, 4')).toEqual([]);
    expect(weirds([[0, text('POST /u HTTP/1.1\r\nContent-Length: -1\r\n\r\n')]])).toEqual(['http_bad_content_length']);
    expect(weirds([[0, text('POST /u HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\nxx')]])).toEqual(['http_bad_transfer_encoding']);
    expect(weirds([[0, text('POST /u HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n')]])).toEqual(['http_te_and_cl']);
  });

  it('bad start lines, versions, header lines, unmatched responses, truncated heads', () => {
    expect(weirds([[0, text('GARBAGE\r\n\r\n')]])).toEqual(['http_bad_request_line']);
    expect(weirds([[0, text('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')]])).toEqual(['http_bad_version']);
    expect(weirds([[0, text('GET / HTTP/1.1\r\n\r\n')], [1, text('SSH-2.0-OpenSSH\r\n\r\n')]])).toEqual(['http_bad_status_line']);
    expect(weirds([[0, text('GET / HTTP/1.1\r\nBad Header: x\r\nnocolon\r\n\r\n')]])).toEqual(['http_bad_header_line']);
    expect(weirds([[1, text('HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx')]])).toEqual(['http_unmatched_response']);
    expect(weirds([[0, text('GET / HTTP/1.1\r\nHost: x\r\n')]])).toEqual(['http_truncated_head']);
  });

  it('never throws on random bytes, in either direction', async () => {
    const fc = (await import('fast-check')).default;
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom(0, 1), fc.uint8Array({ maxLength: 300 })), { maxLength: 8 }), (parts) => {
        const script = parts.map(([d, b]) => [d as 0 | 1, b] as const);
        expect(feed(make, script).openTransfers).toBe(0);
      }),
      { numRuns: 300 },
    );
    fc.assert(
      fc.property(fc.array(fc.constantFrom('GET / HTTP/1.1\r\n', 'HTTP/1.1 200 OK\r\n', 'Transfer-Encoding: chunked\r\n', 'Content-Length: 3\r\n', '\r\n', '5\r\n', 'abc', '0\r\n'), { maxLength: 20 }), fc.array(fc.constantFrom(0, 1), { minLength: 20, maxLength: 20 }), (lines, dirs) => {
        expect(feed(make, lines.map((l, i) => [dirs[i] as 0 | 1, text(l)] as const)).openTransfers).toBe(0);
      }),
      { numRuns: 300 },
    );
  });
});
