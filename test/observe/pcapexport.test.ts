/**
 * PcapExporter (src/observe/pcapexport.ts): replay of the shared captures through the pipeline
 * with the exporter attached (a wrapper standing in for the Pipeline `onPacket` hook) yields one
 * valid pcap per application, readable by our readCaptureFile and by `tshark -r` when installed,
 * holding exactly the classified flows' packets in per-flow order; buffers and size caps are bounded
 * and counted.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PcapExporter, pcapFileName, type PcapExportOptions } from '../../src/observe/pcapexport.js';
import { Counters } from '../../src/core/counters.js';
import { readCaptureFile } from '../../src/capture/pcap.js';
import { decodeIp } from '../../src/decode/index.js';
import { flowKey } from '../../src/flow/flow.js';
import { Pipeline } from '../../src/runtime/pipeline.js';
import { buildClassifier, pipelineOptions } from '../../src/runtime/setup.js';
import { loadConfig } from '../../src/config/load.js';
import { APPS } from '../../src/apps/registry.js';
import { capture } from '../helpers/paths.js';
import { ipv4 } from '../helpers/packets.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'p2pgw-pcapx-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const freshDir = (): string => path.join(tmp, `d${n++}`);
const cfg = loadConfig(undefined, APPS.map((a) => a.name));
const { classifier } = buildClassifier(cfg);
const tshark = spawnSync('tshark', ['--version'], { encoding: 'utf8' }).status === 0;
if (!tshark) console.warn('tshark not installed: exported files are checked with readCaptureFile only');

/**
 * Replays `files` through a Pipeline and the exporter, the way the daemon will once Pipeline has
 * an `onPacket(flow, ip, ts)` event: every packet goes to `exporter.packet(flow key, ...)` before
 * the pipeline judges it; onClassified → `classified`, onFlowEnd → `flowEnded`.
 * @returns flow key → application of every ended flow, and the packets per key in capture order
 */
function replayExport(files: string[], exporter: PcapExporter): { apps: Map<string, string | null>; packets: Map<string, Uint8Array[]> } {
  const apps = new Map<string, string | null>();
  const packets = new Map<string, Uint8Array[]>();
  for (const file of files) {
    const pipeline = new Pipeline(classifier, pipelineOptions(cfg, false), new Counters(), {
      onClassified: (flow, c) => exporter.classified(flow.key, c.app?.desc.name ?? null),
      onFlowEnd: (flow) => {
        exporter.flowEnded(flow.key);
        apps.set(flow.key, flow.app);
      },
    });
    let last = -Infinity;
    for (const rec of readCaptureFile(file)) {
      if (!rec.ip) continue;
      const d = decodeIp(rec.ip, { verifyChecksums: false });
      if (d.ok) {
        const key = flowKey(d.pkt);
        exporter.packet(key, rec.ip, rec.ts);
        const list = packets.get(key) ?? [];
        list.push(rec.ip.slice(0, d.pkt.ipLen || rec.ip.length));
        packets.set(key, list);
      }
      pipeline.handle(rec.ip, rec.ts);
      if (rec.ts - last >= 1) (pipeline.expire(rec.ts), (last = rec.ts));
    }
    pipeline.flush();
  }
  exporter.close();
  return { apps, packets };
}

/** The packets of an exported file grouped by flow key (and the count of records). */
function readExport(file: string): { byKey: Map<string, Uint8Array[]>; count: number; linktypes: Set<number> } {
  const byKey = new Map<string, Uint8Array[]>();
  const linktypes = new Set<number>();
  const counters = new Counters();
  let count = 0;
  for (const rec of readCaptureFile(file, counters)) {
    count++;
    linktypes.add(rec.linktype);
    expect(rec.ip).not.toBeNull();
    const d = decodeIp(rec.ip!, { verifyChecksums: false });
    expect(d.ok).toBe(true);
    if (!d.ok) continue;
    const key = flowKey(d.pkt);
    byKey.set(key, [...(byKey.get(key) ?? []), rec.ip!.slice()]);
  }
  expect(counters.snapshot()).toEqual({}); // no truncated or bad record
  return { byKey, count, linktypes };
}

const big: Omit<PcapExportOptions, 'dir'> = { maxFileBytes: 64 << 20, maxTotalBytes: 256 << 20 };

describe('PcapExporter over replayed captures', () => {
  it.each(['bittorrent.pcap', 'gnutella.pcap', 'edonkey.pcap'])('%s: one file per application with every packet of its classified flows', (name) => {
    const dir = freshDir();
    const counters = new Counters();
    const { apps, packets } = replayExport([capture(name)], new PcapExporter({ dir, ...big }, counters));
    const wanted = new Map<string, Map<string, Uint8Array[]>>();
    for (const [key, app] of apps) {
      if (!app) continue;
      if (!wanted.has(app)) wanted.set(app, new Map());
      wanted.get(app)!.set(key, packets.get(key)!);
    }
    expect(wanted.size).toBeGreaterThan(0);
    expect(fs.readdirSync(dir).sort()).toEqual([...wanted.keys()].map(pcapFileName).sort());
    for (const [app, flows] of wanted) {
      const file = path.join(dir, pcapFileName(app));
      const got = readExport(file);
      expect([...got.linktypes]).toEqual([101]);
      expect(got.count).toBe([...flows.values()].reduce((s, l) => s + l.length, 0));
      expect(new Set(got.byKey.keys())).toEqual(new Set(flows.keys()));
      for (const [key, list] of flows) expect(got.byKey.get(key)!.map((b) => Buffer.from(b).toString('hex')), key).toEqual(list.map((b) => Buffer.from(b).toString('hex')));
      expect(fs.statSync(file).mode & 0o777).toBe(0o600);
      if (tshark) {
        const t = spawnSync('tshark', ['-r', file, '-T', 'fields', '-e', 'frame.protocols'], { encoding: 'utf8', maxBuffer: 64 << 20 });
        expect(t.status, t.stderr).toBe(0);
        const lines = t.stdout.trim().split('\n');
        expect(lines.length).toBe(got.count);
        expect(lines.every((l) => /^raw:ipv?6?/.test(l) && /:(tcp|udp)/.test(l))).toBe(true);
      }
    }
    expect(counters.get('pcap_export_flow_buffer_full') + counters.get('pcap_export_buffer_full')).toBe(0);
    expect(counters.get('pcap_export_packets')).toBe([...wanted.values()].flatMap((m) => [...m.values()]).reduce((s, l) => s + l.length, 0));
  });
});

/** A UDP packet of flow `i` (source port 20000 + i) with `len` payload bytes. */
const pkt = (i: number, len = 100): Uint8Array => ipv4({ src: '10.1.0.1', dst: '10.2.0.1', l4: 'udp', sport: 20000 + i, dport: 6881, payload: new Uint8Array(len).fill(i & 255) });

/** A minimal IPv6/UDP packet (checksum left 0; readers do not need it). */
function ipv6udp(payload: Uint8Array): Uint8Array {
  const b = new Uint8Array(48 + payload.length);
  b[0] = 0x60;
  b[4] = (8 + payload.length) >> 8;
  b[5] = (8 + payload.length) & 255;
  b[6] = 17;
  b[7] = 64;
  b[8] = 0xfd;
  b[23] = 1;
  b[24] = 0xfd;
  b[39] = 2;
  b.set([0x9c, 0x40, 0x1a, 0xe1, (8 + payload.length) >> 8, (8 + payload.length) & 255, 0, 0], 40);
  b.set(payload, 48);
  return b;
}

describe('PcapExporter bounds', () => {
  it('buffers until classified, writes later packets directly, drops a given-up flow; IPv4 and IPv6 in one LINKTYPE_RAW file', () => {
    const dir = freshDir();
    const c = new Counters();
    const x = new PcapExporter({ dir, ...big }, c);
    x.packet('a', pkt(1), 1.5);
    x.packet('a', pkt(1), 2.000001);
    x.packet('b', pkt(2), 2.1);
    x.classified('b', null);
    x.packet('b', pkt(2), 2.2);
    x.packet('v6', ipv6udp(new Uint8Array(10)), 2.5);
    x.classified('v6', 'gnutella');
    expect(fs.existsSync(path.join(dir, 'bittorrent.pcap'))).toBe(false);
    x.classified('a', 'bittorrent');
    x.packet('a', pkt(1), 3.9999999);
    x.close();
    const recs = [...readCaptureFile(path.join(dir, 'bittorrent.pcap'))];
    expect(recs.map((r) => r.ts)).toEqual([1.5, 2.000001, 4]);
    expect(recs.every((r) => r.linktype === 101 && r.ip !== null)).toBe(true);
    const six = [...readCaptureFile(path.join(dir, 'gnutella.pcap'))];
    expect(six).toHaveLength(1);
    expect(six[0].ip![0] >> 4).toBe(6);
    expect(c.get('pcap_export_unclassified_dropped')).toBe(1);
    expect(x.bufferedBytes).toBe(0);
    if (tshark) {
      const t = spawnSync('tshark', ['-r', path.join(dir, 'gnutella.pcap'), '-T', 'fields', '-e', 'ipv6.dst'], { encoding: 'utf8' });
      expect(t.stdout.trim()).toBe('fd00::2');
    }
  });

  it('bounds buffering per flow and in total (counted)', () => {
    const c = new Counters();
    const x = new PcapExporter({ dir: freshDir(), ...big, maxBufferedPacketsPerFlow: 2, maxBufferedBytes: 1000 }, c);
    for (let k = 0; k < 5; k++) x.packet('a', pkt(1, 10), k);
    expect(c.get('pcap_export_flow_buffer_full')).toBe(3);
    for (let i = 0; i < 20; i++) x.packet(`f${i}`, pkt(i, 100), 1);
    expect(x.bufferedBytes).toBeLessThanOrEqual(1000);
    expect(c.get('pcap_export_buffer_full')).toBeGreaterThan(0);
    for (let i = 0; i < 20; i++) x.flowEnded(`f${i}`);
    x.flowEnded('a');
    expect(x.bufferedBytes).toBe(0);
    x.close();
  });

  it('caps each file and the total (whole records only, counted) and the files stay readable', () => {
    const dir = freshDir();
    const c = new Counters();
    const x = new PcapExporter({ dir, maxFileBytes: 4096, maxTotalBytes: 6144, flushBytes: 512 }, c);
    for (const app of ['bittorrent', 'gnutella']) {
      x.classified(app, app);
      for (let i = 0; i < 100; i++) x.packet(app, pkt(i, 200), i);
    }
    x.close();
    const sizes = ['bittorrent.pcap', 'gnutella.pcap'].map((f) => fs.statSync(path.join(dir, f)).size);
    expect(sizes[0]).toBeLessThanOrEqual(4096);
    expect(sizes[0] + sizes[1]).toBeLessThanOrEqual(6144);
    expect(c.get('pcap_export_file_cap')).toBeGreaterThan(0);
    expect(c.get('pcap_export_total_cap')).toBeGreaterThan(0);
    const written = readExport(path.join(dir, 'bittorrent.pcap')).count + readExport(path.join(dir, 'gnutella.pcap')).count;
    expect(written).toBe(c.get('pcap_export_packets'));
    expect(sizes[0] + sizes[1]).toBe(c.get('pcap_export_bytes'));
  });

  it('appends to its own file after a restart (the old size counts toward the cap) and leaves a foreign file alone', () => {
    const dir = freshDir();
    const one = new PcapExporter({ dir, ...big });
    one.classified('a', 'bittorrent');
    one.packet('a', pkt(1), 1);
    one.close();
    fs.writeFileSync(path.join(dir, 'gnutella.pcap'), 'not a capture');
    const c = new Counters();
    const two = new PcapExporter({ dir, ...big }, c);
    expect(two.totalBytes).toBe(fs.statSync(path.join(dir, 'bittorrent.pcap')).size + 13);
    for (const app of ['bittorrent', 'gnutella']) {
      two.classified(app, app);
      two.packet(app, pkt(2), 2);
    }
    two.close();
    expect([...readCaptureFile(path.join(dir, 'bittorrent.pcap'))].map((r) => r.ts)).toEqual([1, 2]);
    expect(fs.readFileSync(path.join(dir, 'gnutella.pcap'), 'utf8')).toBe('not a capture');
    expect(c.get('pcap_export_bad_existing_file')).toBe(1);
  });
});
