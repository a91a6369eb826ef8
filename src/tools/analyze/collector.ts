/**
 * Flows from the collectors operators run, as flow records for `p2pgw analyze`: nfcapd files
 * (read with the installed `nfdump`, application names from the exporter's options records, e.g.
 * p2pgw's IPFIX export), nfdump's own exports (`nfdump -o csv`, `nfdump -o json`), and pmacct's
 * print plugin output (JSON Lines, aggregated at least on src_host, dst_host, src_port, dst_port,
 * proto, timestamp_start, timestamp_end; `class` becomes the application).
 *
 * Collector records are not our flows: an exporter splits a long flow into several records
 * (active and idle timeouts) and a unidirectional exporter reports each direction apart. So records
 * are stitched back: records of one 5-tuple at most STITCH_GAP_SEC (64 s, the flow timeout
 * analyze uses for captures) apart are one flow, and a record without reverse counts is
 * joined by the record of the opposite direction overlapping it (the earlier one is the
 * initiator). `answered` is "the responder sent packets", `resp_payload` "the responder sent more
 * than headers" (40 octets per TCP, 28 per UDP packet); only TCP and UDP records are kept. Times of
 * nfdump's CSV and JSON exports and pmacct's are read as UTC (run the readers with TZ=UTC).
 *
 * Errors: P2pgwError('P2PGW_ERR_USAGE', '<file>:<line>: <reason>') for a record that is not of
 * its format, or when nfdump is needed and missing.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { P2pgwError } from '../../core/errors.js';
import type { FlowRecord } from '../../observe/flowrecord.js';

/** The flow timeout used to stitch split records, seconds (the one analyze uses for captures). */
export const STITCH_GAP_SEC = 64;

/** Collector formats. */
export type CollectorFormat = 'nfcapd' | 'nfdump-csv' | 'nfdump-json' | 'pmacct-json';

/** nfdump's file magic (LAYOUT_VERSION 1 and 2 files start with 0xA50C, little-endian). */
const NFDUMP_MAGIC = 0xa50c;

/**
 * The collector format of a file from its first octets, or null (not a collector file).
 * @param head the file's first (up to 512) octets
 */
export function collectorFormat(head: Buffer): CollectorFormat | null {
  if (head.length >= 2 && head.readUInt16LE(0) === NFDUMP_MAGIC) return 'nfcapd';
  const text = head.toString('utf8').trimStart();
  if (/^ts,te,td,sa,da,sp,dp,pr,/.test(text)) return 'nfdump-csv';
  if (/^\[\s*(\{\s*"type"\s*:\s*"FLOW"|\])/.test(text)) return 'nfdump-json';
  if (/^\{[^\n]*"ip_src"\s*:/.test(text) && /"event_type"\s*:\s*"purge"/.test(text.split('\n')[0])) return 'pmacct-json';
  return null;
}

/** One collector record before stitching: a directional or biflow 5-tuple with its counts. */
export interface CollectorRecord {
  l4: 'tcp' | 'udp';
  src: string;
  sport: number;
  dst: string;
  dport: number;
  start: number;
  end: number;
  pkts: [number, number];
  bytes: [number, number];
  app: string | null;
}

const L4: Record<string, 'tcp' | 'udp'> = { '6': 'tcp', '17': 'udp', tcp: 'tcp', udp: 'udp', TCP: 'tcp', UDP: 'udp' };
/** Seconds since the epoch of `2023-11-14 22:13:20[.123]` or `2023-11-14T22:13:20.000`, read as UTC. */
const utcSeconds = (s: string): number => Date.parse(`${s.trim().replace(' ', 'T')}Z`) / 1000;
/** An application name from a collector: `unknown`, `no-info` and the like are none. */
const appName = (s: string | undefined): string | null => {
  const n = (s ?? '').split('/')[0].trim().toLowerCase();
  return n && !/^(unknown|<?no[ -]info>?|<?no[ -]nbar>?)$/.test(n) ? n : null;
};

const bad = (file: string, line: number, why: string): never => {
  throw new P2pgwError('P2PGW_ERR_USAGE', `${file}:${line}: ${why}`);
};

/** Checks and builds a CollectorRecord record (null: not TCP/UDP, skipped). */
function raw(file: string, line: number, f: { proto: string; src: string; sport: unknown; dst: string; dport: unknown; start: number; end: number; pkts: unknown[]; bytes: unknown[]; app: string | null }): CollectorRecord | null {
  const l4 = L4[f.proto.trim()];
  if (!l4) return null;
  const nums = [f.sport, f.dport, ...f.pkts, ...f.bytes].map(Number);
  if (nums.some((n) => !Number.isFinite(n) || n < 0)) bad(file, line, 'ports and counts must be numbers');
  if (!Number.isFinite(f.start) || !Number.isFinite(f.end) || f.end < f.start) bad(file, line, 'bad first/last time');
  if (!f.src || !f.dst) bad(file, line, 'missing address');
  return { l4, src: f.src.trim(), dst: f.dst.trim(), sport: nums[0], dport: nums[1], start: f.start, end: f.end, pkts: [nums[2], nums[3]], bytes: [nums[4], nums[5]], app: f.app };
}

/**
 * nfdump's fmt for nfcapd files: times in ms (printed in TZ=UTC; nfdump 1.7.1's `%ter` misprints
 * milliseconds), plain numbers (-N), whole IPv6 addresses (-6), the application from the options
 * records (`%nbnam`, `name/description`).
 */
const NFDUMP_FMT = 'fmt:%ts|%te|%pr|%sa|%sp|%da|%dp|%ipkt|%ibyt|%opkt|%obyt|%nbnam';

/** Runs `nfdump -r FILE` with NFDUMP_FMT. @throws P2pgwError(USAGE) when nfdump is missing or fails */
function nfdumpText(file: string): string {
  try {
    return execFileSync('nfdump', ['-r', file, '-N', '-6', '-q', '-o', NFDUMP_FMT], { encoding: 'utf8', maxBuffer: 1 << 30, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TZ: 'UTC' } });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') throw new P2pgwError('P2PGW_ERR_USAGE', `${file}: an nfcapd file; reading it needs nfdump (apt-get install nfdump)`);
    throw new P2pgwError('P2PGW_ERR_USAGE', `${file}: nfdump failed: ${(e.stderr ?? e.message).trim().split('\n')[0]}`);
  }
}

function parseNfdumpFmt(text: string, file: string): CollectorRecord[] {
  const out: CollectorRecord[] = [];
  text.split('\n').forEach((l, i) => {
    const c = l.split('|');
    if (c.length < 12) return;
    const r = raw(file, i + 1, { start: utcSeconds(c[0]), end: utcSeconds(c[1]), proto: c[2], src: c[3], sport: c[4], dst: c[5], dport: c[6], pkts: [c[7], c[9]], bytes: [c[8], c[10]], app: appName(c[11]) });
    if (r) out.push(r);
  });
  return out;
}

function parseNfdumpCsv(text: string, file: string): CollectorRecord[] {
  const lines = text.split('\n');
  const head = lines[0].split(',');
  const col = (n: string): number => head.indexOf(n);
  const idx = ['ts', 'te', 'sa', 'da', 'sp', 'dp', 'pr', 'ipkt', 'ibyt', 'opkt', 'obyt'].map(col);
  if (idx.some((i) => i < 0)) bad(file, 1, 'nfdump CSV header lacks ts,te,sa,da,sp,dp,pr,ipkt,ibyt,opkt,obyt');
  const out: CollectorRecord[] = [];
  for (let i = 1; i < lines.length; i++) {
    const c = lines[i].split(',');
    if (!lines[i].trim()) break; // nfdump ends its records with a blank line, then a summary
    if (c.length < head.length) bad(file, i + 1, `${c.length} columns, the header has ${head.length}`);
    const [ts, te, sa, da, sp, dp, pr, ipkt, ibyt, opkt, obyt] = idx.map((k) => c[k]);
    const r = raw(file, i + 1, { start: utcSeconds(ts), end: utcSeconds(te), proto: pr, src: sa, sport: sp, dst: da, dport: dp, pkts: [ipkt, opkt], bytes: [ibyt, obyt], app: null });
    if (r) out.push(r);
  }
  return out;
}

function parseNfdumpJson(text: string, file: string): CollectorRecord[] {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    return bad(file, 1, `not JSON (${(err as Error).message})`);
  }
  if (!Array.isArray(v)) return bad(file, 1, 'nfdump JSON must be an array of records');
  const out: CollectorRecord[] = [];
  v.forEach((o: Record<string, unknown>, i) => {
    if (!o || o.type !== 'FLOW') return;
    const r = raw(file, i + 1, {
      start: utcSeconds(String(o.first)), end: utcSeconds(String(o.last)), proto: String(o.proto),
      src: String(o.src4_addr ?? o.src6_addr ?? ''), sport: o.src_port, dst: String(o.dst4_addr ?? o.dst6_addr ?? ''), dport: o.dst_port,
      pkts: [o.in_packets, o.out_packets ?? 0], bytes: [o.in_bytes, o.out_bytes ?? 0], app: null,
    });
    if (r) out.push(r);
  });
  return out;
}

function parsePmacct(text: string, file: string): CollectorRecord[] {
  const out: CollectorRecord[] = [];
  text.split('\n').forEach((l, i) => {
    if (!l.trim()) return;
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(l) as Record<string, unknown>;
    } catch (err) {
      return bad(file, i + 1, `not JSON (${(err as Error).message})`);
    }
    if (o.timestamp_start === undefined || o.timestamp_end === undefined) bad(file, i + 1, 'no timestamp_start/timestamp_end: aggregate on them in pmacct');
    const r = raw(file, i + 1, {
      start: utcSeconds(String(o.timestamp_start)), end: utcSeconds(String(o.timestamp_end)), proto: String(o.ip_proto),
      src: String(o.ip_src ?? ''), sport: o.port_src, dst: String(o.ip_dst ?? ''), dport: o.port_dst,
      pkts: [o.packets, 0], bytes: [o.bytes, 0], app: appName(o.class as string | undefined),
    });
    if (r) out.push(r);
  });
  return out;
}

/**
 * Reads a collector file into stitched flow records (`capture` = the file's name).
 * @param text the file's text (not needed for nfcapd files, which nfdump reads)
 * @throws P2pgwError(P2PGW_ERR_USAGE) as described in the module comment
 */
export function readCollectorFile(file: string, format: CollectorFormat, text = ''): FlowRecord[] {
  const raws =
    format === 'nfcapd' ? parseNfdumpFmt(nfdumpText(file), file)
    : format === 'nfdump-csv' ? parseNfdumpCsv(text, file)
    : format === 'nfdump-json' ? parseNfdumpJson(text, file)
    : parsePmacct(text, file);
  return stitch(raws).map((r) => toFlowRecord(r, path.basename(file)));
}

const key = (r: CollectorRecord, reverse = false): string => (reverse ? `${r.l4} ${r.dst} ${r.dport} ${r.src} ${r.sport}` : `${r.l4} ${r.src} ${r.sport} ${r.dst} ${r.dport}`);
const overlaps = (a: CollectorRecord, b: CollectorRecord): boolean => a.start <= b.end + STITCH_GAP_SEC && b.start <= a.end + STITCH_GAP_SEC;

/** Adds `b`'s counts to `a` (`flip`: b is the opposite direction), widening the time span. */
function absorb(a: CollectorRecord, b: CollectorRecord, flip: boolean): void {
  const [i, j] = flip ? [1, 0] : [0, 1];
  a.pkts[i] += b.pkts[0];
  a.pkts[j] += b.pkts[1];
  a.bytes[i] += b.bytes[0];
  a.bytes[j] += b.bytes[1];
  a.start = Math.min(a.start, b.start);
  a.end = Math.max(a.end, b.end);
  a.app = b.app ?? a.app;
}

/**
 * Stitches collector records into flows: same-direction records of one 5-tuple at most
 * STITCH_GAP_SEC apart become one (the flow table's rule: a new flow only after more than that);
 * then a record without reverse counts takes the record of the opposite direction (also without
 * reverse counts) that starts no earlier and overlaps it, within STITCH_GAP_SEC, as its reverse.
 */
export function stitch(records: readonly CollectorRecord[]): CollectorRecord[] {
  const sorted = records.map((r) => ({ ...r, pkts: [...r.pkts] as [number, number], bytes: [...r.bytes] as [number, number] })).sort((a, b) => a.start - b.start);
  const open = new Map<string, CollectorRecord>();
  const flows: CollectorRecord[] = [];
  for (const r of sorted) {
    const prev = open.get(key(r));
    if (prev && r.start - prev.end <= STITCH_GAP_SEC) absorb(prev, r, false);
    else {
      open.set(key(r), r);
      flows.push(r);
    }
  }
  const unidirectional = new Map<string, CollectorRecord[]>();
  for (const f of flows) if (f.pkts[1] === 0) unidirectional.set(key(f), [...(unidirectional.get(key(f)) ?? []), f]);
  const gone = new Set<CollectorRecord>();
  for (const f of flows) {
    if (gone.has(f) || f.pkts[1] !== 0) continue;
    const peer = (unidirectional.get(key(f, true)) ?? []).find((g) => g !== f && !gone.has(g) && g.start >= f.start && overlaps(f, g));
    if (!peer) continue;
    absorb(f, peer, true);
    gone.add(peer);
  }
  return flows.filter((f) => !gone.has(f));
}

/** A stitched record as a flow record (fields analyze reads; see the module comment for the derived ones). */
function toFlowRecord(r: CollectorRecord, capture: string): FlowRecord {
  const hdr = r.l4 === 'tcp' ? 40 : 28;
  return {
    capture, ts_start: r.start, ts_end: r.end, l4: r.l4, src: r.src, sport: r.sport, dst: r.dst, dport: r.dport,
    app: r.app, mark: null, pkts_out: r.pkts[0], bytes_out: r.bytes[0], pkts_in: r.pkts[1], bytes_in: r.bytes[1],
    answered: r.pkts[1] > 0, resp_payload: r.bytes[1] > r.pkts[1] * hdr,
    verdict: 'accept', reason: 'collector record', method: null, learned_from: null, classified_after_pkts: null,
  };
}
