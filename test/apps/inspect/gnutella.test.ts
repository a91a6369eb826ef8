import { describe, expect, it } from 'vitest';
import { gnutella } from '../../../src/apps/gnutella/detect.js';
import { GnutellaInspector } from '../../../src/apps/gnutella/inspect.js';
import { GNUTELLA_SESSIONS } from '../../../src/apps/gnutella/session.js';
import { prngBytes } from '../../../src/apps/bytes.js';
import type { InspectEvents } from '../../../src/apps/types.js';
import { LAB, cat, feed, fromSteps, sha, splitInvariant, text, utf8, type Script } from './harness.js';

const make = (ev: InspectEvents) => new GnutellaInspector(ev);
const URN = 'urn:sha1:PLSTHIPQGSSZTS5FJUPAKUZWUGYQYPFB';
const GUID = '8f3b1c2d4e5f60718293a4b5c6d7e8f9';
const file = prngBytes(3, 2048, 'gnut-file');
const part = prngBytes(3, 1500, 'gnut-part');

const getReq = (target: string) =>
  text(
    `GET ${target} HTTP/1.1\r\n` +
      'User-Agent: LimeWire/4.12.6\r\nHost: 10.0.0.2:6346\r\nRange: bytes=0-\r\n' +
      `X-Gnutella-Content-URN: ${URN}\r\nX-Features: fwalt/0.1, browse/1.0\r\nConnection: Keep-Alive\r\n\r\n`,
  );
const okResp = (body: Uint8Array, extra = '') =>
  cat(
    text(
      'HTTP/1.1 200 OK\r\nServer: LimeWire/4.12.6\r\nContent-Type: application/binary\r\n' +
        `Content-Length: ${body.length}\r\nX-Gnutella-Content-URN: ${URN}\r\nX-Alt: 10.0.0.9:6346\r\n${extra}\r\n`,
    ),
    body,
  );

describe('Gnutella transfers', () => {
  it('GET /get/<index>/<name> then /uri-res/N2R on the same connection', () => {
    const script: Script = [
      [0, getReq('/get/1234/My%20Song%20%C3%A9t%C3%A9.mp3')],
      [1, okResp(file)],
      [0, getReq(`/uri-res/N2R?${URN}`)],
      [1, cat(text(`HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-1499/2048\r\nContent-Length: ${part.length}\r\n\r\n`), part)],
    ];
    const { events } = splitInvariant(make, script);
    expect(events).toEqual([
      { t: 'name', dir: 0, name: 'My Song été.mp3', source: 'url' },
      { t: 'start', dir: 1, id: 1, info: { name: 'My Song été.mp3', size: 2048, nameSource: 'url' } },
      { t: 'data', id: 1, len: 2048, sha256: sha(file) },
      { t: 'end', id: 1, complete: true },
      { t: 'start', dir: 1, id: 2, info: { name: null, size: 1500, nameSource: URN } },
      { t: 'data', id: 2, len: 1500, sha256: sha(part) },
      { t: 'end', id: 2, complete: true },
    ]);
  });

  it('Gnutella 0.4 style request: raw spaces and a trailing slash', () => {
    const ev = feed(make, [[0, text('GET /get/2468/Foo Bar.mp3/ HTTP/1.0\r\nUser-Agent: Gnutella\r\n\r\n')], [1, text('HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nabc')]]).events();
    expect(ev.slice(0, 3)).toEqual([
      { t: 'weird', name: 'http_space_in_target' },
      { t: 'name', dir: 0, name: 'Foo Bar.mp3', source: 'url' },
      { t: 'start', dir: 1, id: 1, info: { name: 'Foo Bar.mp3', size: 3, nameSource: 'url' } },
    ]);
  });

  it('a uri-res response with Content-Disposition names the file', () => {
    const ev = feed(make, [
      [0, getReq(`/uri-res/N2R?${URN}`)],
      [1, okResp(part, 'Content-Disposition: attachment; filename="Holiday.avi"\r\n')],
    ]).events();
    expect(ev.slice(0, 2)).toEqual([
      { t: 'name', dir: 1, name: 'Holiday.avi', source: 'content-disposition' },
      { t: 'start', dir: 1, id: 1, info: { name: 'Holiday.avi', size: 1500, nameSource: 'content-disposition' } },
    ]);
  });

  it('GIV push: the servent (dir 0) sends GIV, the downloader (dir 1) the GET, dir 0 the file', () => {
    const script: Script = [
      [0, cat(text(`GIV 1234:${GUID}/`), utf8('Mü Song.mp3'), text('\n\n'))],
      [1, getReq('/get/1234/M%C3%BC%20Song.mp3')],
      [0, okResp(file)],
    ];
    const { events } = splitInvariant(make, script);
    expect(events).toEqual([
      { t: 'name', dir: 0, name: 'Mü Song.mp3', source: 'gnutella-giv' },
      { t: 'name', dir: 1, name: 'Mü Song.mp3', source: 'url' },
      { t: 'start', dir: 0, id: 1, info: { name: 'Mü Song.mp3', size: 2048, nameSource: 'url' } },
      { t: 'data', id: 1, len: 2048, sha256: sha(file) },
      { t: 'end', id: 1, complete: true },
    ]);
  });

  it('GIV push with the GET arriving before the GIV line is complete (held and replayed)', () => {
    const script: Script = [
      [0, text('GI')],
      [1, getReq('/get/7/a.txt')],
      [0, text(`V 7:${GUID}/a.txt\r\n\r\n`)],
      [0, okResp(part)],
    ];
    const { events } = splitInvariant(make, script);
    expect(events.map((e) => e.t)).toEqual(['name', 'name', 'start', 'data', 'end']);
    expect(events[1]).toEqual({ t: 'name', dir: 1, name: 'a.txt', source: 'url' });
  });

  it('Gnutella2 PUSH: no name from the push line, HTTP from dir 1', () => {
    const script: Script = [
      [0, text(`PUSH guid:${GUID.toUpperCase()}\r\n\r\n`)],
      [1, getReq(`/uri-res/N2R?${URN}`)],
      [0, okResp(part)],
    ];
    const { events } = splitInvariant(make, script);
    expect(events).toEqual([
      { t: 'start', dir: 0, id: 1, info: { name: null, size: 1500, nameSource: URN } },
      { t: 'data', id: 1, len: 1500, sha256: sha(part) },
      { t: 'end', id: 1, complete: true },
    ]);
  });

  it('leaves the overlay handshake (lab session) alone', () => {
    const script = fromSteps(GNUTELLA_SESSIONS[0].build(LAB));
    const { events } = splitInvariant(make, script);
    expect(events).toEqual([]);
    expect(feed((ev) => gnutella.inspect!(ev), script).events()).toEqual([]);
  });

  it('malformed push lines and early data are weirds, never exceptions', () => {
    expect(feed(make, [[0, text('GIV nonsense/x\n\n')], [1, getReq('/get/1/x')]]).events().filter((e) => e.t === 'weird')).toEqual([
      { t: 'weird', name: 'gnutella_bad_giv' },
    ]);
    const long = feed(make, [[0, text(`GIV 1:${GUID}/${'n'.repeat(9000)}\n\n`)], [1, getReq('/get/1/x')]]).events();
    expect(long).toEqual([{ t: 'weird', name: 'gnutella_push_line_too_long' }, { t: 'name', dir: 1, name: 'x', source: 'url' }]);
    const early = feed(make, [[1, new Uint8Array(70_000)], [0, getReq('/get/1/x')]]).events();
    expect(early).toEqual([{ t: 'weird', name: 'gnutella_early_data' }, { t: 'name', dir: 0, name: 'x', source: 'url' }]);
  });

  it('a gap in dir 0 before its mode is known stops dir 0 only', () => {
    const events: string[] = [];
    const g = new GnutellaInspector({
      chat: () => {},
      fileName: (d, n, s) => void events.push(`name ${d} ${n} ${s}`),
      fileStart: () => 1,
      fileData: () => {},
      fileEnd: () => {},
      weird: (w) => void events.push(`weird ${w}`),
    });
    g.onData(0, text('G'));
    g.onGap(0, 10);
    g.onData(0, getReq('/get/1/ignored'));
    g.onData(1, text('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'));
    expect(events).toEqual([]);
  });
});
