/**
 * Shared parts of the analyze rules (findings.ts): thresholds, the Finding shape, the context the
 * rules read and small helpers. See findings.ts for the rules themselves.
 */
import type { FlowRecord } from '../../observe/flowrecord.js';
import type { CidrSet } from './cidr.js';
import type { SampleSet } from './metrics.js';

/** Interesting flags per metric (index = sample index), for the rules. */
export interface Interesting {
  /** flags[m][i] = 1 when sample i is in metric m's interesting region. */
  flags: Uint8Array[];
  /** high[m][i] = 1 when it is also above the median of the metric's largest cluster. */
  high: Uint8Array[];
}

/** Thresholds of the rules (see findings.ts for how each rule uses them; defaults: DEFAULTS.analyze.rules in src/core/defaults.ts). */
export interface RuleOptions {
  /** Highest destination port counted as reserved (UDP), default 1023. */
  reservedMaxPort: number;
  /** P2P flows to one reserved port needed for a finding. */
  reservedMinFlows: number;
  /** Unanswered share of incoming flows that counts as "mostly unanswered". */
  unansweredMinFraction: number;
  /** Incoming flows (of the L4) a sample needs for the unanswered rules. */
  unansweredMinIncoming: number;
  /** ratio-bytes-sent-to-rcvd at or below this is selfish (near −1). */
  selfishMaxRatio: number;
  /** Bytes received in a slot (per L4) for the slot to count for selfishness. */
  selfishMinBytes: number;
  /** TCP connections to one server in one slot that count as repeated. */
  repeatedMinConn: number;
  /** Activity metrics a host must be a high outlier in to be aggressive. */
  aggressiveMinMetrics: number;
  /** Slots a host must show a behaviour in. */
  minSlots: number;
  /** Share of the host's relevant samples that must show it (selfish, aggressive). */
  minShare: number;
}

/** Rule names, as `Finding.rule` and the host table use them. */
export type FindingRule = 'reserved-port' | 'departed-peer' | 'behind-nat' | 'selfish' | 'repeated-server' | 'aggressive';

/** The fields of a flow record shown as evidence. */
export type FlowExample = Pick<
  FlowRecord,
  'ts_start' | 'ts_end' | 'l4' | 'src' | 'sport' | 'dst' | 'dport' | 'app' | 'pkts_out' | 'bytes_out' | 'pkts_in' | 'bytes_in' | 'answered' | 'resp_payload'
>;

/** One finding. */
export interface Finding {
  rule: FindingRule;
  title: string;
  severity: 'high' | 'medium' | 'low';
  /** One sentence for people. */
  summary: string;
  /** Local hosts concerned, most involved first. */
  hosts: string[];
  /** Slot starts (epoch seconds) where the behaviour was seen, ascending (at most 500). */
  slots: number[];
  /** Metric ids whose interesting region supports the finding. */
  metrics: string[];
  /** Rule-specific numbers (per host, per target, …). */
  evidence: Record<string, unknown>;
  /** Up to 5 example flows. */
  examples: FlowExample[];
}

/** The evidence fields of a flow record. */
export const example = (r: FlowRecord): FlowExample => ({
  ts_start: r.ts_start,
  ts_end: r.ts_end,
  l4: r.l4,
  src: r.src,
  sport: r.sport,
  dst: r.dst,
  dport: r.dport,
  app: r.app,
  pkts_out: r.pkts_out,
  bytes_out: r.bytes_out,
  pkts_in: r.pkts_in,
  bytes_in: r.bytes_in,
  answered: r.answered,
  resp_payload: r.resp_payload,
});

/** Distinct slot starts, ascending, at most 500. */
export const sortedSlots = (s: Iterable<number>): number[] => [...new Set(s)].sort((a, b) => a - b).slice(0, 500);
/** Keys of a count map, largest count first (ties by key). */
export const byCount = (m: Map<string, number>): string[] => [...m.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([k]) => k);
/** Adds n to the count of k. */
export const inc = <K>(m: Map<K, number>, k: K, n = 1): void => void m.set(k, (m.get(k) ?? 0) + n);

/** Context shared by the rules. */
export interface Ctx {
  records: readonly FlowRecord[];
  set: SampleSet;
  it: Interesting;
  local: CidrSet;
  rules: RuleOptions;
  metricIndex: (id: string) => number;
  sampleAt: (host: string, slot: number) => number;
  slotOf: (ts: number) => number;
}


/** Metric ids (of `ids`) interesting in any of the given (host, slot) samples. */
export function supporting(ctx: Ctx, ids: string[], pairs: Iterable<[string, number]>): string[] {
  const idx = [...pairs].map(([h, s]) => ctx.sampleAt(h, s)).filter((i) => i >= 0);
  return ids.filter((id) => {
    const m = ctx.metricIndex(id);
    return m >= 0 && idx.some((i) => ctx.it.flags[m][i]);
  });
}


/** `addr:port`, with IPv6 addresses in brackets. */
export const endpoint = (addr: string, port: number): string => (addr.includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`);
