/**
 * Findings of `p2pgw analyze`: domain rules after the ISP P2P behaviour study, applied to the
 * flows, the host samples and the interesting regions found by per-metric DBSCAN. Each finding
 * names the hosts, the time slots and example flows (its evidence).
 *
 * Rules (thresholds in RuleOptions, defaults in DEFAULT_RULES):
 * - `reserved-port`: P2P flows to reserved UDP ports (0–1023). A flow is P2P when classified as a
 *   P2P application or sent from a local UDP endpoint (address, port) that carried a classified P2P
 *   flow (obfuscated Kad from the Kad port). At least `reservedMinFlows` per port. Port 53 above
 *   all: peers sending DHT traffic to DNS servers hint at poisoned peer lists used for DDoS.
 * - `departed-peer` / `behind-nat`: samples where the incoming flows are mostly unanswered
 *   (udp-outin-fract-unanswered or tcp-outin-failure-ratio ≥ `unansweredMinFraction`, at least
 *   `unansweredMinIncoming` incoming flows of that L4, sample interesting in the metric), in at
 *   least `minSlots` slots of a host. The host *departed* (left, but its address is still in peer
 *   lists) when it started no flow in most of those slots; otherwise it sits *behind NAT* or a
 *   firewall (it works, but cannot be reached).
 * - `selfish`: ratio-bytes-sent-to-rcvd ≤ `selfishMaxRatio` (near −1) and interesting, in slots
 *   where the host received at least `selfishMinBytes`; in ≥ `minSlots` slots and ≥
 *   `minShare` of the host's such slots.
 * - `repeated-server`: ≥ `repeatedMinConn` TCP connections from one host to the same server
 *   (address and port) in a slot whose tcp-avg-conn-per-IP is interesting, in ≥ `minSlots` slots:
 *   a possibly fake server (answers, never serves) or a full one (refuses, the client retries).
 * - `aggressive`: hosts whose samples lie in the interesting region above the main cluster in at
 *   least `aggressiveMinMetrics` activity metrics (live connections, rates, attempts, peers,
 *   ports), each in ≥ `minSlots` slots and ≥ `minShare` of the host's samples of that metric.
 */
import type { FlowRecord } from '../flowrecord.js';
import type { CidrSet } from './cidr.js';
import { P2P_APPS } from './input.js';
import type { HostSample, L4, SampleSet } from './metrics.js';
import type { Interesting } from './analyze.js';

/** Thresholds of the rules. */
export interface RuleOptions {
  reservedMaxPort: number;
  reservedMinFlows: number;
  unansweredMinFraction: number;
  unansweredMinIncoming: number;
  selfishMaxRatio: number;
  /** Bytes received in a slot (per L4) for the slot to count for selfishness. */
  selfishMinBytes: number;
  repeatedMinConn: number;
  aggressiveMinMetrics: number;
  /** Slots a host must show a behaviour in. */
  minSlots: number;
  /** Share of the host's relevant samples that must show it (selfish, aggressive). */
  minShare: number;
}

export const DEFAULT_RULES: Readonly<RuleOptions> = Object.freeze({
  reservedMaxPort: 1023,
  reservedMinFlows: 5,
  unansweredMinFraction: 0.8,
  unansweredMinIncoming: 5,
  selfishMaxRatio: -0.9,
  selfishMinBytes: 1_000_000,
  repeatedMinConn: 2,
  aggressiveMinMetrics: 5,
  minSlots: 3,
  minShare: 0.5,
});

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

const example = (r: FlowRecord): FlowExample => ({
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

const sortedSlots = (s: Iterable<number>): number[] => [...new Set(s)].sort((a, b) => a - b).slice(0, 500);
const byCount = (m: Map<string, number>): string[] => [...m.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([k]) => k);
const inc = <K>(m: Map<K, number>, k: K, n = 1): void => void m.set(k, (m.get(k) ?? 0) + n);

/** Context shared by the rules. */
interface Ctx {
  records: readonly FlowRecord[];
  set: SampleSet;
  it: Interesting;
  local: CidrSet;
  rules: RuleOptions;
  metricIndex: (id: string) => number;
  sampleAt: (host: string, slot: number) => number;
  slotOf: (ts: number) => number;
}

/**
 * Applies every rule.
 * @returns findings, most severe first
 */
export function findFindings(
  records: readonly FlowRecord[],
  set: SampleSet,
  it: Interesting,
  o: { local: CidrSet; rules: RuleOptions },
): Finding[] {
  const mIdx = new Map(set.metrics.map((m, i) => [m.id, i]));
  const sIdx = new Map(set.samples.map((s, i) => [`${s.host}\u0000${s.slot}`, i]));
  const ctx: Ctx = {
    records,
    set,
    it,
    local: o.local,
    rules: o.rules,
    metricIndex: (id) => mIdx.get(id) ?? -1,
    sampleAt: (h, s) => sIdx.get(`${h}\u0000${s}`) ?? -1,
    slotOf: (ts) => Math.floor(ts / set.slotSec) * set.slotSec,
  };
  const out = [...reservedPorts(ctx), ...unansweredIncoming(ctx), ...selfish(ctx), ...repeatedServer(ctx), ...aggressive(ctx)];
  const rank = { high: 0, medium: 1, low: 2 };
  return out.sort((a, b) => rank[a.severity] - rank[b.severity]);
}

/** Metric ids (of `ids`) interesting in any of the given (host, slot) samples. */
function supporting(ctx: Ctx, ids: string[], pairs: Iterable<[string, number]>): string[] {
  const idx = [...pairs].map(([h, s]) => ctx.sampleAt(h, s)).filter((i) => i >= 0);
  return ids.filter((id) => {
    const m = ctx.metricIndex(id);
    return m >= 0 && idx.some((i) => ctx.it.flags[m][i]);
  });
}

function reservedPorts(ctx: Ctx): Finding[] {
  const p2pEndpoints = new Set<string>();
  for (const r of ctx.records) if (r.l4 === 'udp' && r.app && P2P_APPS.has(r.app)) p2pEndpoints.add(`${r.src}|${r.sport}`);
  const byPort = new Map<number, FlowRecord[]>();
  for (const r of ctx.records) {
    if (r.l4 !== 'udp' || r.dport > ctx.rules.reservedMaxPort) continue;
    if (!(r.app && P2P_APPS.has(r.app)) && !p2pEndpoints.has(`${r.src}|${r.sport}`)) continue;
    if (!ctx.local.has(r.src) && !ctx.local.has(r.dst)) continue;
    let l = byPort.get(r.dport);
    if (!l) byPort.set(r.dport, (l = []));
    l.push(r);
  }
  const out: Finding[] = [];
  for (const [port, flows] of [...byPort.entries()].sort((a, b) => a[0] - b[0])) {
    if (flows.length < ctx.rules.reservedMinFlows) continue;
    const hosts = new Map<string, number>();
    const targets = new Map<string, number>();
    const pairs: [string, number][] = [];
    for (const r of flows) {
      const h = ctx.local.has(r.src) ? r.src : r.dst;
      inc(hosts, h);
      inc(targets, r.dst);
      pairs.push([h, ctx.slotOf(r.ts_start)]);
    }
    const answered = flows.filter((r) => r.answered).length;
    const dns = port === 53;
    const hostList = byCount(hosts);
    out.push({
      rule: 'reserved-port',
      title: dns ? 'P2P traffic to UDP port 53 (DNS): possible DDoS by poisoned peer lists' : `P2P traffic to reserved UDP port ${port}`,
      severity: dns ? 'high' : 'medium',
      summary: `${flows.length} P2P flows from ${hosts.size} host(s) to ${targets.size} target(s) on udp/${port}; ${answered} answered.${
        dns ? ' DHT peers that send to DNS servers were probably given poisoned peer lists naming those servers.' : ''
      }`,
      hosts: hostList,
      slots: sortedSlots(pairs.map((p) => p[1])),
      metrics: supporting(ctx, ['udp-1024-dest-ports', 'udp-dest-ports', 'udp-total-peers', 'udp-inout-fract-unanswered'], pairs),
      evidence: {
        port,
        flows: flows.length,
        answered,
        perHost: Object.fromEntries(hostList.map((h) => [h, hosts.get(h)])),
        targets: Object.fromEntries(byCount(targets).slice(0, 10).map((t) => [t, targets.get(t)])),
        distinctTargets: targets.size,
      },
      examples: flows.slice(0, 5).map(example),
    });
  }
  return out;
}

function unansweredIncoming(ctx: Ctx): Finding[] {
  const checks: [L4, number][] = (
    [
      ['udp', ctx.metricIndex('udp-outin-fract-unanswered')],
      ['tcp', ctx.metricIndex('tcp-outin-failure-ratio')],
    ] as [L4, number][]
  ).filter(([, m]) => m >= 0);
  const perHost = new Map<string, { slots: Set<number>; silent: number; active: number; incoming: number; metrics: Set<string> }>();
  ctx.set.samples.forEach((s: HostSample, i) => {
    for (const [l4, m] of checks) {
      const v = s.values[m];
      if (v === null || v < ctx.rules.unansweredMinFraction || !ctx.it.flags[m][i]) continue;
      if (s.started[l4][1] < ctx.rules.unansweredMinIncoming) continue;
      let e = perHost.get(s.host);
      if (!e) perHost.set(s.host, (e = { slots: new Set(), silent: 0, active: 0, incoming: 0, metrics: new Set() }));
      if (!e.slots.has(s.slot)) {
        e.slots.add(s.slot);
        if (s.startedOut === 0) e.silent++;
        else e.active++;
      }
      e.incoming += s.started[l4][1];
      e.metrics.add(ctx.set.metrics[m].id);
    }
  });
  const groups: Record<'departed-peer' | 'behind-nat', string[]> = { 'departed-peer': [], 'behind-nat': [] };
  for (const [h, e] of perHost) {
    if (e.slots.size < ctx.rules.minSlots) continue;
    groups[e.silent >= e.active ? 'departed-peer' : 'behind-nat'].push(h);
  }
  const out: Finding[] = [];
  for (const rule of ['departed-peer', 'behind-nat'] as const) {
    const hosts = groups[rule].sort((a, b) => perHost.get(b)!.slots.size - perHost.get(a)!.slots.size || (a < b ? -1 : 1));
    if (!hosts.length) continue;
    const slots = hosts.flatMap((h) => [...perHost.get(h)!.slots]);
    const slotSet = new Set(hosts.flatMap((h) => [...perHost.get(h)!.slots].map((s) => `${h}\u0000${s}`)));
    const examples = ctx.records.filter((r) => !r.answered && slotSet.has(`${r.dst}\u0000${ctx.slotOf(r.ts_start)}`)).slice(0, 5);
    const departed = rule === 'departed-peer';
    out.push({
      rule,
      title: departed ? 'Departed peers still contacted: incoming flows unanswered' : 'Peers behind NAT or a firewall: incoming flows unanswered',
      severity: 'medium',
      summary: departed
        ? `${hosts.length} host(s) receive mostly unanswered incoming flows while starting none: they left, and their addresses live on in other peers' lists.`
        : `${hosts.length} host(s) receive mostly unanswered incoming flows while still starting flows themselves: they cannot be reached (NAT, firewall).`,
      hosts,
      slots: sortedSlots(slots),
      metrics: [...new Set(hosts.flatMap((h) => [...perHost.get(h)!.metrics]))].sort(),
      evidence: {
        perHost: Object.fromEntries(
          hosts.map((h) => {
            const e = perHost.get(h)!;
            const sl = [...e.slots].sort((a, b) => a - b);
            return [h, { slots: sl.length, slotsWithoutOwnFlows: e.silent, slotsWithOwnFlows: e.active, incomingFlows: e.incoming, firstSlot: sl[0], lastSlot: sl[sl.length - 1] }];
          }),
        ),
      },
      examples: examples.map(example),
    });
  }
  return out;
}

function selfish(ctx: Ctx): Finding[] {
  const perHost = new Map<string, { heavy: number; hit: number; slots: number[]; sent: number; rcvd: number; ratios: number[]; metric: string }>();
  for (const l4 of ['tcp', 'udp'] as const) {
    const m = ctx.metricIndex(`${l4}-ratio-bytes-sent-to-rcvd`);
    if (m < 0) continue;
    const per = new Map<string, { heavy: number; hit: number; slots: number[]; sent: number; rcvd: number; ratios: number[] }>();
    ctx.set.samples.forEach((s, i) => {
      const v = s.values[m];
      if (v === null || s.bytesRcvd[l4] < ctx.rules.selfishMinBytes) return;
      let e = per.get(s.host);
      if (!e) per.set(s.host, (e = { heavy: 0, hit: 0, slots: [], sent: 0, rcvd: 0, ratios: [] }));
      e.heavy++;
      if (v <= ctx.rules.selfishMaxRatio && ctx.it.flags[m][i]) {
        e.hit++;
        e.slots.push(s.slot);
        e.sent += s.bytesSent[l4];
        e.rcvd += s.bytesRcvd[l4];
        e.ratios.push(v);
      }
    });
    for (const [h, e] of per) {
      if (e.hit < ctx.rules.minSlots || e.hit < ctx.rules.minShare * e.heavy) continue;
      const prev = perHost.get(h);
      if (!prev || e.hit > prev.hit) perHost.set(h, { ...e, metric: ctx.set.metrics[m].id });
    }
  }
  if (!perHost.size) return [];
  const hosts = [...perHost.keys()].sort((a, b) => perHost.get(b)!.rcvd - perHost.get(a)!.rcvd);
  const slotSet = new Set(hosts.flatMap((h) => perHost.get(h)!.slots.map((s) => `${h}\u0000${s}`)));
  const examples = ctx.records
    .filter((r) => {
      const h = ctx.local.has(r.src) && perHost.has(r.src) ? r.src : r.dst;
      return perHost.has(h) && slotSet.has(`${h}\u0000${ctx.slotOf(r.ts_start)}`);
    })
    .sort((a, b) => b.bytes_in + b.bytes_out - (a.bytes_in + a.bytes_out))
    .slice(0, 5);
  return [
    {
      rule: 'selfish',
      title: 'Selfish hosts: download without uploading',
      severity: 'low',
      summary: `${hosts.length} host(s) receive heavily while sending almost nothing (ratio-bytes-sent-to-rcvd near −1) in most of their busy slots.`,
      hosts,
      slots: sortedSlots(hosts.flatMap((h) => perHost.get(h)!.slots)),
      metrics: [...new Set(hosts.map((h) => perHost.get(h)!.metric))].sort(),
      evidence: {
        perHost: Object.fromEntries(
          hosts.map((h) => {
            const e = perHost.get(h)!;
            const r = [...e.ratios].sort((a, b) => a - b);
            return [h, { slots: e.hit, busySlots: e.heavy, bytesSent: Math.round(e.sent), bytesRcvd: Math.round(e.rcvd), medianRatio: r[r.length >> 1], metric: e.metric }];
          }),
        ),
      },
      examples: examples.map(example),
    },
  ];
}

function repeatedServer(ctx: Ctx): Finding[] {
  const m = ctx.metricIndex('tcp-avg-conn-per-IP');
  if (m < 0) return [];
  const perSlot = new Map<string, FlowRecord[]>();
  for (const r of ctx.records) {
    if (r.l4 !== 'tcp' || !ctx.local.has(r.src)) continue;
    const k = `${r.src}\u0000${r.dst}|${r.dport}\u0000${ctx.slotOf(r.ts_start)}`;
    let l = perSlot.get(k);
    if (!l) perSlot.set(k, (l = []));
    l.push(r);
  }
  const pairs = new Map<string, { host: string; server: string; slots: number[]; flows: FlowRecord[] }>();
  for (const [k, flows] of perSlot) {
    if (flows.length < ctx.rules.repeatedMinConn) continue;
    const [host, server, slotText] = k.split('\u0000');
    const slot = Number(slotText);
    const i = ctx.sampleAt(host, slot);
    if (i < 0 || !ctx.it.flags[m][i]) continue;
    const pk = `${host}\u0000${server}`;
    let e = pairs.get(pk);
    if (!e) pairs.set(pk, (e = { host, server, slots: [], flows: [] }));
    e.slots.push(slot);
    e.flows.push(...flows);
  }
  const byServer = new Map<string, { host: string; slots: number[]; flows: FlowRecord[] }[]>();
  for (const e of pairs.values()) {
    if (e.slots.length < ctx.rules.minSlots) continue;
    let l = byServer.get(e.server);
    if (!l) byServer.set(e.server, (l = []));
    l.push(e);
  }
  const out: Finding[] = [];
  for (const [server, list] of byServer) {
    list.sort((a, b) => b.flows.length - a.flows.length);
    const flows = list.flatMap((e) => e.flows);
    const answered = flows.filter((r) => r.answered).length;
    const payload = flows.filter((r) => r.resp_payload).length;
    const meanDur = flows.reduce((a, r) => a + r.ts_end - r.ts_start, 0) / flows.length;
    const hint =
      answered < 0.5 * flows.length
        ? 'the server mostly does not answer: it is full or gone, and the client keeps retrying'
        : 'the server accepts and soon closes: a full server turning clients away, or a fake server';
    out.push({
      rule: 'repeated-server',
      title: `Repeated TCP connections to ${server}: possible fake or full server`,
      severity: 'medium',
      summary: `${list.length} host(s) opened ${flows.length} connections to ${server}, more than one per slot in ${new Set(list.flatMap((e) => e.slots)).size} slot(s); ${hint}.`,
      hosts: list.map((e) => e.host),
      slots: sortedSlots(list.flatMap((e) => e.slots)),
      metrics: ['tcp-avg-conn-per-IP'],
      evidence: {
        server,
        connections: flows.length,
        answered,
        withServerPayload: payload,
        meanDurationSec: Math.round(meanDur * 1000) / 1000,
        perHost: Object.fromEntries(list.map((e) => [e.host, { slots: e.slots.length, connections: e.flows.length, perSlot: +(e.flows.length / e.slots.length).toFixed(2) }])),
      },
      examples: flows.slice(0, 5).map(example),
    });
  }
  return out;
}

function aggressive(ctx: Ctx): Finding[] {
  const highMetrics = ctx.set.metrics.map((m, i) => [m, i] as const).filter(([m]) => m.high);
  const perHost = new Map<string, { defined: number[]; hits: number[]; slots: Set<number> }>();
  ctx.set.samples.forEach((s, i) => {
    let e = perHost.get(s.host);
    if (!e) perHost.set(s.host, (e = { defined: new Array(highMetrics.length).fill(0), hits: new Array(highMetrics.length).fill(0), slots: new Set() }));
    highMetrics.forEach(([, m], k) => {
      if (s.values[m] === null) return;
      e!.defined[k]++;
      if (ctx.it.flags[m][i] && ctx.it.high[m][i]) {
        e!.hits[k]++;
        e!.slots.add(s.slot);
      }
    });
  });
  const found = new Map<string, { metrics: string[]; slots: number[] }>();
  for (const [h, e] of perHost) {
    const metrics = highMetrics.filter((_, k) => e.hits[k] >= ctx.rules.minSlots && e.hits[k] >= ctx.rules.minShare * e.defined[k]).map(([m]) => m.id);
    if (metrics.length >= ctx.rules.aggressiveMinMetrics) found.set(h, { metrics, slots: [...e.slots] });
  }
  if (!found.size) return [];
  const hosts = [...found.keys()].sort((a, b) => found.get(b)!.metrics.length - found.get(a)!.metrics.length || (a < b ? -1 : 1));
  const examples = ctx.records.filter((r) => found.has(r.src)).slice(0, 5);
  return [
    {
      rule: 'aggressive',
      title: 'Aggressive peers: outliers in many activity metrics',
      severity: 'medium',
      summary: `${hosts.length} host(s) sit above the main cluster in ${ctx.rules.aggressiveMinMetrics} or more activity metrics in most of their slots.`,
      hosts,
      slots: sortedSlots(hosts.flatMap((h) => found.get(h)!.slots)),
      metrics: [...new Set(hosts.flatMap((h) => found.get(h)!.metrics))].sort(),
      evidence: { perHost: Object.fromEntries(hosts.map((h) => [h, { metrics: found.get(h)!.metrics, count: found.get(h)!.metrics.length }])) },
      examples: examples.map(example),
    },
  ];
}
