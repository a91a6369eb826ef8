/**
 * Sample-based rules of `p2pgw analyze` (see findings.ts): unanswered incoming flows (departed
 * peer or NAT), selfish hosts and aggressive peers.
 */
import type { HostSample, L4 } from './metrics.js';
import { example, sortedSlots, type Ctx, type Finding } from './rules-common.js';

/** Rules `departed-peer` and `behind-nat`. */
export function unansweredIncoming(ctx: Ctx): Finding[] {
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

/** Rule `selfish`. */
export function selfish(ctx: Ctx): Finding[] {
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

/** Rule `aggressive`. */
export function aggressive(ctx: Ctx): Finding[] {
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
