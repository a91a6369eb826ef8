/**
 * `p2pgw profile`: per-application traffic profile. The expected numbers are computed here
 * independently: a small pcap/Ethernet/IP parser written for the test (no tshark, no project
 * decoder) reads every packet's IP length and 5-tuple; each packet is given the application of
 * the flow record (64 s idle replay) whose 5-tuple and time span hold it; bins, rates and means
 * are then recomputed by hand. A hand-checked flow set covers the approximate (flow-record) mode.
 */
import { describe, it, expect, afterAll } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { replayFiles } from '../../src/runtime/replay.js';
import { observeConfig } from '../../src/tools/analyze/input.js';
import { PROFILE_BINS, profileCaptures, profileRecords, binOf, UNCLASSIFIED } from '../../src/tools/profile.js';
import { profileMain } from '../../src/cli/profile.js';
import type { FlowRecord } from '../../src/observe/flowrecord.js';
import { capture } from '../helpers/paths.js';

const CAPS = ['gnutella.pcap', 'bittorrent.pcap'].map(capture);
const haveCaps = CAPS.every((f) => fs.existsSync(f));
if (!haveCaps) console.warn(`profile capture tests skipped: captures missing (${CAPS.join(', ')})`);

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'p2pgw-profile-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

interface Pkt {
  ts: number;
  l4: 'tcp' | 'udp';
  a: string;
  b: string;
  len: number;
}

/** Independent reader: classic little-endian pcap, Ethernet (optionally 802.1Q), IPv4/IPv6, TCP/UDP. */
function readPackets(file: string): { pkts: Pkt[]; first: number; last: number } {
  const b = fs.readFileSync(file);
  expect(b.readUInt32LE(0)).toBe(0xa1b2c3d4);
  expect(b.readUInt32LE(20) & 0xffff).toBe(1); // Ethernet
  const out: Pkt[] = [];
  let first = Infinity;
  let last = -Infinity;
  for (let off = 24; off + 16 <= b.length; ) {
    const ts = b.readUInt32LE(off) + b.readUInt32LE(off + 4) / 1e6;
    first = Math.min(first, ts);
    last = Math.max(last, ts);
    const incl = b.readUInt32LE(off + 8);
    const f = b.subarray(off + 16, off + 16 + incl);
    off += 16 + incl;
    if (f.length < 14 + 20) continue; // runt frame: no IP header
    let et = f.readUInt16BE(12);
    let ip = 14;
    if (et === 0x8100) {
      et = f.readUInt16BE(16);
      ip = 18;
    }
    let proto: number;
    let len: number;
    let src: string;
    let dst: string;
    let l4: number;
    if (et === 0x0800) {
      proto = f[ip + 9];
      len = f.readUInt16BE(ip + 2);
      src = [...f.subarray(ip + 12, ip + 16)].join('.');
      dst = [...f.subarray(ip + 16, ip + 20)].join('.');
      if ((f.readUInt16BE(ip + 6) & 0x1fff) !== 0) continue; // non-first fragment
      l4 = ip + (f[ip] & 15) * 4;
    } else if (et === 0x86dd) {
      proto = f[ip + 6];
      len = 40 + f.readUInt16BE(ip + 4);
      const v6 = (o: number): string => {
        const w = Array.from({ length: 8 }, (_, i) => f.readUInt16BE(o + 2 * i).toString(16));
        // RFC 5952: compress the longest run (≥ 2) of zero words.
        let best = [-1, 0];
        for (let i = 0; i < 8; ) {
          let j = i;
          while (j < 8 && w[j] === '0') j++;
          if (j - i > best[1]) best = [i, j - i];
          i = j === i ? i + 1 : j;
        }
        if (best[1] < 2) return w.join(':');
        return `${w.slice(0, best[0]).join(':')}::${w.slice(best[0] + best[1]).join(':')}`;
      };
      src = v6(ip + 8);
      dst = v6(ip + 24);
      l4 = ip + 40;
    } else continue;
    if ((proto !== 6 && proto !== 17) || l4 + 4 > f.length) continue;
    const sp = f.readUInt16BE(l4);
    const dp = f.readUInt16BE(l4 + 2);
    out.push({ ts, l4: proto === 6 ? 'tcp' : 'udp', a: `${src}|${sp}`, b: `${dst}|${dp}`, len });
  }
  return { pkts: out, first, last };
}

/** Expected per-app numbers: packets joined to the records by 5-tuple and time span. */
function expectedProfile(files: string[]) {
  const cfg = observeConfig();
  const per = new Map<string, { flows: number; packets: number; bytes: number; bins: number[] }>();
  const get = (app: string | null) => {
    const k = app ?? UNCLASSIFIED;
    let e = per.get(k);
    if (!e) per.set(k, (e = { flows: 0, packets: 0, bytes: 0, bins: new Array(PROFILE_BINS.length + 2).fill(0) }));
    return e;
  };
  let observed = 0;
  for (const file of files) {
    const recs = replayFiles([file], { config: cfg }).records;
    const byKey = new Map<string, FlowRecord[]>();
    for (const r of recs) {
      get(r.app).flows++;
      const a = `${r.src}|${r.sport}`;
      const b = `${r.dst}|${r.dport}`;
      const k = `${r.l4}|${a < b ? a + '|' + b : b + '|' + a}`;
      byKey.set(k, [...(byKey.get(k) ?? []), r]);
    }
    const { pkts, first, last } = readPackets(file);
    const seen = new Map<FlowRecord, number>();
    observed += last - first; // capture duration, as capinfos reports it
    for (const p of pkts) {
      const k = `${p.l4}|${p.a < p.b ? p.a + '|' + p.b : p.b + '|' + p.a}`;
      const r = byKey.get(k)?.find((x) => p.ts >= x.ts_start - 1e-6 && p.ts <= x.ts_end + 1e-6);
      if (!r) continue;
      seen.set(r, (seen.get(r) ?? 0) + 1);
      const e = get(r.app);
      e.packets++;
      e.bytes += p.len;
      // Bin by hand: 40·2^k .. 40·2^(k+1) − 1.
      const k2 = p.len < 40 ? -1 : Math.floor(Math.log2(p.len / 40));
      e.bins[k2 < 0 ? PROFILE_BINS.length : k2 >= PROFILE_BINS.length ? PROFILE_BINS.length + 1 : k2]++;
    }
    // Every packet of every record was found again by the independent parser.
    for (const r of recs) expect(seen.get(r) ?? 0).toBe(r.pkts_in + r.pkts_out);
  }
  return { per, observed };
}

describe('packet-size bins', () => {
  it('are the octave bins 40–79 … 2560–5119', () => {
    expect(PROFILE_BINS.map(([a, b]) => `${a}-${b}`)).toEqual(['40-79', '80-159', '160-319', '320-639', '640-1279', '1280-2559', '2560-5119']);
    expect([39, 40, 79, 80, 1500, 5119, 5120].map(binOf)).toEqual([-1, 0, 0, 1, 5, 6, 7]);
  });
});

describe.skipIf(!haveCaps)('exact profile of the shared captures', () => {
  it('matches packets re-read by an independent parser (gnutella.pcap + bittorrent.pcap)', () => {
    const got = profileCaptures(CAPS);
    const want = expectedProfile(CAPS);
    expect(got.source).toBe('exact');
    expect(got.sourceLabel).toBe('exact (from packets)');
    expect(got.flowTimeoutSec).toBe(64);
    expect(got.observedSec).toBeCloseTo(want.observed, 5);
    expect(got.observedSec).toBeCloseTo(600.247204 + 14.859416, 5); // capinfos durations
    expect(new Set(got.apps.map((a) => a.app))).toEqual(new Set(want.per.keys()));
    for (const a of got.apps) {
      const w = want.per.get(a.app)!;
      expect({ app: a.app, flows: a.flows, packets: a.packets, bytes: a.bytes }).toEqual({ app: a.app, flows: w.flows, packets: w.packets, bytes: w.bytes });
      expect([...a.bins, a.below, a.above]).toEqual(w.bins);
      expect(a.flowsPerSec).toBeCloseTo(w.flows / want.observed, 9);
      expect(a.pktsPerSec).toBeCloseTo(w.packets / want.observed, 9);
      expect(a.avgPktSize).toBeCloseTo(w.bytes / w.packets, 9);
    }
    // Hand-checked anchors: bittorrent.pcap is 24 BitTorrent flows, 299 packets.
    const bt = got.apps.find((a) => a.app === 'bittorrent')!;
    expect([bt.flows, bt.packets]).toEqual([24, 299]);
    expect(got.apps.find((a) => a.app === 'gnutella')!.flows).toBe(788);
    expect(got.total.packets).toBe(got.apps.reduce((s, a) => s + a.packets, 0));
  });

  it('flow-record input of the same flows gives the same flows and packets, sizes approximate', () => {
    const recs = replayFiles(CAPS, { config: observeConfig() }).records;
    const approx = profileRecords(recs);
    const exact = profileCaptures(CAPS);
    expect(approx.source).toBe('approximate');
    expect(approx.sourceLabel).toBe('approximate (from flow records)');
    for (const a of exact.apps) {
      const b = approx.apps.find((x) => x.app === a.app)!;
      expect([b.flows, b.packets, b.bytes]).toEqual([a.flows, a.packets, a.bytes]);
    }
  });
});

describe('approximate profile of a hand-checked flow set', () => {
  const rec = (o: Partial<FlowRecord>): FlowRecord => ({
    capture: 'hand', ts_start: 100, ts_end: 100, l4: 'udp', src: '10.0.0.1', sport: 1, dst: '10.0.0.2', dport: 2, app: 'edonkey', mark: null,
    pkts_out: 0, bytes_out: 0, pkts_in: 0, bytes_in: 0, answered: false, resp_payload: false, verdict: 'accept', reason: '', classified_after_pkts: null, ...o,
  });
  const flows = [
    rec({ ts_start: 100, ts_end: 101, pkts_out: 2, bytes_out: 120, pkts_in: 1, bytes_in: 100 }), // 2 × 60 B, 1 × 100 B
    rec({ ts_start: 105, ts_end: 110, l4: 'tcp', pkts_out: 10, bytes_out: 15000, pkts_in: 4, bytes_in: 160 }), // 10 × 1500, 4 × 40
    rec({ ts_start: 120, ts_end: 140, app: null, pkts_out: 1, bytes_out: 30 }), // 1 × 30 B: below the bins
  ];
  it('bins each direction at its mean size; rates over the observed 40 s', () => {
    const p = profileRecords(flows);
    expect(p.observedSec).toBe(40);
    const ed = p.apps.find((a) => a.app === 'edonkey')!;
    expect(ed).toEqual({
      app: 'edonkey', flows: 2, packets: 17, bytes: 15380, flowsPerSec: 0.05, pktsPerSec: 17 / 40, avgPktSize: 15380 / 17,
      bins: [6, 1, 0, 0, 0, 10, 0], below: 0, above: 0,
    });
    const un = p.apps.find((a) => a.app === UNCLASSIFIED)!;
    expect([un.flows, un.packets, un.below, un.bins.reduce((a, b) => a + b, 0)]).toEqual([1, 1, 1, 0]);
    expect(p.total.packets).toBe(18);
  });

  it('CLI: table, --json - and --svg; mixing kinds is a usage error', async () => {
    const jsonl = path.join(tmp, 'hand.jsonl');
    fs.writeFileSync(jsonl, flows.map((f) => JSON.stringify(f)).join('\n') + '\n');
    const out: string[] = [];
    const err: string[] = [];
    const io = { stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => err.push(s) } };
    const svg = path.join(tmp, 'p.svg');
    expect(await profileMain([jsonl, '--json', '-', '--svg', svg], io)).toBe(0);
    const j = JSON.parse(out.join(''));
    expect(j.source).toBe('approximate');
    expect(err.join('')).toContain('approximate (from flow records)');
    expect(err.join('')).toMatch(/edonkey\s+2\s+0\.050\s+17/);
    const s = fs.readFileSync(svg, 'utf8');
    expect(s.startsWith('<?xml')).toBe(true);
    expect(s.match(/<g class="app"/g)?.length).toBe(2);
    expect(s).not.toMatch(/href=|<script/);
    if (haveCaps) await expect(profileMain([jsonl, CAPS[1]], io)).rejects.toMatchObject({ code: 'P2PGW_ERR_USAGE' });
    fs.writeFileSync(path.join(tmp, 'bad.jsonl'), '{"ts_start": 1}\n');
    await expect(profileMain([path.join(tmp, 'bad.jsonl')], io)).rejects.toMatchObject({ code: 'P2PGW_ERR_USAGE', message: expect.stringContaining('bad.jsonl:1:') });
  });
});
