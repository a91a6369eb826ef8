/**
 * eMule protocol obfuscation (src/apps/edonkey/obfuscation.ts) and the eDonkey endpoint learner
 * (src/apps/edonkey/learner.ts):
 *  - RC4 against RFC 6229's test vector;
 *  - obfuscated client-to-client openings built from the handshake's documented structure
 *    (eMule's EncryptedStreamSocket) over the whole range of padding lengths: decrypted and
 *    confirmed when the responder's user hash is known, recognised by structure otherwise (where
 *    they cannot be BitTorrent MSE/PE), never confused with plaintext eDonkey, TLS, SSH or random
 *    bulk data;
 *  - a confirmed detection beats an earlier dissector that still needs more;
 *  - the learner on source answers (plain, obfuscated, packed), server lists, hellos and Kad
 *    contacts, with input split at every byte; broken framing counted, obfuscated streams ignored;
 *  - end to end in replay: a plaintext source answer teaches the seeder's endpoint and user hash;
 *    the obfuscated connection to it is eDonkey (at its SYN; on another port, by decryption).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { deflateSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { edonkey } from '../../src/apps/edonkey/detect.js';
import { decryptsWith, MAGIC_REQUESTER, MAGIC_SERVER, obfuscationState, Rc4, streamKey } from '../../src/apps/edonkey/obfuscation.js';
import { edonkeyLearner } from '../../src/apps/edonkey/learner.js';
import { APPS } from '../../src/apps/registry.js';
import { concat, le16, le32, prngBytes } from '../../src/apps/bytes.js';
import type { EndpointHint } from '../../src/apps/types.js';
import { loadConfig } from '../../src/config/load.js';
import { replayFiles } from '../../src/runtime/replay.js';
import { EndpointTable } from '../../src/flow/endpoints.js';
import { hx, run, type Pkt } from './ctx.js';
import { pcapOf, tcpSession } from '../helpers/packets.js';

const rnd = (seed: number, n: number) => prngBytes(seed, n, 'emule-obfuscation');
const MAGIC = le32(0x835e6fc4);

/** An eDonkey TCP message: protocol 0xE3, length (opcode + payload) LE, opcode, payload. */
function msg(op: number, payload: Uint8Array, proto = 0xe3): Uint8Array {
  return concat(Uint8Array.of(proto), le32(payload.length + 1), Uint8Array.of(op), payload);
}

/** Tags of a hello: CT_NAME (string) and CT_VERSION (uint32), in the eDonkey tag encoding. */
const TAGS = concat(le32(2), Uint8Array.of(0x02), le16(1), Uint8Array.of(0x01), le16(10), new TextEncoder().encode('aMule user'), Uint8Array.of(0x03), le16(1), Uint8Array.of(0x11), le32(0x3c));

/** OP_HELLO (client → client) or OP_HELLOANSWER: user hash, client id, port, tags, no server. */
function hello(hash: Uint8Array, port: number, answer = false): Uint8Array {
  const body = concat(hash, le32(0x0a000001), le16(port), TAGS, le32(0), le16(0));
  return answer ? msg(0x4c, body) : msg(0x01, concat(Uint8Array.of(16), body));
}

/** The four flights of an obfuscated client-to-client opening (EncryptedStreamSocket). */
function obfuscatedOpening(hash: Uint8Array, seed: number, padA: number, padB: number): Uint8Array[] {
  const keyPart = rnd(seed, 4);
  let marker = rnd(seed + 1, 1)[0];
  if (marker === 0xe3 || marker === 0xc5 || marker === 0xd4) marker = 0x01;
  const a = streamKey(hash, MAGIC_REQUESTER, keyPart);
  const b = streamKey(hash, MAGIC_SERVER, keyPart);
  const a1 = concat(Uint8Array.of(marker), keyPart, a.crypt(concat(MAGIC, Uint8Array.of(0, 0, padA), rnd(seed + 2, padA))));
  const b1 = b.crypt(concat(MAGIC, Uint8Array.of(0, padB), rnd(seed + 3, padB)));
  const a2 = a.crypt(hello(rnd(seed + 4, 16), 4662));
  const b2 = b.crypt(hello(hash, 4662, true));
  return [a1, b1, a2, b2];
}

const asPkts = (flights: Uint8Array[]): Pkt[] => flights.map((f, i) => [(i % 2) as 0 | 1, f]);

describe('RC4 and the key check', () => {
  it('produces RFC 6229 key stream (40-bit key 0x0102030405, offset 0)', () => {
    const ks = new Rc4(hx('0102030405')).crypt(new Uint8Array(16));
    expect(Buffer.from(ks).toString('hex')).toBe('b2396305f03dc027ccc3524a0a1118a8');
  });

  it('skip(n) advances the key stream by n bytes', () => {
    const long = new Rc4(hx('0102030405')).crypt(new Uint8Array(1040));
    const r = new Rc4(hx('0102030405'));
    r.skip(1024);
    expect(r.crypt(new Uint8Array(16))).toEqual(long.subarray(1024));
  });

  it('decrypts the magic value with the responder hash only', () => {
    const hash = rnd(1, 16);
    const [a1] = obfuscatedOpening(hash, 10, 40, 0);
    expect(decryptsWith(a1, hash)).toBe(true);
    expect(decryptsWith(a1, rnd(2, 16))).toBe(false);
    expect(decryptsWith(a1.subarray(0, 8), hash)).toBe(false);
    expect(decryptsWith(concat(Uint8Array.of(0xe3), a1.subarray(1)), hash)).toBe(false);
  });
});

describe('eDonkey dissector on obfuscated openings', () => {
  it('confirms at the first packet when the user hash is known, whatever the padding', () => {
    const hash = rnd(3, 16);
    for (const pad of [0, 1, 84, 200, 255]) {
      const r = run(edonkey, 'tcp', asPkts(obfuscatedOpening(hash, 100 + pad, pad, pad)), { peerKeys: [rnd(4, 16), hash] });
      expect(r, `padding ${pad}`).toEqual(['confirmed']);
    }
  });

  it('recognises them by structure at the fourth flight, every padding length', () => {
    const hash = rnd(5, 16);
    for (let pad = 0; pad <= 255; pad += 15) {
      const r = run(edonkey, 'tcp', asPkts(obfuscatedOpening(hash, 200 + pad, pad, 255 - pad)));
      expect(r, `padding ${pad}`).toEqual(['need-more', 'need-more', 'need-more', 'detected']);
    }
  });

  it('is decided by the full classifier: eDonkey where MSE/PE cannot fit, by the fifth flight where it can; ties broken by port', () => {
    const hash = rnd(6, 16);
    // Sizes that cannot be MSE/PE (first flight under 96 bytes): eDonkey by structure.
    const small = replayOf([{ flights: obfuscatedOpening(hash, 300, 20, 30), port: 4662 }], 'endpoints: {size: 0}\n');
    expect(small[0]).toMatchObject({ app: 'edonkey', method: 'structure' });
    // Sizes MSE/PE fits too: the initiator's fifth flight decides (BitTorrent's 68-byte handshake,
    // or further eDonkey messages); the eMule opening's fifth flight is no handshake.
    const big = obfuscatedOpening(hash, 301, 200, 200);
    const more = rnd(54, 158);
    expect(replayOf([{ flights: [...big, more], port: 40001 }], 'endpoints: {size: 0}\n')[0]).toMatchObject({ app: 'edonkey', method: 'structure' });
    const libtorrent = [rnd(55, 96 + 100), rnd(56, 96 + 90), rnd(57, 56 + 40), rnd(58, 14 + 30), rnd(59, 68), rnd(60, 286)];
    expect(replayOf([{ flights: libtorrent, port: 40001 }], 'endpoints: {size: 0}\n')[0]).toMatchObject({ app: 'bittorrent', method: 'structure' });
    // A responder port of eDonkey's (and not BitTorrent's) breaks a remaining tie.
    const tie = replayOf([{ flights: [...big, rnd(61, 68)], port: 4662 }], 'endpoints: {size: 0}\n')[0];
    expect(tie).toMatchObject({ app: 'edonkey', method: 'structure' });
    expect(String(tie.reason)).toContain('port 4662');
    // a real MSE/PE opening on eDonkey's port stays BitTorrent: its third flight is no eMule fit
    const mse = [rnd(50, 96 + 300), rnd(51, 96 + 300), rnd(52, 56 + 20), rnd(53, 14 + 68)];
    expect(replayOf([{ flights: mse, port: 4662 }], 'endpoints: {size: 0}\n')[0]).toMatchObject({ app: 'bittorrent', method: 'structure' });
  });

  it('leaves other openings alone', () => {
    const plain = run(edonkey, 'tcp', [[0, hello(rnd(7, 16), 4662)], [1, hello(rnd(8, 16), 4662, true)]]);
    expect(plain.at(-1)).toBe('detected');
    const tls = concat(hx('160301 00c8 01 0000c4 0303'), rnd(9, 195));
    expect(run(edonkey, 'tcp', [[0, tls], [1, rnd(10, 90)], [0, rnd(11, 80)], [1, rnd(12, 60)]]).at(-1)).toBe('excluded');
    const ssh = new TextEncoder().encode('SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n');
    expect(run(edonkey, 'tcp', [[0, ssh], [1, ssh], [0, rnd(13, 1000)], [1, rnd(14, 1000)]]).at(-1)).toBe('excluded');
    // random bulk: a first flight longer than any obfuscated opening
    expect(run(edonkey, 'tcp', [[0, rnd(15, 1400)], [1, rnd(16, 1400)]]).at(-1)).toBe('excluded');
    // an answer too long for the first flight's handshake, a third flight too short
    expect(obfuscationState([{ dir: 0, bytes: 40 }, { dir: 1, bytes: 300 }, { dir: 0, bytes: 60 }], [rnd(17, 100), rnd(18, 300)])).toBe('no');
    expect(obfuscationState([{ dir: 0, bytes: 40 }, { dir: 1, bytes: 30 }, { dir: 0, bytes: 20 }, { dir: 1, bytes: 40 }], [rnd(19, 60), rnd(20, 70)])).toBe('no');
    // text instead of ciphertext
    const text = new TextEncoder().encode('hello there, this is a plain text protocol line\r\n'.repeat(3));
    expect(obfuscationState([{ dir: 0, bytes: 40 }, { dir: 1, bytes: 30 }, { dir: 0, bytes: 110 }, { dir: 1, bytes: 40 }], [text, rnd(21, 70)])).toBe('no');
  });
});

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'p2pgw-ed2k-obf-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
let seq = 0;

interface Conn {
  flights: Uint8Array[];
  port: number;
  /** Client and server addresses (defaults 10.0.0.2 → 10.0.1.9). */
  c?: string;
  s?: string;
}

/** Replays TCP connections (one pcap, in order) and returns the flow records. */
function replayOf(conns: Conn[], yaml = ''): Record<string, unknown>[] {
  const pkts = conns.flatMap((k, i) => tcpSession(k.c ?? '10.0.0.2', 40000 + i, k.s ?? '10.0.1.9', k.port, k.flights.map((f, j) => ({ dir: (j % 2) as 0 | 1, data: f }))));
  const file = path.join(tmp, `c${seq++}.pcap`);
  fs.writeFileSync(file, pcapOf(pkts));
  const cfg = path.join(tmp, `c${seq++}.yaml`);
  fs.writeFileSync(cfg, yaml || '{}\n');
  const { records } = replayFiles([file], { config: loadConfig(cfg, APPS.map((a) => a.name)) });
  return records.filter((r) => r.l4 === 'tcp') as unknown as Record<string, unknown>[];
}

/** OP_FOUNDSOURCES_OBFU from a server: one source with crypt options 0x83 and its user hash. */
function foundSourcesObfu(ip: number[], port: number, hash: Uint8Array): Uint8Array {
  return msg(0x44, concat(rnd(30, 16), Uint8Array.of(2), Uint8Array.from(ip), le16(port), Uint8Array.of(0x83), hash, le32(5), le16(4662), Uint8Array.of(0)));
}

describe('eDonkey endpoint learner', () => {
  const feedSplit = (bytes: Uint8Array, dir: 0 | 1 = 1) => {
    // every split point, one byte at a time at the split
    const results: EndpointHint[][] = [];
    for (const cut of [0, 1, 5, 6, 7, 23, bytes.length - 1]) {
      const l = edonkeyLearner({ l4: 'tcp', ipv6: false });
      const out: EndpointHint[] = [];
      l.data(dir, bytes.subarray(0, cut), out);
      for (let i = cut; i < bytes.length; i++) l.data(dir, bytes.subarray(i, i + 1), out);
      results.push(out);
    }
    return results;
  };

  it('reads obfuscated source answers (high ids with their user hash; low ids skipped), split at any byte', () => {
    const hash = rnd(31, 16);
    const stream = concat(msg(0x34, le32(7).subarray(0, 4)), foundSourcesObfu([10, 0, 1, 9], 4711, hash));
    for (const out of feedSplit(stream)) {
      expect(out).toEqual([{ ip: '10.0.1.9', port: 4711, l4: 'tcp', source: 'ed2k-server', key: hash }]);
    }
  });

  it('reads plain and packed source answers, server lists and hellos', () => {
    const plain = msg(0x42, concat(rnd(32, 16), Uint8Array.of(1), Uint8Array.of(192, 0, 2, 7), le16(4662)));
    const packed = msg(0x42, deflateSync(concat(rnd(33, 16), Uint8Array.of(1), Uint8Array.of(192, 0, 2, 8), le16(4663))), 0xd4);
    const servers = msg(0x32, concat(Uint8Array.of(1), Uint8Array.of(198, 51, 100, 1), le16(4661)));
    const h = rnd(34, 16);
    const l = edonkeyLearner({ l4: 'tcp', ipv6: false });
    const out: EndpointHint[] = [];
    l.data(1, concat(plain, packed, servers), out);
    l.data(0, hello(h, 4672), out);
    expect(out).toEqual([
      { ip: '192.0.2.7', port: 4662, l4: 'tcp', source: 'ed2k-server' },
      { ip: '192.0.2.8', port: 4663, l4: 'tcp', source: 'ed2k-server' },
      { ip: '198.51.100.1', port: 4661, l4: 'tcp', source: 'ed2k-serverlist' },
      { ip: null, port: 4672, l4: 'tcp', source: 'listen-port', key: h },
    ]);
  });

  it('reads Kad 2 contacts (address little-endian) and counts broken framing, not obfuscated streams', () => {
    const contact = concat(rnd(35, 16), Uint8Array.of(9, 1, 0, 10), le16(4672), le16(4662), Uint8Array.of(8));
    const res = concat(Uint8Array.of(0xe4, 0x29), rnd(36, 16), Uint8Array.of(1), contact);
    const out: EndpointHint[] = [];
    edonkeyLearner({ l4: 'udp', ipv6: false }).data(1, res, out);
    expect(out).toEqual([
      { ip: '10.0.1.9', port: 4672, l4: 'udp', source: 'kad' },
      { ip: '10.0.1.9', port: 4662, l4: 'tcp', source: 'kad' },
    ]);
    const weirds: string[] = [];
    const l = edonkeyLearner({ l4: 'tcp', ipv6: false, weird: (w) => weirds.push(w) });
    l.data(0, obfuscatedOpening(rnd(37, 16), 40, 10, 10)[0], []);
    expect(weirds).toEqual([]);
    l.data(1, concat(hello(rnd(38, 16), 1, true), Uint8Array.of(0x00, 1, 2, 3, 4, 5)), []);
    expect(weirds).toEqual(['ed2k_bad_framing']);
  });

  it('keeps the user hash with the endpoint and offers it for the address', () => {
    const t = new EndpointTable({ size: 8, ttlSec: 60, sources: ['ed2k-server', 'flow'] });
    const k = rnd(39, 16);
    t.learn('10.0.1.9', 4711, 'tcp', 'edonkey', 'ed2k-server', 0, k);
    t.learn('10.0.1.9', 4711, 'tcp', 'edonkey', 'flow', 1);
    expect(t.keysFor('10.0.1.9', 2)).toEqual([k]);
    expect(t.keysFor('10.0.1.8', 2)).toEqual([]);
    expect(t.keysFor('10.0.1.9', 100)).toEqual([]);
  });
});

describe('obfuscated eDonkey end to end (replay)', () => {
  it('a source answer seen in plaintext makes the obfuscated peer connection eDonkey', () => {
    const hash = rnd(40, 16);
    const server: Conn = { flights: [msg(0x01, rnd(41, 30)), foundSourcesObfu([10, 0, 1, 9], 4711, hash)], port: 4661, s: '10.0.1.1' };
    // To the advertised port: known at its SYN.
    const atSyn = replayOf([server, { flights: obfuscatedOpening(hash, 400, 200, 200), port: 4711 }]);
    expect(atSyn[1]).toMatchObject({ app: 'edonkey', method: 'endpoint', learned_from: 'ed2k-server', classified_after_pkts: 1 });
    // To another port of the same client (sizes where MSE/PE could match too): decrypted.
    const other = replayOf([server, { flights: obfuscatedOpening(hash, 401, 200, 200), port: 5000 }]);
    expect(other[1]).toMatchObject({ app: 'edonkey', method: 'decryption' });
  });
});
