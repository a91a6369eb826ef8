/**
 * BitTorrent MSE/PE recognised by its structure (src/apps/bittorrent/mse.ts):
 *  - traffic recorded from the real client (libtorrent-rasterbar 2.0.8, Debian's python3-libtorrent,
 *    test/apps/fixtures/libtorrent-mse.pcap: the first 16 packets of 10 connections — RC4 forced,
 *    the default policy, plaintext selected after MSE, and plain BitTorrent) is labelled BitTorrent,
 *    MSE by structure and the plain one by its signature;
 *  - the four-flight rule on synthetic openings, including what must not match (a TLS
 *    ClientHello, text, random bulk data, a too-short third flight);
 *  - the plaintext handshake behind an MSE handshake that selected plaintext.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { APPS } from '../../src/apps/registry.js';
import { loadConfig } from '../../src/config/load.js';
import { bittorrent, handshakeAfterMse } from '../../src/apps/bittorrent/detect.js';
import { run } from './ctx.js';
import { mseState } from '../../src/apps/bittorrent/mse.js';
import { looksRandom } from '../../src/apps/util.js';
import { ascii, concat, prngBytes } from '../../src/apps/bytes.js';
import type { SearchContext } from '../../src/apps/types.js';
import type { Flight } from '../../src/core/types.js';
import { replayFiles } from '../../src/runtime/replay.js';
import { ROOT } from '../helpers/paths.js';

const CAPTURE = path.join(ROOT, 'test', 'apps', 'fixtures', 'libtorrent-mse.pcap');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'p2pgw-mse-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
/** The effective config of a YAML text. */
function configFrom(yaml: string) {
  const f = path.join(tmp, 'c.yaml');
  fs.writeFileSync(f, yaml);
  return loadConfig(f, APPS.map((a) => a.name));
}
const rnd = (seed: number, n: number) => prngBytes(seed, n, 'mse');

/** Flights and stream prefixes of an opening given as [dir, bytes] flights. */
function opening(parts: [0 | 1, Uint8Array][]): { flights: Flight[]; prefix: [Uint8Array, Uint8Array] } {
  const flights = parts.map(([dir, b]) => ({ dir, bytes: b.length }));
  const prefix: [Uint8Array, Uint8Array] = [concat(...parts.filter((p) => p[0] === 0).map((p) => p[1])), concat(...parts.filter((p) => p[0] === 1).map((p) => p[1]))];
  return { flights, prefix };
}

/** Every state the detector reports as the opening arrives flight by flight. */
function states(parts: [0 | 1, Uint8Array][]): string[] {
  return parts.map((_, i) => {
    const o = opening(parts.slice(0, i + 1));
    return mseState(o.flights, o.prefix);
  });
}

describe('MSE/PE by structure', () => {
  it('labels every connection of the real client BitTorrent: MSE by structure, plain by signature', () => {
    // Endpoint knowledge off: each connection is judged on its own bytes.
    const { records } = replayFiles([CAPTURE], { config: configFrom('endpoints: {size: 0}\n') });
    const tcp = records.filter((r) => r.l4 === 'tcp');
    expect(tcp).toHaveLength(10);
    expect(tcp.every((r) => r.app === 'bittorrent'), JSON.stringify(tcp.map((r) => [r.app, r.reason]))).toBe(true);
    expect(tcp.filter((r) => r.method === 'structure')).toHaveLength(9);
    expect(tcp.filter((r) => r.method === 'signature')).toHaveLength(1);
    // decided at the responder's second flight: SYN, SYN/ACK, ACK and four data packets at most (+ ACKs)
    for (const r of tcp.filter((x) => x.method === 'structure')) expect(r.classified_after_pkts!).toBeLessThanOrEqual(10);
  });

  it('with endpoint knowledge on, later connections to the same peer are known at their SYN', () => {
    const tcp = replayFiles([CAPTURE]).records.filter((r) => r.l4 === 'tcp');
    expect(tcp[0]).toMatchObject({ app: 'bittorrent', method: 'structure' });
    const later = tcp.slice(1);
    expect(later.every((r) => r.app === 'bittorrent' && r.method === 'endpoint' && r.learned_from === 'flow' && r.classified_after_pkts === 1), JSON.stringify(later.map((r) => [r.method, r.learned_from, r.classified_after_pkts]))).toBe(true);
  });

  it('follows the four flights: need more until the fourth reaches 14 bytes', () => {
    const parts: [0 | 1, Uint8Array][] = [[0, rnd(1, 96 + 200)], [1, rnd(2, 96 + 17)], [0, rnd(3, 56 + 300)], [1, rnd(4, 14 + 90)]];
    expect(states(parts)).toEqual(['need-more', 'need-more', 'need-more', 'mse']);
    // the smallest handshake (no padding) and the largest
    expect(states([[0, rnd(5, 96)], [1, rnd(6, 96)], [0, rnd(7, 56)], [1, rnd(8, 14)]]).at(-1)).toBe('mse');
    expect(states([[0, rnd(9, 608)], [1, rnd(10, 608)], [0, rnd(11, 568)], [1, rnd(12, 526)]]).at(-1)).toBe('mse');
  });

  it('rejects what does not follow the structure', () => {
    const ok3 = rnd(13, 100);
    const ok4 = rnd(14, 40);
    // first flight too long (bulk random data), too short, or text
    expect(states([[0, rnd(15, 4000)]])).toEqual(['no']);
    expect(states([[0, rnd(16, 80)], [1, rnd(17, 200)]]).at(-1)).toBe('no');
    expect(states([[0, ascii('GET / HTTP/1.1\r\nHost: example.com\r\n'.repeat(6))], [1, rnd(18, 200)]]).at(-1)).toBe('no');
    // a TLS ClientHello of the right size: excluded by its record header
    const hello = concat(Uint8Array.from([0x16, 0x03, 0x01, 0x01, 0x20]), rnd(19, 290));
    expect(states([[0, hello], [1, rnd(20, 300)], [0, ok3], [1, ok4]]).at(-1)).toBe('no');
    // second flight too long or not random, third flight too short
    expect(states([[0, rnd(21, 200)], [1, rnd(22, 1400)]]).at(-1)).toBe('no');
    expect(states([[0, rnd(23, 200)], [1, new Uint8Array(200)], [0, ok3]]).at(-1)).toBe('no');
    expect(states([[0, rnd(24, 200)], [1, rnd(25, 200)], [0, rnd(26, 40)], [1, ok4]]).at(-1)).toBe('no');
    // the responder speaks first
    expect(states([[1, rnd(27, 200)]])).toEqual(['no']);
    // a random exchange with bulk flights (a random-bytes TCP stream that ignores MSE's structure)
    expect(states([[0, rnd(28, 300)], [1, rnd(29, 300)], [0, rnd(30, 64 * 1024)]]).at(-1)).toBe('no');
  });

  it('judges randomness by distinct byte values', () => {
    for (let seed = 0; seed < 200; seed++) expect(looksRandom(rnd(100 + seed, 96)), `seed ${seed}`).toBe(true);
    expect(looksRandom(ascii('The quick brown fox jumps over the lazy dog. '.repeat(4)))).toBe(false);
    expect(looksRandom(new Uint8Array(300))).toBe(false);
    expect(looksRandom(rnd(1, 20))).toBe(false); // too few bytes to judge
  });

  it('finds the plaintext handshake behind an MSE handshake that selected plaintext', () => {
    const hs = concat(Uint8Array.from([0x13]), ascii('BitTorrent protocol'), new Uint8Array(48));
    const ctx = (resp: Uint8Array, init: Uint8Array = rnd(40, 200)) => ({ prefix: [init, resp] }) as unknown as SearchContext;
    expect(handshakeAfterMse(ctx(concat(rnd(41, 96 + 120), rnd(42, 14 + 300), hs)))).toBe(true); // offset 530
    expect(handshakeAfterMse(ctx(concat(rnd(43, 96 + 512), rnd(44, 14 + 512), hs)))).toBe(true); // offset 1134, the last possible
    expect(handshakeAfterMse(ctx(concat(rnd(45, 96 + 512), rnd(46, 14 + 513), hs)))).toBe(false); // past it
    expect(handshakeAfterMse(ctx(concat(ascii('x'.repeat(200)), hs)))).toBe(false); // behind text, not behind a key
  });

  it('an opening short enough for eMule obfuscation too waits for the 68-byte handshake flight', () => {
    const short: [0 | 1, Uint8Array][] = [[0, rnd(40, 96 + 50)], [1, rnd(41, 96 + 40)], [0, rnd(42, 56 + 30)], [1, rnd(43, 14 + 20)]];
    expect(run(bittorrent, 'tcp', [...short, [0, rnd(44, 68)]])).toEqual(['need-more', 'need-more', 'need-more', 'need-more', 'detected']);
    expect(run(bittorrent, 'tcp', [...short, [0, rnd(45, 158)]]).at(-1)).toBe('excluded');
    expect(run(bittorrent, 'tcp', [...short, [0, rnd(46, 40)], [1, rnd(47, 40)]]).at(-1)).toBe('excluded');
    // the Diffie-Hellman variant's sizes (eMule to a server) are ambiguous too
    const dh: [0 | 1, Uint8Array][] = [[0, rnd(48, 105)], [1, rnd(49, 300)], [0, rnd(50, 120)], [1, rnd(51, 40)]];
    expect(run(bittorrent, 'tcp', dh).at(-1)).toBe('need-more');
    // longer openings are decided at the fourth flight, as before
    expect(run(bittorrent, 'tcp', [[0, rnd(52, 96 + 300)], [1, rnd(53, 96 + 40)], [0, rnd(54, 56)], [1, rnd(55, 14)]]).at(-1)).toBe('detected');
  });
});
