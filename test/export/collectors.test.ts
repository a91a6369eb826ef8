/**
 * IPFIX export read back by the collectors operators run: every shared capture is replayed with
 * `--ipfix` (replayFiles' `ipfix`) to nfcapd, and then to nfacctd, on 127.0.0.1 at a free port; the
 * collector's own reader must show the same flows and byte counts as our JSON flow records.
 *
 * - nfdump: per 5-tuple, the packets and octets of both directions (biflow reverse elements become
 *   nfdump's "out" counters) summed over the IPFIX records (active/idle timeouts split flows) equal
 *   the JSON records' sums, and the application nfdump names from the options records (`%nbnam`)
 *   for the 5-tuple's latest record is the JSON record's `app` (`unknown` when null).
 * - pmacct (nfacctd, print plugin): per 5-tuple, the forward packets and octets. nfacctd 1.7 keeps
 *   no reverse counters and reads only 2-, 3- or 5-octet applicationIds, so neither is compared.
 *
 * Skips, saying why, when the collector binaries or the captures are missing. No fixed sleeps: the
 * test waits, with deadlines, for the collector's files to hold every record sent.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { replayFiles, type ReplayResult } from '../../src/runtime/replay.js';
import type { FlowRecord } from '../../src/observe/flowrecord.js';
import { CAPTURES } from '../helpers/paths.js';
import { waitUntil } from '../helpers/wait.js';
import { freeUdpPort } from './ipfix-helpers.js';
import {
  addTo, has, nfacctdConfig, nfcapdArgs, nfcapdFiles, nfdumpRecords, pmacctRecords, startCollector, tupleKey, udpDrops, type Collector, type TupleSums,
} from './collector-helpers.js';

const captures = fs.existsSync(CAPTURES) ? fs.readdirSync(CAPTURES).filter((f) => /\.pcap(ng)?$/.test(f)).sort().map((f) => path.join(CAPTURES, f)) : [];
const NFDUMP = has('nfcapd') && has('nfdump');
const PMACCT = has('nfacctd');
if (!captures.length) console.log(`collectors: skipped: no captures at ${CAPTURES}`);
if (!NFDUMP) console.log('collectors: nfdump round trip skipped: nfcapd/nfdump not installed (apt-get install nfdump)');
if (!PMACCT) console.log('collectors: pmacct round trip skipped: nfacctd not installed (apt-get install pmacct)');

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'p2pgw-collectors-'));
const started: Collector[] = [];
afterAll(async () => {
  for (const c of started) await c.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Our JSON flow records summed per 5-tuple (the application of the latest flow of each). */
function jsonSums(records: readonly FlowRecord[]): Map<string, TupleSums> {
  const m = new Map<string, TupleSums>();
  for (const r of records) {
    const key = tupleKey(r.l4 === 'tcp' ? 6 : 17, r.src, r.sport, r.dst, r.dport);
    addTo(m, key, { pktsOut: r.pkts_out, bytesOut: r.bytes_out, pktsIn: r.pkts_in, bytesIn: r.bytes_in }, r.app ?? 'unknown', r.ts_end * 1000);
  }
  return m;
}

/** Replays every capture with export to 127.0.0.1:`port`; resolves once everything is sent. */
async function replayTo(port: number): Promise<ReplayResult> {
  const res = replayFiles(captures, { ipfix: `127.0.0.1:${port}` });
  await res.closed;
  expect(res.counters.get('ipfix_dropped'), 'records dropped by the exporter').toBe(0);
  return res;
}

describe.skipIf(!captures.length || !NFDUMP)('IPFIX export to nfcapd, read with nfdump', () => {
  it('the same flows, packets, octets (both directions) and application names as the JSON flow records', async () => {
    const port = await freeUdpPort();
    const out = path.join(dir, 'nfcapd');
    fs.mkdirSync(out);
    const nfcapd = await startCollector('nfcapd', nfcapdArgs(out, port), /Startup nfcapd|Bound to IPv4/);
    started.push(nfcapd);
    const { records, counters } = await replayTo(port);
    const sent = counters.get('ipfix_records');
    expect(sent).toBeGreaterThanOrEqual(records.length);
    // nfcapd rotates its file every 2 s: wait until its finished files hold every record sent.
    let seen = 0;
    await waitUntil(() => nfcapdFiles(out).length > 0 && (seen = nfdumpRecords(out).length) >= sent, 30_000, 'nfcapd files with every record', 250).catch((e: Error) => {
      throw new Error(`${e.message}: ${seen} of ${sent} records; ${udpDrops(port)} datagrams dropped at the socket; nfcapd said: ${nfcapd.output()}`);
    });
    await nfcapd.stop();
    const rows = nfdumpRecords(out);
    expect(rows.length).toBe(sent);

    const want = jsonSums(records);
    const got = new Map<string, TupleSums>();
    for (const r of rows) addTo(got, r.key, r.sums, r.app, r.end);
    expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
    const strip = ({ pktsOut, bytesOut, pktsIn, bytesIn, app }: TupleSums) => ({ pktsOut, bytesOut, pktsIn, bytesIn, app });
    for (const [key, w] of want) expect(strip(got.get(key)!), key).toEqual(strip(w));
    // The captures cover several applications, and nfdump names each of them.
    const apps = new Set(rows.map((r) => r.app));
    for (const a of ['bittorrent', 'gnutella', 'edonkey', 'unknown']) expect(apps, a).toContain(a);
  });
});

/**
 * One round trip to a fresh nfacctd: replays every capture to it and waits (≤ 30 s) until its
 * output holds every forward packet of the JSON records. Returns the JSON sums and nfacctd's
 * records, or, when packets are missing at the deadline, a line saying how many, the datagrams the
 * kernel dropped at nfacctd's socket and what nfacctd printed.
 */
async function nfacctdRoundTrip(attempt: number): Promise<{ want: Map<string, TupleSums>; rows: ReturnType<typeof pmacctRecords> } | { missing: string }> {
  const port = await freeUdpPort();
  const outFile = path.join(dir, `pmacct-${attempt}.json`);
  const conf = path.join(dir, `nfacctd-${attempt}.conf`);
  fs.writeFileSync(conf, nfacctdConfig(port, outFile));
  const nfacctd = await startCollector('nfacctd', ['-f', conf], new RegExp(`waiting for NetFlow/IPFIX data on 127\\.0\\.0\\.1:${port}`));
  started.push(nfacctd);
  try {
    const { records } = await replayTo(port);
    const want = jsonSums(records);
    const pkts = [...want.values()].reduce((n, s) => n + s.pktsOut, 0);
    // The print plugin writes what it aggregated every second: wait until every packet is there.
    let rows: ReturnType<typeof pmacctRecords> = [];
    const seen = (): number => rows.reduce((n, r) => n + r.packets, 0);
    const all = await waitUntil(() => seen() >= pkts || ((rows = pmacctRecords(outFile)), seen() >= pkts), 30_000, 'nfacctd output with every packet', 250).catch(() => false);
    if (!all) return { missing: `${seen()} of ${pkts} packets in nfacctd's output after 30 s; ${udpDrops(port)} datagrams dropped at its socket; nfacctd said: ${nfacctd.output()}` };
    return { want, rows };
  } finally {
    await nfacctd.stop();
  }
}

describe.skipIf(!captures.length || !PMACCT)('IPFIX export to nfacctd (pmacct print plugin)', () => {
  it('the same flows, forward packets and octets as the JSON flow records', async () => {
    // Export is UDP, and nfacctd's core hands records to its print plugin through a ring buffer:
    // under a loaded CI either can lose a datagram or a record. Such a loss is reported (what
    // arrived, the socket's drop count, nfacctd's own warnings) and the round trip run once more;
    // the comparison below is exact.
    let trip = await nfacctdRoundTrip(1);
    if ('missing' in trip) {
      console.log(`collectors: nfacctd round trip 1 incomplete, running it again: ${trip.missing}`);
      trip = await nfacctdRoundTrip(2);
    }
    if ('missing' in trip) throw new Error(`nfacctd round trip incomplete twice: ${trip.missing}`);
    const { want, rows } = trip;

    const got = new Map<string, { packets: number; bytes: number }>();
    for (const r of rows) {
      const s = got.get(r.key) ?? { packets: 0, bytes: 0 };
      s.packets += r.packets;
      s.bytes += r.bytes;
      got.set(r.key, s);
    }
    // A 5-tuple whose IPFIX records all have 0 forward packets leaves no pmacct entry.
    const withForward = [...want].filter(([, s]) => s.pktsOut > 0);
    expect([...got.keys()].sort()).toEqual(withForward.map(([k]) => k).sort());
    for (const [key, w] of withForward) expect(got.get(key), key).toEqual({ packets: w.pktsOut, bytes: w.bytesOut });
  });
});
