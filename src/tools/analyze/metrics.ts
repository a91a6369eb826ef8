/**
 * Host-behaviour metrics after the ISP P2P behaviour study: flows are aggregated into one sample
 * per local host and time slot of ΔT seconds (default 300 s), and each sample gets the metrics
 * below, separately for TCP and UDP (metric id `<l4>-<name>`, e.g. `udp-outin-fract-unanswered`).
 *
 * Vocabulary. For host h and slot s = [t0, t0 + ΔT), with t0 a multiple of ΔT since the epoch:
 * - a flow is *outgoing* (`inout-`, inside → out) when h is its initiator (`src`), *incoming*
 *   (`outin-`) when h is its responder (`dst`); a flow between two local hosts counts for both;
 * - *started* flows have `ts_start` in s; *live* flows overlap s ([ts_start, ts_end] ∩ s ≠ ∅);
 * - bytes and packets of a live flow are spread over the slots it overlaps in proportion to time
 *   (all of it in the first slot when ts_end = ts_start): flow records only hold totals;
 * - h *sends* bytes_out of its outgoing and bytes_in of its incoming flows, and *receives* the rest.
 * A sample (h, s) exists for an L4 when h has at least one live flow of that L4 in s. A metric
 * whose denominator is empty is undefined (null) for the sample and takes no part in clustering.
 * Every definition is in METRIC_CALCS (and printed in the README and the HTML report).
 */
import { DEFAULTS } from '../../core/defaults.js';
import type { FlowRecord } from '../../observe/flowrecord.js';
import type { CidrSet } from './cidr.js';

export type L4 = 'tcp' | 'udp';

/** Accumulated facts of one host, slot and L4. Index 0 = outgoing (inout), 1 = incoming (outin). */
export class L4Acc {
  started: [number, number] = [0, 0];
  durSum: [number, number] = [0, 0];
  live: [number, number] = [0, 0];
  unanswered: [number, number] = [0, 0];
  answered: [number, number] = [0, 0];
  answeredNoPayload: [number, number] = [0, 0];
  bytesSent = 0;
  bytesRcvd = 0;
  pktsSent = 0;
  pktsRcvd = 0;
  /** Remote addresses of started flows (both directions). */
  peers = new Set<string>();
  /** Responder addresses and ports of started outgoing flows. */
  dstIps = new Set<string>();
  dports = new Set<number>();
}

/** One metric: how it is computed and how the analysis treats it. */
export interface MetricCalc {
  /** Name without the L4 prefix, as in the study (`inout-avg-duration`). */
  name: string;
  l4: readonly L4[];
  unit: string;
  /** Smallest meaningful difference (1 for counts): ε is never lowered below it. 0 = continuous. */
  resolution: number;
  /** Exact definition (README and report). */
  definition: string;
  /** The value, or null when undefined for this sample. */
  value(a: L4Acc, ctx: { slotSec: number; inIsp: (addr: string) => boolean }): number | null;
  /** A known pattern: clusters whose median passes `test` are named and interesting. */
  pattern?: { name: string; test: (median: number) => boolean };
  /** High values mean aggressive activity (counted by the aggressive-peer rule). */
  high?: boolean;
  /** Needs `--isp`. */
  isp?: boolean;
}

const ratio = (a: number, b: number): number | null => (b > 0 ? a / b : null);
const BOTH: readonly L4[] = ['tcp', 'udp'];
const dirName = ['outgoing (h initiated)', 'incoming (h responded)'];

function perDir(
  base: string,
  l4: readonly L4[],
  unit: string,
  resolution: number,
  def: (d: string) => string,
  value: (a: L4Acc, d: 0 | 1) => number | null,
  extra: Partial<MetricCalc> = {},
): MetricCalc[] {
  return ([0, 1] as const).map((d) => ({
    name: `${d === 0 ? 'inout' : 'outin'}-${base}`,
    l4,
    unit,
    resolution,
    definition: def(dirName[d]),
    value: (a: L4Acc) => value(a, d),
    ...extra,
  }));
}

const UNANSWERED = { name: 'mostly unanswered', test: (m: number) => m >= 0.8 };

/** Every metric, in report order. */
export const METRIC_CALCS: readonly MetricCalc[] = Object.freeze([
  ...perDir('avg-duration', BOTH, 's', 0, (d) => `mean of ts_end − ts_start over the ${d} flows started in the slot`, (a, d) =>
    ratio(a.durSum[d], a.started[d]),
  ),
  ...perDir('live-conn', BOTH, 'flows', 1, (d) => `number of ${d} flows live at some time in the slot (started in it or earlier)`, (a, d) => a.live[d], {
    high: true,
  }),
  {
    name: 'fract-incoming-conn',
    l4: BOTH,
    unit: 'fraction',
    resolution: 0,
    definition: 'incoming started flows / all started flows',
    value: (a) => ratio(a.started[1], a.started[0] + a.started[1]),
  },
  {
    name: 'bps-rcvd',
    l4: BOTH,
    unit: 'bit/s',
    resolution: 0,
    definition: '8 × bytes received in the slot (time-proportional share of each live flow) / ΔT',
    value: (a, c) => (8 * a.bytesRcvd) / c.slotSec,
    high: true,
  },
  {
    name: 'bps-sent',
    l4: BOTH,
    unit: 'bit/s',
    resolution: 0,
    definition: '8 × bytes sent in the slot (time-proportional share of each live flow) / ΔT',
    value: (a, c) => (8 * a.bytesSent) / c.slotSec,
    high: true,
  },
  {
    name: 'avg-pkt-size',
    l4: BOTH,
    unit: 'B',
    resolution: 0,
    definition: '(bytes sent + received) / (packets sent + received) in the slot; IP bytes',
    value: (a) => ratio(a.bytesSent + a.bytesRcvd, a.pktsSent + a.pktsRcvd),
  },
  {
    name: 'ratio-bytes-sent-to-rcvd',
    l4: BOTH,
    unit: '[-1,1]',
    resolution: 0,
    definition: '(Bs − Br) / (Bs + Br) with Bs, Br the bytes sent and received in the slot; −1 = only receives',
    value: (a) => ratio(a.bytesSent - a.bytesRcvd, a.bytesSent + a.bytesRcvd),
    pattern: { name: 'selfish', test: (m) => m <= -0.9 },
  },
  {
    name: 'total-conn-attempts',
    l4: BOTH,
    unit: 'flows',
    resolution: 1,
    definition: 'outgoing flows started in the slot (answered or not)',
    value: (a) => a.started[0],
    high: true,
  },
  {
    name: 'avg-conn-per-IP',
    l4: BOTH,
    unit: 'flows/IP',
    resolution: 0,
    definition: 'outgoing flows started / distinct responder addresses of those flows',
    value: (a) => ratio(a.started[0], a.dstIps.size),
    pattern: { name: 'repeated connections', test: (m) => m >= 1.5 },
    high: true,
  },
  {
    name: 'total-peers',
    l4: BOTH,
    unit: 'hosts',
    resolution: 1,
    definition: 'distinct remote addresses of the flows started in the slot, both directions',
    value: (a) => a.peers.size,
    high: true,
  },
  {
    name: 'dest-ports',
    l4: BOTH,
    unit: 'ports',
    resolution: 1,
    definition: 'distinct responder ports of the outgoing flows started in the slot',
    value: (a) => a.dports.size,
    high: true,
  },
  {
    name: '1024-dest-ports',
    l4: BOTH,
    unit: 'ports',
    resolution: 1,
    definition: 'distinct responder ports ≤ 1024 of the outgoing flows started in the slot',
    value: (a) => {
      let n = 0;
      for (const p of a.dports) if (p <= 1024) n++;
      return n;
    },
    high: true,
  },
  ...perDir(
    'failure-ratio',
    ['tcp'],
    'fraction',
    0,
    (d) => `${d} TCP flows started in the slot that were not answered (no completed handshake; mid-stream: no responder packet) / those flows`,
    (a, d) => ratio(a.unanswered[d], a.started[d]),
    { pattern: UNANSWERED },
  ),
  ...perDir(
    'fract-unanswered-appl',
    ['tcp'],
    'fraction',
    0,
    (d) => `${d} TCP flows started in the slot that were answered but whose responder sent no payload / answered ones`,
    (a, d) => ratio(a.answeredNoPayload[d], a.answered[d]),
    { pattern: UNANSWERED },
  ),
  ...perDir(
    'fract-unanswered',
    ['udp'],
    'fraction',
    0,
    (d) => `${d} UDP flows started in the slot without a reply datagram / those flows`,
    (a, d) => ratio(a.unanswered[d], a.started[d]),
    { pattern: UNANSWERED },
  ),
  {
    name: 'ISP-to-Internet-ratio',
    l4: BOTH,
    unit: 'fraction',
    resolution: 0,
    definition: 'share of the distinct remote addresses of started flows inside the ISP (--isp or --local): ISP / (ISP + Internet)',
    value: (a, c) => {
      if (!a.peers.size) return null;
      let n = 0;
      for (const p of a.peers) if (c.inIsp(p)) n++;
      return n / a.peers.size;
    },
    isp: true,
  },
]);

/** A metric instantiated for one L4. */
export interface MetricDef extends MetricCalc {
  /** `<l4>-<name>`, e.g. `tcp-inout-avg-duration`. */
  id: string;
  proto: L4;
}

/** The metric list: TCP metrics, then UDP; the ISP metric only when `withIsp`. */
export function metricDefs(withIsp: boolean): MetricDef[] {
  const out: MetricDef[] = [];
  for (const proto of BOTH) {
    for (const c of METRIC_CALCS) {
      if (!c.l4.includes(proto) || (c.isp && !withIsp)) continue;
      out.push({ ...c, id: `${proto}-${c.name}`, proto });
    }
  }
  return out;
}

/** One host and slot. `values[i]` belongs to metrics[i] (null = undefined). */
export interface HostSample {
  host: string;
  /** Slot start, seconds since the epoch. */
  slot: number;
  values: (number | null)[];
  /** Flows started by / towards the host in the slot, all L4s. */
  startedOut: number;
  startedIn: number;
  /** Flows started per L4: [outgoing, incoming]. */
  started: Record<L4, [number, number]>;
  /** Bytes sent / received in the slot per L4 (time-proportional shares). */
  bytesSent: Record<L4, number>;
  bytesRcvd: Record<L4, number>;
}

/** All samples of an analysis. */
export interface SampleSet {
  slotSec: number;
  metrics: MetricDef[];
  samples: HostSample[];
  /** Local hosts with at least one sample, sorted. */
  hosts: string[];
  /** Flows read; flows with a local endpoint; flows with none (ignored). */
  flows: { total: number; local: number; ignored: number };
}

/** Options of buildSamples. */
export interface SampleOptions {
  /** Local (customer) address space: one sample series per address inside. */
  local: CidrSet;
  /** ISP address space (enables ISP-to-Internet-ratio). */
  isp?: CidrSet;
  /** Slot length ΔT, seconds (default DEFAULTS.analyze.slotSec, 300). */
  slotSec?: number;
}

/**
 * Aggregates flow records into host samples.
 * @throws RangeError when slotSec is not a positive number
 */
export function buildSamples(records: readonly FlowRecord[], opts: SampleOptions): SampleSet {
  const slotSec = opts.slotSec ?? DEFAULTS.analyze.slotSec;
  if (!(slotSec > 0)) throw new RangeError(`slot must be a positive number of seconds, got ${slotSec}`);
  const accs = new Map<string, { host: string; slot: number; l4: Partial<Record<L4, L4Acc>> }>();
  const get = (host: string, slot: number, l4: L4): L4Acc => {
    const k = `${host}\u0000${slot}`;
    let e = accs.get(k);
    if (!e) accs.set(k, (e = { host, slot, l4: {} }));
    return (e.l4[l4] ??= new L4Acc());
  };
  let local = 0;
  for (const r of records) {
    const sides: [string, 0 | 1, string][] = [];
    if (opts.local.has(r.src)) sides.push([r.src, 0, r.dst]);
    if (opts.local.has(r.dst) && r.dst !== r.src) sides.push([r.dst, 1, r.src]);
    if (!sides.length) continue;
    local++;
    const dur = r.ts_end - r.ts_start;
    const s0 = Math.floor(r.ts_start / slotSec);
    const s1 = Math.floor(r.ts_end / slotSec);
    for (const [host, d, remote] of sides) {
      const bs = d === 0 ? r.bytes_out : r.bytes_in;
      const ps = d === 0 ? r.pkts_out : r.pkts_in;
      const br = d === 0 ? r.bytes_in : r.bytes_out;
      const pr = d === 0 ? r.pkts_in : r.pkts_out;
      for (let s = s0; s <= s1; s++) {
        const a = get(host, s * slotSec, r.l4);
        a.live[d]++;
        const share = dur > 0 ? (Math.min(r.ts_end, (s + 1) * slotSec) - Math.max(r.ts_start, s * slotSec)) / dur : 1;
        a.bytesSent += bs * share;
        a.pktsSent += ps * share;
        a.bytesRcvd += br * share;
        a.pktsRcvd += pr * share;
        if (s !== s0) continue;
        a.started[d]++;
        a.durSum[d] += dur;
        if (r.answered) {
          a.answered[d]++;
          if (!r.resp_payload) a.answeredNoPayload[d]++;
        } else a.unanswered[d]++;
        a.peers.add(remote);
        if (d === 0) {
          a.dstIps.add(r.dst);
          a.dports.add(r.dport);
        }
      }
    }
  }
  const metrics = metricDefs(!!opts.isp);
  const inIspSet = opts.isp;
  const ctx = { slotSec, inIsp: (addr: string) => !!inIspSet?.has(addr) || opts.local.has(addr) };
  const samples: HostSample[] = [];
  const hosts = new Set<string>();
  for (const e of accs.values()) {
    hosts.add(e.host);
    const values = metrics.map((m) => {
      const a = e.l4[m.proto];
      return a ? m.value(a, ctx) : null;
    });
    const sum = (f: (a: L4Acc) => number): number => (e.l4.tcp ? f(e.l4.tcp) : 0) + (e.l4.udp ? f(e.l4.udp) : 0);
    samples.push({
      host: e.host,
      slot: e.slot,
      values,
      startedOut: sum((a) => a.started[0]),
      startedIn: sum((a) => a.started[1]),
      started: { tcp: e.l4.tcp ? [...e.l4.tcp.started] : [0, 0], udp: e.l4.udp ? [...e.l4.udp.started] : [0, 0] },
      bytesSent: { tcp: e.l4.tcp?.bytesSent ?? 0, udp: e.l4.udp?.bytesSent ?? 0 },
      bytesRcvd: { tcp: e.l4.tcp?.bytesRcvd ?? 0, udp: e.l4.udp?.bytesRcvd ?? 0 },
    });
  }
  samples.sort((a, b) => a.slot - b.slot || (a.host < b.host ? -1 : a.host > b.host ? 1 : 0));
  return { slotSec, metrics, samples, hosts: [...hosts].sort(), flows: { total: records.length, local, ignored: records.length - local } };
}
