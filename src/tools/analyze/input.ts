/**
 * Inputs of `p2pgw profile` and `p2pgw analyze`: flow-record files (JSON Lines, the schema of
 * src/observe/flowrecord.ts), collector files (nfcapd files, nfdump CSV/JSON exports, pmacct JSON;
 * ./collector.ts) or capture files (pcap/pcapng), told apart by their first bytes.
 *
 * Captures are replayed with the observation config: the bundled default config with both idle
 * timeouts at 64 s, the commonly accepted flow timeout (a flow ends after 64 s without packets).
 *
 * Errors: a flow-record line that is not a JSON object with the schema's fields throws
 * P2pgwError('P2PGW_ERR_USAGE', '<file>:<line>: <reason>'); a file that is neither kind, or a list
 * mixing captures with records, throws P2pgwError('P2PGW_ERR_USAGE'); so does a path that is not a
 * regular file, cannot be read (ENOENT, EACCES, …) or is larger than DEFAULTS.files.maxRecordBytes
 * (records) / maxCaptureBytes (captures): `<file>: <reason>`, checked before anything is read.
 * Flow-record and collector files may be mixed (both are records).
 */
import fs from 'node:fs';
import { DEFAULTS } from '../../core/defaults.js';
import { P2pgwError } from '../../core/errors.js';
import { fsReason, readRegularFile, regularFileProblem } from '../../core/files.js';
import { APPS } from '../../apps/registry.js';
import { loadConfig, type EffectiveConfig } from '../../config/load.js';
import { replayFiles } from '../../runtime/replay.js';
import type { FlowRecord } from '../../observe/flowrecord.js';
import { collectorFormat, readCollectorFile } from './collector.js';

/** The flow timeout used by profile and analyze for both TCP and UDP, seconds. */
export const OBSERVE_FLOW_TIMEOUT_SEC = 64;

/**
 * Application names that are peer-to-peer file sharing (used by analyze's domain rules): every
 * registered application whose descriptor's category is `p2p` (src/apps/registry.ts).
 */
export const P2P_APPS: ReadonlySet<string> = new Set(APPS.filter((a) => a.category === 'p2p').map((a) => a.name));

/** Kind of an input file: our flow records, a capture, or a collector's records. */
export type InputKind = 'records' | 'capture' | 'collector';

/**
 * The effective config used to replay captures for profile/analyze: the bundled default with
 * `flow.tcpIdleSec = flow.udpIdleSec = 64`.
 */
export function observeConfig(): EffectiveConfig {
  const cfg = loadConfig(undefined, APPS.map((a) => a.name));
  cfg.flow = { ...cfg.flow, tcpIdleSec: OBSERVE_FLOW_TIMEOUT_SEC, udpIdleSec: OBSERVE_FLOW_TIMEOUT_SEC };
  return cfg;
}

/** The usage error of an input file that cannot be read: `<file>: <reason>`. */
const unreadable = (file: string) => (why: string): P2pgwError => new P2pgwError('P2PGW_ERR_USAGE', `${file}: ${why}`);

/** A record file's text (a regular file of at most DEFAULTS.files.maxRecordBytes). */
const readText = (file: string): string => readRegularFile(file, DEFAULTS.files.maxRecordBytes, unreadable(file)).toString('utf8');

/**
 * The first (up to 512) octets of a file.
 * @throws P2pgwError(P2PGW_ERR_USAGE) when it is not a regular file or cannot be opened (never blocks on a FIFO)
 */
function headOf(file: string): Buffer {
  const problem = regularFileProblem(file, Infinity);
  if (problem) throw unreadable(file)(problem);
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK | fs.constants.O_NOCTTY);
  } catch (err) {
    throw unreadable(file)(fsReason(err));
  }
  try {
    const b = Buffer.alloc(512);
    return b.subarray(0, fs.readSync(fd, b, 0, 512, 0));
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Tells a capture (pcap magic in either byte order, or a pcapng section header) and a collector
 * file (collectorFormat) from JSON Lines.
 */
export function inputKind(file: string): InputKind {
  const b = headOf(file);
  if (b.length >= 4 && [0xa1b2c3d4, 0xa1b23c4d, 0xd4c3b2a1, 0x4d3cb2a1, 0x0a0d0d0a].includes(b.readUInt32LE(0))) return 'capture';
  return collectorFormat(b) ? 'collector' : 'records';
}

/**
 * The kind shared by all `files`: `collector` when any is a collector file and none a capture.
 * @throws P2pgwError(P2PGW_ERR_USAGE) when the list is empty or mixes captures and flow records
 */
export function commonKind(files: readonly string[]): InputKind {
  if (!files.length) throw new P2pgwError('P2PGW_ERR_USAGE', 'name at least one flow-record (.jsonl), collector or capture file');
  const kinds = new Set(files.map(inputKind));
  if (kinds.has('collector') && !kinds.has('capture')) return 'collector';
  if (kinds.size > 1) {
    throw new P2pgwError('P2PGW_ERR_USAGE', 'give either flow-record files or capture files, not both (replay the captures first)');
  }
  return [...kinds][0];
}

const NUM_FIELDS = ['ts_start', 'ts_end', 'sport', 'dport', 'pkts_out', 'bytes_out', 'pkts_in', 'bytes_in'] as const;

/**
 * Checks one parsed JSON value against the flow-record schema (the fields analyze and profile
 * read; others are kept as they are).
 * @returns the record, or a reason string
 */
export function checkFlowRecord(v: unknown): FlowRecord | string {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return 'not a JSON object';
  const r = v as Record<string, unknown>;
  for (const f of NUM_FIELDS) {
    if (typeof r[f] !== 'number' || !Number.isFinite(r[f])) return `field ${f} must be a number`;
  }
  if (r.l4 !== 'tcp' && r.l4 !== 'udp') return 'field l4 must be "tcp" or "udp"';
  if (typeof r.src !== 'string' || typeof r.dst !== 'string') return 'fields src and dst must be strings';
  if (r.app !== null && typeof r.app !== 'string') return 'field app must be a string or null';
  if (typeof r.answered !== 'boolean' || typeof r.resp_payload !== 'boolean') return 'fields answered and resp_payload must be booleans';
  if ((r.ts_end as number) < (r.ts_start as number)) return 'ts_end is before ts_start';
  if (typeof r.capture !== 'string') r.capture = '';
  return r as unknown as FlowRecord;
}

/**
 * Parses JSON Lines text into flow records (blank lines are skipped).
 * @param file names the source in errors
 * @throws P2pgwError(P2PGW_ERR_USAGE) '<file>:<line>: <reason>' for a bad line
 */
export function parseFlowRecords(text: string, file: string): FlowRecord[] {
  const out: FlowRecord[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (!line) continue;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch (err) {
      throw new P2pgwError('P2PGW_ERR_USAGE', `${file}:${i + 1}: not JSON (${(err as Error).message})`);
    }
    const r = checkFlowRecord(v);
    if (typeof r === 'string') throw new P2pgwError('P2PGW_ERR_USAGE', `${file}:${i + 1}: ${r}`);
    out.push(r);
  }
  return out;
}

/** Reads a flow-record file (JSON Lines). Errors as parseFlowRecords, and P2pgwError(P2PGW_ERR_USAGE) `<file>: <reason>` for a file that is not regular, unreadable or too large. */
export function readFlowRecords(file: string): FlowRecord[] {
  return parseFlowRecords(readText(file), file);
}

/**
 * Reads a flow-record file or a collector file (./collector.ts: stitched into flows).
 * @throws as parseFlowRecords and readCollectorFile
 */
export function readRecordFile(file: string): FlowRecord[] {
  const format = collectorFormat(headOf(file));
  if (!format) return readFlowRecords(file);
  return readCollectorFile(file, format, format === 'nfcapd' ? '' : readText(file));
}

/** Flows loaded from input files. */
export interface LoadedFlows {
  kind: InputKind;
  records: FlowRecord[];
  files: string[];
}

/**
 * Loads flows from flow-record and collector files, or replays capture files with observeConfig()
 * (64 s idle).
 * @throws as commonKind, parseFlowRecords and replayFiles
 */
export function loadFlows(files: readonly string[]): LoadedFlows {
  const kind = commonKind(files);
  if (kind !== 'capture') return { kind, files: [...files], records: files.flatMap(readRecordFile) };
  return { kind, files: [...files], records: replayFiles(files, { config: observeConfig() }).records };
}

/**
 * Observed time of a set of flow records, seconds: the sum over capture names (`capture` field) of
 * last `ts_end` − first `ts_start`. Captures taken at different times are not bridged.
 */
export function observedSeconds(records: readonly FlowRecord[]): number {
  const span = new Map<string, [number, number]>();
  for (const r of records) {
    const s = span.get(r.capture);
    if (!s) span.set(r.capture, [r.ts_start, r.ts_end]);
    else {
      if (r.ts_start < s[0]) s[0] = r.ts_start;
      if (r.ts_end > s[1]) s[1] = r.ts_end;
    }
  }
  let total = 0;
  for (const [a, b] of span.values()) total += b - a;
  return total;
}
