import { describe, expect, it } from 'vitest';
import { fasttrack } from '../../../src/apps/fasttrack/detect.js';
import { FastTrackInspector } from '../../../src/apps/fasttrack/inspect.js';
import { FASTTRACK } from '../../../src/apps/fasttrack/session.js';
import { hex, prngBytes } from '../../../src/apps/bytes.js';
import type { InspectEvents } from '../../../src/apps/types.js';
import { LAB, cat, feed, fromSteps, sha, splitInvariant, text, utf8, type Script } from './harness.js';

const make = (ev: InspectEvents) => new FastTrackInspector(ev);
const HASH = '9c1e0c03f1a38ba838feaf4b8ac0d560b43bc148';
const body = prngBytes(11, 2600, 'kazaa-part');

/** A KaZaA 2.x 206 reply with meta tags, as in captured traffic (mldonkey's fasttrack notes). */
const kazaaReply = (tags: string) =>
  cat(
    text(
      'HTTP/1.1 206 Partial Content\r\n' +
        `Content-Range: bytes 0-${body.length - 1}/6128453\r\nContent-Length: ${body.length}\r\nAccept-Ranges: bytes\r\n` +
        'Server: KazaaClient Nov  3 2002 20:29:03\r\nConnection: close\r\n' +
        'X-Kazaa-Username: defaultuser\r\nX-Kazaa-Network: KaZaA\r\nX-Kazaa-IP: 212.8.74.24:1214\r\n' +
        'X-Kazaa-SupernodeIP: 193.204.34.214:2093\r\n',
    ),
    utf8(tags),
    text('Content-Type: audio/mpeg\r\n\r\n'),
    body,
  );
const request = (target: string) =>
  text(`GET ${target} HTTP/1.1\r\nHost: 62.175.4.76:2798\r\nUserAgent: KazaaClient Nov  3 2002 20:29:03\r\nX-Kazaa-Network: KaZaA\r\nRange: bytes=0-262143\r\n\r\n`);

describe('FastTrack transfers', () => {
  it('lab session: /.hash= names no file; the UUHash is kept as nameSource', () => {
    const script = fromSteps(FASTTRACK[0].build(LAB));
    const hash = hex(prngBytes(LAB.seed, 20, 'kazaa-uuhash'));
    const file = prngBytes(LAB.seed, 4096, 'kazaa-body');
    const { events, rec } = splitInvariant(make, script);
    expect(events).toEqual([
      { t: 'start', dir: 1, id: 1, info: { name: null, size: 4096, nameSource: `uuhash:${hash}` } },
      { t: 'data', id: 1, len: 4096, sha256: sha(file) },
      { t: 'end', id: 1, complete: true },
    ]);
    expect(sha(rec.file(1))).toBe(sha(file));
    expect(feed((ev) => fasttrack.inspect!(ev), script).events()).toEqual(events);
  });

  it('X-KazaaTag: filename tag 2 names the file, title tag 4 is reported, hash tag 3 ignored', () => {
    const tags =
      'X-KazaaTag: 4=A solas con mi corazón\r\nX-KazaaTag: 6=Rosa\r\nX-KazaaTag: 1=2002\r\n' +
      'X-KazaaTag: 2=Rosa - A solas.mp3\r\nX-KazaaTag: 5=386\r\nX-KazaaTag: 3==qyWzRb1Qvnk4mtaBytIM1iHQuK8=\r\n';
    const script: Script = [
      [0, request(`FastTrack://62.175.4.76:2798/.hash=${HASH}`)],
      [1, kazaaReply(tags)],
    ];
    const { events } = splitInvariant(make, script);
    expect(events).toEqual([
      { t: 'name', dir: 1, name: 'A solas con mi corazón', source: 'kazaa-title' },
      { t: 'name', dir: 1, name: 'Rosa - A solas.mp3', source: 'kazaa-tag' },
      { t: 'start', dir: 1, id: 1, info: { name: 'Rosa - A solas.mp3', size: body.length, nameSource: 'kazaa-tag' } },
      { t: 'data', id: 1, len: body.length, sha256: sha(body) },
      { t: 'end', id: 1, complete: true },
    ]);
  });

  it('title only (what KaZaA sends): the file stays unnamed, identified by its UUHash', () => {
    const ev = feed(make, [[0, request(`/.hash=${HASH.toUpperCase()}`)], [1, kazaaReply('X-KazaaTag: 4=Fighter\r\nX-KazaaTag: 21=128\r\n')]]).events();
    expect(ev.slice(0, 2)).toEqual([
      { t: 'name', dir: 1, name: 'Fighter', source: 'kazaa-title' },
      { t: 'start', dir: 1, id: 1, info: { name: null, size: body.length, nameSource: `uuhash:${HASH}` } },
    ]);
  });

  it('GIVE push: the firewalled peer (dir 0) connects, dir 1 requests, dir 0 serves', () => {
    const script: Script = [
      [0, text('GIVE 3735928559\r\n')],
      [1, request(`/.hash=${HASH}`)],
      [0, kazaaReply('X-KazaaTag: 2=song.mp3\r\n')],
    ];
    const { events } = splitInvariant(make, script);
    expect(events).toEqual([
      { t: 'name', dir: 0, name: 'song.mp3', source: 'kazaa-tag' },
      { t: 'start', dir: 0, id: 1, info: { name: 'song.mp3', size: body.length, nameSource: 'kazaa-tag' } },
      { t: 'data', id: 1, len: body.length, sha256: sha(body) },
      { t: 'end', id: 1, complete: true },
    ]);
  });

  it('503 busy replies without a body produce no file; a bad reply is a weird', () => {
    const busy = feed(make, [
      [0, request(`/.hash=${HASH}`)],
      [1, text('HTTP/1.0 503 Service Unavailable\r\nRetry-After: 284\r\nX-Kazaa-Username: johnl\r\n\r\n')],
    ]).events();
    expect(busy).toEqual([]);
    const bad = feed(make, [[0, request(`/.hash=${HASH}`)], [1, text('HTTP/1.1 200 OK\r\nContent-Length: 0x10\r\n\r\n')]]).events();
    expect(bad).toEqual([{ t: 'weird', name: 'http_bad_content_length' }]);
  });
});
