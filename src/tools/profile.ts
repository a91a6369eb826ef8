/**
 * Per-application traffic profile (`p2pgw profile`), after the P2P traffic characterisation
 * studies that describe an application by its conversation rate, packet rate, mean packet size and
 * packet-size distribution in octave bins (40–79, 80–159, …, 2560–5119 bytes of IP packet).
 *
 * Two sources, and the profile says which:
 * - `exact` (from packets): capture files are run through the classifier pipeline with 64 s idle
 *   timeouts for TCP and UDP; every packet's IP length is binned and assigned to its flow's
 *   application when the flow ends (a flow ends after 64 s idle, the commonly accepted timeout).
 * - `approximate` (from flow records): each record contributes, per direction, `pkts` packets of
 *   the mean size `bytes/pkts` of that direction, so the distribution is an approximation; flow
 *   boundaries are whatever the records were written with.
 *
 * Units: sizes in bytes of IP packet (header included, as flow records count), rates per second of
 * observed time. Observed time is the sum over input files of the capture duration, last − first
 * frame time (any frame, as capinfos reports it); for flow-record input, last `ts_end` − first
 * `ts_start` per `capture` name.
 */
import path from 'node:path';
import { readCaptureFile } from '../capture/pcap.js';
import { decodeIp } from '../decode/index.js';
import { flowKey } from '../flow/flow.js';
import { Pipeline } from '../runtime/pipeline.js';
import { buildClassifier, pipelineOptions } from '../runtime/setup.js';
import { Counters } from '../core/counters.js';
import { flowRecord, type FlowRecord } from '../observe/flowrecord.js';
import { OBSERVE_FLOW_TIMEOUT_SEC, observeConfig, observedSeconds } from './analyze/input.js';

/** The packet-size bins, inclusive byte ranges of the IP packet length. */
export const PROFILE_BINS: readonly (readonly [number, number])[] = Object.freeze([
  [40, 79],
  [80, 159],
  [160, 319],
  [320, 639],
  [640, 1279],
  [1280, 2559],
  [2560, 5119],
] as const);

/** Name used for flows the classifier left without an application. */
export const UNCLASSIFIED = '(unclassified)';

/** How the sizes were obtained. */
export type ProfileSource = 'exact' | 'approximate';

/** Wording of each source, as reports print it. */
export const SOURCE_LABEL: Readonly<Record<ProfileSource, string>> = Object.freeze({
  exact: 'exact (from packets)',
  approximate: 'approximate (from flow records)',
});

/** Profile of one application (or of all traffic, `app = 'all'`). */
export interface AppProfile {
  app: string;
  /** Flows (conversations) of this application. */
  flows: number;
  /** Packets and IP bytes, both directions. */
  packets: number;
  bytes: number;
  /** Flows started per second of observed time (null when the observed time is 0). */
  flowsPerSec: number | null;
  /** Packets per second of observed time (null when the observed time is 0). */
  pktsPerSec: number | null;
  /** bytes / packets, bytes (null without packets). */
  avgPktSize: number | null;
  /** Packet counts per PROFILE_BINS entry (approximate source: fractional counts are not used, each direction's packets all land in the bin of its mean size). */
  bins: number[];
  /** Packets below 40 bytes and above 5119 bytes (outside every bin). */
  below: number;
  above: number;
}

/** A whole profile. */
export interface TrafficProfile {
  source: ProfileSource;
  sourceLabel: string;
  /** Flow idle timeout used to cut flows, seconds (null for flow-record input: the records' own). */
  flowTimeoutSec: number | null;
  /** Observed time, seconds (see the module doc). */
  observedSec: number;
  files: string[];
  /** One entry per application, most packets first; unclassified flows under UNCLASSIFIED. */
  apps: AppProfile[];
  /** All applications together. */
  total: AppProfile;
  /** Packets the profile could not place in a flow (decode failures), exact source only. */
  unplaced: number;
}

/** Index of the bin holding `size` bytes, -1 below the first, PROFILE_BINS.length above the last. */
export function binOf(size: number): number {
  if (size < PROFILE_BINS[0][0]) return -1;
  for (let i = 0; i < PROFILE_BINS.length; i++) if (size <= PROFILE_BINS[i][1]) return i;
  return PROFILE_BINS.length;
}

/** A packet-size accumulator. */
class SizeHist {
  bins = new Array<number>(PROFILE_BINS.length).fill(0);
  below = 0;
  above = 0;
  packets = 0;
  bytes = 0;

  /** Adds `n` packets of `size` bytes each. */
  add(size: number, n = 1): void {
    const b = binOf(size);
    if (b < 0) this.below += n;
    else if (b >= PROFILE_BINS.length) this.above += n;
    else this.bins[b] += n;
    this.packets += n;
    this.bytes += size * n;
  }

  merge(o: SizeHist): void {
    for (let i = 0; i < this.bins.length; i++) this.bins[i] += o.bins[i];
    this.below += o.below;
    this.above += o.above;
    this.packets += o.packets;
    this.bytes += o.bytes;
  }
}

/** Per-application accumulator: flows and sizes. */
class AppAcc {
  flows = 0;
  hist = new SizeHist();
}

function finish(
  source: ProfileSource,
  acc: Map<string, AppAcc>,
  observedSec: number,
  files: string[],
  flowTimeoutSec: number | null,
  unplaced: number,
): TrafficProfile {
  const toProfile = (app: string, a: AppAcc): AppProfile => ({
    app,
    flows: a.flows,
    packets: a.hist.packets,
    bytes: a.hist.bytes,
    flowsPerSec: observedSec > 0 ? a.flows / observedSec : null,
    pktsPerSec: observedSec > 0 ? a.hist.packets / observedSec : null,
    avgPktSize: a.hist.packets ? a.hist.bytes / a.hist.packets : null,
    bins: [...a.hist.bins],
    below: a.hist.below,
    above: a.hist.above,
  });
  const all = new AppAcc();
  for (const a of acc.values()) {
    all.flows += a.flows;
    all.hist.merge(a.hist);
  }
  const apps = [...acc.entries()]
    .map(([app, a]) => toProfile(app, a))
    .sort((x, y) => y.packets - x.packets || x.app.localeCompare(y.app));
  return { source, sourceLabel: SOURCE_LABEL[source], flowTimeoutSec, observedSec, files, apps, total: toProfile('all', all), unplaced };
}

function accFor(acc: Map<string, AppAcc>, app: string | null): AppAcc {
  const name = app ?? UNCLASSIFIED;
  let a = acc.get(name);
  if (!a) acc.set(name, (a = new AppAcc()));
  return a;
}

/**
 * Profile from flow records (approximate sizes, see the module doc).
 * @param records flow records (any flow timeout)
 * @param files names of the input files, for the report
 */
export function profileRecords(records: readonly FlowRecord[], files: string[] = []): TrafficProfile {
  const acc = new Map<string, AppAcc>();
  for (const r of records) {
    const a = accFor(acc, r.app);
    a.flows++;
    if (r.pkts_out > 0) a.hist.add(r.bytes_out / r.pkts_out, r.pkts_out);
    if (r.pkts_in > 0) a.hist.add(r.bytes_in / r.pkts_in, r.pkts_in);
  }
  return finish('approximate', acc, observedSeconds(records), files, null, 0);
}

/** Options of profileCaptures. */
export interface ProfileCaptureOptions {
  /** Verify checksums while replaying (default false, as replay). */
  verifyChecksums?: boolean;
  /** Receives the flow record of every flow (cut at 64 s idle), e.g. to cross-check. */
  onRecord?: (rec: FlowRecord) => void;
  counters?: Counters;
}

/**
 * Exact profile from capture files: runs the classifier pipeline (64 s idle timeouts, the expiry
 * cadence of replay) and bins each packet's IP length under its flow's application.
 * @throws P2pgwError(P2PGW_ERR_CAPTURE_FORMAT) for a file that is not a capture; config/rules errors
 */
export function profileCaptures(files: readonly string[], opts: ProfileCaptureOptions = {}): TrafficProfile {
  const cfg = observeConfig();
  const { classifier } = buildClassifier(cfg);
  const counters = opts.counters ?? new Counters();
  const verify = opts.verifyChecksums ?? false;
  const acc = new Map<string, AppAcc>();
  let observed = 0;
  let unplaced = 0;
  for (const file of files) {
    // Sizes of live flows by flow key. A packet is added after the pipeline handled it, so a flow
    // that the packet's arrival ended (idle) has already taken its sizes away.
    const live = new Map<string, SizeHist>();
    const pipeline = new Pipeline(classifier, pipelineOptions(cfg, verify), counters, {
      onFlowEnd: (flow) => {
        const a = accFor(acc, flow.app);
        a.flows++;
        const h = live.get(flow.key);
        live.delete(flow.key);
        if (h) {
          if (h.packets !== flow.totalPkts) counters.inc('profile_packet_mismatch');
          a.hist.merge(h);
        }
        opts.onRecord?.(flowRecord(flow, file));
      },
    });
    let first = Infinity;
    let last = -Infinity;
    let lastExpire = -Infinity;
    for (const rec of readCaptureFile(file, counters)) {
      if (rec.ts < first) first = rec.ts;
      if (rec.ts > last) last = rec.ts;
      if (!rec.ip) continue;
      pipeline.handle(rec.ip, rec.ts);
      const d = decodeIp(rec.ip, { verifyChecksums: verify });
      if (d.ok) {
        const key = flowKey(d.pkt);
        let h = live.get(key);
        if (!h) live.set(key, (h = new SizeHist()));
        h.add(d.pkt.ipLen);
      } else {
        unplaced++;
      }
      if (rec.ts - lastExpire >= 1) {
        pipeline.expire(rec.ts);
        lastExpire = rec.ts;
      }
    }
    pipeline.flush();
    if (last >= first) observed += last - first;
  }
  return finish('exact', acc, observed, files.map((f) => path.basename(f)), OBSERVE_FLOW_TIMEOUT_SEC, unplaced);
}

const fmt = (x: number | null, digits: number): string => (x === null ? '-' : x.toFixed(digits));

/** Bin label, e.g. `40-79`. */
export const binLabel = (i: number): string => `${PROFILE_BINS[i][0]}-${PROFILE_BINS[i][1]}`;

/**
 * The profile as a text table: one row per application plus `all`; bins as percent of the
 * application's packets.
 */
export function profileTable(p: TrafficProfile): string {
  const head = ['app', 'flows', 'flows/s', 'pkts', 'pkts/s', 'avg B', ...PROFILE_BINS.map((_, i) => binLabel(i)), 'other'];
  const row = (a: AppProfile): string[] => [
    a.app,
    String(a.flows),
    fmt(a.flowsPerSec, 3),
    String(a.packets),
    fmt(a.pktsPerSec, 2),
    fmt(a.avgPktSize, 1),
    ...a.bins.map((n) => (a.packets ? `${((100 * n) / a.packets).toFixed(1)}%` : '-')),
    a.packets ? `${((100 * (a.below + a.above)) / a.packets).toFixed(1)}%` : '-',
  ];
  const rows = [...p.apps.map(row), row(p.total)];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]): string => r.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  ');
  const timeout = p.flowTimeoutSec === null ? 'flows as recorded' : `flows end after ${p.flowTimeoutSec} s idle`;
  return [
    `Traffic profile: sizes ${p.sourceLabel}; ${timeout}; observed ${p.observedSec.toFixed(1)} s in ${p.files.length} file(s)`,
    line(head),
    ...rows.slice(0, -1).map(line),
    w.map((n) => '-'.repeat(n)).join('  '),
    line(rows[rows.length - 1]),
  ].join('\n') + '\n';
}
