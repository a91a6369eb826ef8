/**
 * `p2pgw analyze` on collector data (src/tools/analyze/collector.ts): the formats are recognised by
 * their first octets, nfdump's CSV and JSON exports and pmacct's JSON are read, records split by an
 * exporter are stitched back into flows and unidirectional ones paired, bad lines name file and
 * line; and the round trip: gnutella.pcap replayed with IPFIX export to nfcapd gives, read back
 * from nfcapd's files, the same flows (5-tuple, counts, times, application) as the replay's JSON
 * flow records, and analyze finds the same hosts, samples and findings in both.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { collectorFormat, readCollectorFile, stitch, type CollectorRecord } from '../../src/tools/analyze/collector.js';
import { commonKind, inputKind, loadFlows, observeConfig, readRecordFile } from '../../src/tools/analyze/input.js';
import { analyzeFlows } from '../../src/tools/analyze/analyze.js';
import { parseCidrList } from '../../src/tools/analyze/cidr.js';
import { replayFiles } from '../../src/runtime/replay.js';
import type { FlowRecord } from '../../src/observe/flowrecord.js';
import { capture } from '../helpers/paths.js';
import { waitUntil } from '../helpers/wait.js';
import { freeUdpPort } from './ipfix-helpers.js';
import { has, nfcapdArgs, nfcapdFiles, nfdumpRecords, startCollector } from './collector-helpers.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'p2pgw-analyze-collectors-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const write = (name: string, text: string): string => {
  const f = path.join(dir, name);
  fs.writeFileSync(f, text);
  return f;
};
const err = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    return (e as Error).message;
  }
  return 'no error';
};

const CSV_HEAD = 'ts,te,td,sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt,opkt,obyt,in,out';
const PMACCT = (src: string, sport: number, dst: string, dport: number, start: string, end: string, packets: number, bytes: number, cls = 'unknown') =>
  JSON.stringify({ event_type: 'purge', class: cls, ip_src: src, ip_dst: dst, port_src: sport, port_dst: dport, ip_proto: 'udp', timestamp_start: start, timestamp_end: end, packets, bytes });

describe('collector files for analyze', () => {
  it('tells the formats apart by their first octets (and captures and JSON Lines from them)', () => {
    expect(collectorFormat(Buffer.from([0x0c, 0xa5, 0x02, 0x00]))).toBe('nfcapd');
    expect(collectorFormat(Buffer.from(`${CSV_HEAD}\n`))).toBe('nfdump-csv');
    expect(collectorFormat(Buffer.from('[\n{\n\t"type" : "FLOW",'))).toBe('nfdump-json');
    expect(collectorFormat(Buffer.from(PMACCT('10.0.0.1', 1, '192.0.2.1', 2, '2024-01-01 00:00:00.000000', '2024-01-01 00:00:01.000000', 1, 60)))).toBe('pmacct-json');
    expect(collectorFormat(Buffer.from('{"capture":"x","ts_start":1}'))).toBeNull();
    const csv = write('a.csv', `${CSV_HEAD}\n`);
    const jsonl = write('a.jsonl', '');
    expect(inputKind(csv)).toBe('collector');
    expect(inputKind(jsonl)).toBe('records');
    expect(commonKind([csv, jsonl])).toBe('collector');
    expect(inputKind(capture('gnutella.pcap'))).toBe('capture');
  });

  it('reads nfdump CSV (times as UTC, protocol names), stitching the records of one flow', () => {
    const f = write('n.csv', [
      CSV_HEAD,
      '2024-05-01 12:00:00,2024-05-01 12:00:10,10.000,10.0.0.2,192.0.2.9,4000,6881,TCP,.AP.SF,0,0,10,1000,8,4000,0,0',
      '2024-05-01 12:01:00,2024-05-01 12:01:05,5.000,10.0.0.2,192.0.2.9,4000,6881,TCP,.AP...,0,0,2,200,1,40,0,0',
      '2024-05-01 12:00:00,2024-05-01 12:00:00,0.000,10.0.0.2,192.0.2.9,0,0,ICMP,......,0,0,1,84,0,0,0,0',
      '',
      'Summary: total flows: 3',
    ].join('\n'));
    const recs = readRecordFile(f);
    expect(recs).toHaveLength(1);
    expect(recs[0]).toMatchObject({
      capture: 'n.csv', l4: 'tcp', src: '10.0.0.2', sport: 4000, dst: '192.0.2.9', dport: 6881, app: null,
      ts_start: Date.UTC(2024, 4, 1, 12, 0, 0) / 1000, ts_end: Date.UTC(2024, 4, 1, 12, 1, 5) / 1000,
      pkts_out: 12, bytes_out: 1200, pkts_in: 9, bytes_in: 4040, answered: true, resp_payload: true,
    });
  });

  it('reads nfdump JSON and pmacct JSON; pairs the two directions of a unidirectional export', () => {
    const nf = write('n.json', JSON.stringify([
      { type: 'FLOW', first: '2024-05-01T12:00:00.500', last: '2024-05-01T12:00:02.000', proto: 17, src6_addr: '2001:db8::1', dst6_addr: '2001:db8::2', src_port: 5000, dst_port: 6346, in_packets: 3, in_bytes: 300, out_packets: 0, out_bytes: 0 },
      { type: 'FLOW', first: '2024-05-01T12:00:01.000', last: '2024-05-01T12:00:03.000', proto: 17, src6_addr: '2001:db8::2', dst6_addr: '2001:db8::1', src_port: 6346, dst_port: 5000, in_packets: 2, in_bytes: 56, out_packets: 0, out_bytes: 0 },
    ]));
    const [f] = readRecordFile(nf);
    expect(f).toMatchObject({ src: '2001:db8::1', sport: 5000, pkts_out: 3, bytes_out: 300, pkts_in: 2, bytes_in: 56, answered: true, resp_payload: false, ts_start: Date.UTC(2024, 4, 1, 12, 0, 0, 500) / 1000 });
    const pm = write('p.json', [
      PMACCT('10.0.0.5', 6346, '198.51.100.1', 6346, '2024-05-01 12:00:00.000000', '2024-05-01 12:00:04.000000', 4, 400, 'gnutella'),
      PMACCT('198.51.100.1', 6346, '10.0.0.5', 6346, '2024-05-01 12:00:01.000000', '2024-05-01 12:00:02.000000', 1, 128),
      '',
    ].join('\n'));
    expect(readRecordFile(pm)).toMatchObject([{ src: '10.0.0.5', app: 'gnutella', pkts_out: 4, pkts_in: 1, bytes_in: 128, resp_payload: true }]);
  });

  it('stitching: records more than 64 s apart stay apart; a later reverse record does not pair', () => {
    const r = (start: number, end: number, pkts: [number, number], rev = false): CollectorRecord => ({
      l4: 'udp', src: rev ? 'B' : 'A', sport: rev ? 2 : 1, dst: rev ? 'A' : 'B', dport: rev ? 1 : 2, start, end, pkts, bytes: [pkts[0] * 100, pkts[1] * 100], app: null,
    });
    const out = stitch([r(0, 10, [1, 0]), r(74, 80, [1, 0]), r(75, 76, [1, 0], true), r(200, 201, [1, 0]), r(266, 270, [1, 0], true)]);
    expect(out.map((f) => [f.src, f.start, f.end, f.pkts])).toEqual([['A', 0, 80, [2, 1]], ['A', 200, 201, [1, 0]], ['B', 266, 270, [1, 0]]]);
  });

  it('a bad record names the file and the line', () => {
    const f = write('bad.csv', `${CSV_HEAD}\n2024-05-01 12:00:00,2024-05-01 12:00:10,10.000,10.0.0.2,192.0.2.9,x,6881,TCP,.,0,0,1,1,0,0,0,0\n`);
    expect(err(() => readRecordFile(f))).toBe(`${f}:2: ports and counts must be numbers`);
    const p = write('bad.pm', `${JSON.stringify({ event_type: 'purge', ip_src: '10.0.0.1', ip_dst: '10.0.0.2', port_src: 1, port_dst: 2, ip_proto: 'udp', packets: 1, bytes: 1 })}\n`);
    expect(err(() => readRecordFile(p))).toBe(`${p}:1: no timestamp_start/timestamp_end: aggregate on them in pmacct`);
    expect(err(() => readCollectorFile(path.join(dir, 'nope'), 'nfcapd'))).toMatch(/nope: nfdump failed: /);
  });
});

const NFDUMP = has('nfcapd') && has('nfdump');
if (!NFDUMP) console.log('analyze-collectors: nfcapd round trip skipped: nfcapd/nfdump not installed (apt-get install nfdump)');

describe.skipIf(!NFDUMP || !fs.existsSync(capture('gnutella.pcap')))('analyze on nfcapd files of our IPFIX export', () => {
  it('the same flows as the JSON flow records, and the same analysis', async () => {
    const port = await freeUdpPort();
    const out = path.join(dir, 'nfcapd');
    fs.mkdirSync(out);
    const nfcapd = await startCollector('nfcapd', nfcapdArgs(out, port), /Startup nfcapd|Bound to IPv4/);
    try {
      // The observation config (64 s flow timeout) that analyze uses for captures, so flows match.
      const res = replayFiles([capture('gnutella.pcap')], { config: observeConfig(), ipfix: `127.0.0.1:${port}` });
      await res.closed;
      const sent = res.counters.get('ipfix_records');
      await waitUntil(() => nfdumpRecords(out).length >= sent, 30_000, `nfcapd files with ${sent} records`, 250);
      const fromCollector = nfcapdFiles(out).flatMap(readRecordFile);
      const key = (r: FlowRecord) => JSON.stringify([r.l4, r.src, r.sport, r.dst, r.dport, Math.round(r.ts_start * 1000), Math.round(r.ts_end * 1000), r.pkts_out, r.bytes_out, r.pkts_in, r.bytes_in, r.app]);
      expect(fromCollector.map(key).sort()).toEqual(res.records.map(key).sort());

      const opts = { local: parseCidrList('10.0.0.0/8', '--local') };
      const a = analyzeFlows(res.records, { ...opts, inputKind: 'capture' });
      const loaded = loadFlows(nfcapdFiles(out));
      expect(loaded.kind).toBe('collector');
      const b = analyzeFlows(loaded.records, { ...opts, inputKind: loaded.kind });
      expect(b.summary).toEqual(a.summary);
      expect(b.input.flowTimeoutSec).toBe(64);
      expect(a.summary.samples).toBeGreaterThan(0);
      expect(b.findings.map((f) => [f.rule, f.hosts, f.slots])).toEqual(a.findings.map((f) => [f.rule, f.hosts, f.slots]));
    } finally {
      await nfcapd.stop();
    }
  });
});
