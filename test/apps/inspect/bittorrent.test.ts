import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { bittorrent } from '../../../src/apps/bittorrent/detect.js';
import { BitTorrentMetaInspector, bdecode } from '../../../src/apps/bittorrent/inspect.js';
import { BITTORRENT, btHandshake, btIds, btMessage } from '../../../src/apps/bittorrent/session.js';
import { be32, bencode, prngBytes, u8 } from '../../../src/apps/bytes.js';
import type { InspectEvents } from '../../../src/apps/types.js';
import { LAB, cat, feed, fromSteps, splitInvariant, text, utf8, type Script } from './harness.js';

const make = (ev: InspectEvents) => new BitTorrentMetaInspector(ev);
const PIECE = 16384;
const NAME = 'Big Buck Bunny – ü 1080p.mkv';

/** A BEP 3 info dictionary with `pieces` SHA-1 hashes (size grows by 20 per piece). */
const infoDict = (pieces: number, name = NAME) =>
  bencode({ length: 12345678, name: utf8(name), 'piece length': 262144, pieces: prngBytes(9, 20 * pieces, 'bt-pieces') });

/** BEP 10 extended message. */
const ext = (id: number, dict: Parameters<typeof bencode>[0], tail: Uint8Array = new Uint8Array(0)) => btMessage(20, cat(u8(id), bencode(dict), tail));

/**
 * Leecher (dir 0) fetches the metadata from the seeder (dir 1): both handshakes (BEP 3), extension
 * handshakes (BEP 10: leecher wants ut_metadata as id 2, seeder as id 3), then BEP 9 requests
 * (sent with id 3) and data pieces (sent with id 2), interleaved with ordinary messages.
 */
function metadataSession(info: Uint8Array, opts: { hash?: Uint8Array; size?: number } = {}): Script {
  const { clientId, serverId } = btIds(1);
  const hash = opts.hash ?? new Uint8Array(createHash('sha1').update(info).digest());
  const n = Math.ceil(info.length / PIECE);
  const script: [0 | 1, Uint8Array][] = [
    [0, cat(btHandshake(hash, clientId), ext(0, { m: { ut_metadata: 2, ut_pex: 1 }, v: 'Transmission 2.94' }))],
    [1, cat(btHandshake(hash, serverId), ext(0, { m: { ut_metadata: 3 }, metadata_size: opts.size ?? info.length, reqq: 250 }), btMessage(5, u8(0xff, 0xf0)))],
  ];
  for (let i = 0; i < n; i++) {
    script.push([0, cat(ext(3, { msg_type: 0, piece: i }), btMessage(0), be32(0))]);
    script.push([1, cat(ext(2, { msg_type: 1, piece: i, total_size: info.length }, info.subarray(i * PIECE, (i + 1) * PIECE)), btMessage(4, be32(i)))]);
  }
  script.push([0, btMessage(2)]);
  return script;
}

describe('BitTorrent metadata inspector', () => {
  it('one-piece metadata: name reported once the info dictionary is complete (every split)', () => {
    const info = infoDict(60);
    expect(info.length).toBeLessThan(PIECE);
    const { events } = splitInvariant(make, metadataSession(info));
    expect(events).toEqual([{ t: 'name', dir: 1, name: NAME, source: 'bt-metadata' }]);
  });

  it('three-piece metadata, pieces verified against the info_hash', () => {
    const info = infoDict(2000);
    expect(Math.ceil(info.length / PIECE)).toBe(3);
    const { events } = splitInvariant(make, metadataSession(info), { stride: 97, runs: 60 });
    expect(events).toEqual([{ t: 'name', dir: 1, name: NAME, source: 'bt-metadata' }]);
    expect(feed((ev) => bittorrent.inspect!(ev), metadataSession(info)).events()).toEqual(events);
  });

  it('the lab peer-wire session (no extension messages) reports nothing', () => {
    const script = fromSteps(BITTORRENT[0].build(LAB));
    expect(splitInvariant(make, script, { stride: 53, runs: 40 }).events).toEqual([]);
  });

  it('streams that are not plain peer wire are left alone', () => {
    expect(feed(make, [[0, prngBytes(1, 600, 'mse')], [1, prngBytes(2, 600, 'mse')]]).events()).toEqual([]);
    expect(feed(make, fromSteps(BITTORRENT[3].build(LAB))).events()).toEqual([]);
    // Handshakes without the BEP 10 bit: extension messages are not looked for.
    const info = infoDict(10);
    const noExt = metadataSession(info).map(([d, b]) => {
      const c = b.slice();
      if (c[0] === 0x13) c[25] = 0;
      return [d, c] as const;
    });
    expect(feed(make, noExt).events()).toEqual([]);
    expect(feed(make, metadataSession(info)).events()).toEqual([{ t: 'name', dir: 1, name: NAME, source: 'bt-metadata' }]);
  });

  it('hash mismatch, oversized metadata, bad pieces and oversized messages are weirds', () => {
    const info = infoDict(60);
    expect(feed(make, metadataSession(info, { hash: new Uint8Array(20) })).events()).toEqual([{ t: 'weird', name: 'bt_metadata_hash_mismatch' }]);
    expect(feed(make, metadataSession(info, { size: 2 * 1024 * 1024 })).events()).toEqual([{ t: 'weird', name: 'bt_metadata_too_large' }]);
    expect(feed(make, metadataSession(info, { size: info.length + 5 })).events()).toEqual([{ t: 'weird', name: 'bt_bad_metadata_piece' }]);
    const hs = btHandshake(new Uint8Array(20), btIds(1).clientId);
    expect(feed(make, [[0, cat(hs, be32(70_000), u8(20))]]).events()).toEqual([{ t: 'weird', name: 'bt_extended_too_long' }]);
    expect(feed(make, [[0, cat(hs, be32(0x7fffffff))]]).events()).toEqual([{ t: 'weird', name: 'bt_message_too_long' }]);
    expect(feed(make, [[0, cat(hs, be32(4), u8(20, 0), text('dx'))]]).events()).toEqual([{ t: 'weird', name: 'bt_bad_extended' }]);
    const notInfo = bencode({ foo: 1 });
    const s = metadataSession(notInfo);
    expect(feed(make, s).events()).toEqual([{ t: 'weird', name: 'bt_bad_metadata' }]);
  });

  it('bdecode is bounded and strict about structure', () => {
    expect(bdecode(text('d1:ai1e1:bl1:xee'), 0)?.end).toBe(16);
    expect(bdecode(text('i12'), 0)).toBeNull();
    expect(bdecode(text('5:abc'), 0)).toBeNull();
    expect(bdecode(text('l'.repeat(40) + 'e'.repeat(40)), 0)).toBeNull();
    expect(bdecode(text('d1:a'), 0)).toBeNull();
  });

  it('never throws on random input after a handshake', async () => {
    const fc = (await import('fast-check')).default;
    const hs = btHandshake(new Uint8Array(20), btIds(1).clientId);
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom(0, 1), fc.uint8Array({ maxLength: 120 })), { maxLength: 8 }), (parts) => {
        feed(make, [[0, hs], [1, hs], ...parts.map(([d, b]) => [d as 0 | 1, b] as const)]);
      }),
      { numRuns: 300 },
    );
  });
});
