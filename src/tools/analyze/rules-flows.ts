/**
 * Flow-based rules of `p2pgw analyze` (see findings.ts): P2P flows to reserved UDP ports, and
 * repeated TCP connections to one server.
 */
import type { FlowRecord } from '../../observe/flowrecord.js';
import { P2P_APPS } from './input.js';
import { byCount, endpoint, example, inc, sortedSlots, supporting, type Ctx, type Finding } from './rules-common.js';

/** Rule `reserved-port`. */
export function reservedPorts(ctx: Ctx): Finding[] {
  const max = ctx.rules.reservedMaxPort;
  const candidates = ctx.records.filter((r) => r.l4 === 'udp' && r.dport <= max && (ctx.local.has(r.src) || ctx.local.has(r.dst)));
  // Local UDP endpoints of the candidates that also carried a classified P2P flow.
  const wanted = new Set(candidates.filter((r) => !(r.app && P2P_APPS.has(r.app))).map((r) => `${r.src}|${r.sport}`));
  const p2pEndpoints = new Set<string>();
  if (wanted.size) {
    for (const r of ctx.records) {
      if (r.l4 !== 'udp' || !r.app || !P2P_APPS.has(r.app)) continue;
      for (const e of [`${r.src}|${r.sport}`, `${r.dst}|${r.dport}`]) if (wanted.has(e)) p2pEndpoints.add(e);
    }
  }
  const byPort = new Map<number, FlowRecord[]>();
  for (const r of candidates) {
    if (!(r.app && P2P_APPS.has(r.app)) && !p2pEndpoints.has(`${r.src}|${r.sport}`)) continue;
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

/** Rule `repeated-server`. */
export function repeatedServer(ctx: Ctx): Finding[] {
  const m = ctx.metricIndex('tcp-avg-conn-per-IP');
  if (m < 0) return [];
  const perSlot = new Map<string, FlowRecord[]>();
  for (const r of ctx.records) {
    if (r.l4 !== 'tcp' || !ctx.local.has(r.src)) continue;
    const k = `${r.src}\u0000${endpoint(r.dst, r.dport)}\u0000${ctx.slotOf(r.ts_start)}`;
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

