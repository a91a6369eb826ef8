/**
 * The sink's report: requests per protocol, the CDF of requests per source address, requests by
 * hour of day; as JSON (`SinkReport`) and as text tables.
 *
 * Attribution: a request is counted as the application its payload was classified as
 * (`by_payload`). An unclassified request sent to the same (L4, original destination address,
 * original destination port) as a classified one counts as that application too (`by_endpoint`):
 * peers announce that endpoint for that protocol, so whatever else arrives there is its traffic
 * (when several applications were seen at one endpoint, the most frequent wins; ties by name).
 * Everything else is `unknown`.
 *
 * Memory is bounded by the number of distinct endpoints and source addresses, not by requests:
 * each request only updates counters. Sources beyond `maxSources` are counted in
 * `sources.untracked` (and left out of the CDF).
 */
import type { SinkRequest } from './collector.js';

/** Name used for requests no application claims. */
export const UNKNOWN = 'unknown';

export interface ProtocolRow {
  app: string;
  requests: number;
  /** Share of all requests, percent (2 decimals). */
  percent: number;
  tcp: number;
  udp: number;
  by_payload: number;
  by_endpoint: number;
}

export interface CdfPoint {
  /** A number of requests k. */
  requests: number;
  /** Source addresses that sent exactly k requests. */
  sources: number;
  /** Fraction of sources that sent at most k requests (0..1, 6 decimals). */
  cdf: number;
}

export interface SinkReport {
  version: 1;
  /** ISO 8601 times and duration of the run, seconds. */
  started: string;
  ended: string;
  duration_s: number;
  wan: string;
  listen: string;
  tcp_port: number;
  udp_port: number;
  /** Tc, seconds. */
  idle_s: number;
  total: number;
  tcp: number;
  udp: number;
  /** Requests whose original destination conntrack did not know (they stay `unknown` unless classified). */
  orig_dst_unknown: number;
  protocols: ProtocolRow[];
  sources: { distinct: number; untracked: number; max: number; cdf: CdfPoint[] };
  /** `local` (with the time zone) or `utc`. */
  hour_basis: 'local' | 'utc';
  timezone: string;
  hours: { hour: number; requests: number; apps: Record<string, number> }[];
  counters: Record<string, number>;
}

interface Endpoint {
  l4: 'tcp' | 'udp';
  apps: Map<string, number>;
  appHours: Map<string, number[]>;
  unknown: number;
  unknownHours: number[];
}

const hours0 = (): number[] => new Array<number>(24).fill(0);
const round = (x: number, d: number): number => Math.round(x * 10 ** d) / 10 ** d;

/** Collects requests and builds the report. */
export class SinkStats {
  private readonly endpoints = new Map<string, Endpoint>();
  private readonly sources = new Map<string, number>();
  private untracked = 0;
  private total = 0;
  private readonly l4 = { tcp: 0, udp: 0 };
  private origUnknown = 0;

  constructor(private readonly opts: { utc?: boolean; maxSources?: number } = {}) {}

  /** Hour of day (0-23) of `ts` (seconds since the epoch) in the report's basis. */
  hourOf(ts: number): number {
    const d = new Date(ts * 1000);
    return this.opts.utc ? d.getUTCHours() : d.getHours();
  }

  add(r: SinkRequest): void {
    this.total++;
    this.l4[r.l4]++;
    if (r.dport === null) this.origUnknown++;
    const n = this.sources.get(r.src);
    if (n !== undefined) this.sources.set(r.src, n + 1);
    else if (this.sources.size < (this.opts.maxSources ?? 1_000_000)) this.sources.set(r.src, 1);
    else this.untracked++;
    const key = r.dport === null ? `${r.l4}|?|${r.src}|${r.sport}` : `${r.l4}|${r.dst}|${r.dport}`;
    let ep = this.endpoints.get(key);
    if (!ep) {
      ep = { l4: r.l4, apps: new Map(), appHours: new Map(), unknown: 0, unknownHours: hours0() };
      this.endpoints.set(key, ep);
    }
    const h = this.hourOf(r.ts);
    if (r.app) {
      ep.apps.set(r.app, (ep.apps.get(r.app) ?? 0) + 1);
      const hs = ep.appHours.get(r.app) ?? hours0();
      hs[h]++;
      ep.appHours.set(r.app, hs);
    } else {
      ep.unknown++;
      ep.unknownHours[h]++;
    }
  }

  /** The report so far. `meta` fills the descriptive fields. */
  report(meta: {
    started: Date;
    ended: Date;
    wan: string;
    listen: string;
    tcpPort: number;
    udpPort: number;
    idleS: number;
    counters: Record<string, number>;
  }): SinkReport {
    const rows = new Map<string, ProtocolRow>();
    const row = (app: string): ProtocolRow => {
      let r = rows.get(app);
      if (!r) rows.set(app, (r = { app, requests: 0, percent: 0, tcp: 0, udp: 0, by_payload: 0, by_endpoint: 0 }));
      return r;
    };
    const hours = Array.from({ length: 24 }, (_, hour) => ({ hour, requests: 0, apps: {} as Record<string, number> }));
    const addHours = (app: string, hs: number[]): void => {
      hs.forEach((c, h) => {
        if (!c) return;
        hours[h].requests += c;
        hours[h].apps[app] = (hours[h].apps[app] ?? 0) + c;
      });
    };
    for (const ep of this.endpoints.values()) {
      for (const [app, c] of ep.apps) {
        const r = row(app);
        r.requests += c;
        r.by_payload += c;
        r[ep.l4] += c;
        addHours(app, ep.appHours.get(app)!);
      }
      if (!ep.unknown) continue;
      const owner = [...ep.apps].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))[0]?.[0];
      const r = row(owner ?? UNKNOWN);
      r.requests += ep.unknown;
      r[ep.l4] += ep.unknown;
      if (owner) r.by_endpoint += ep.unknown;
      addHours(owner ?? UNKNOWN, ep.unknownHours);
    }
    const protocols = [...rows.values()]
      .map((r) => ({ ...r, percent: this.total ? round((100 * r.requests) / this.total, 2) : 0 }))
      .sort((a, b) => Number(a.app === UNKNOWN) - Number(b.app === UNKNOWN) || b.requests - a.requests || a.app.localeCompare(b.app));

    const perCount = new Map<number, number>();
    for (const c of this.sources.values()) perCount.set(c, (perCount.get(c) ?? 0) + 1);
    let cum = 0;
    const cdf = [...perCount].sort((a, b) => a[0] - b[0]).map(([requests, sources]) => {
      cum += sources;
      return { requests, sources, cdf: round(cum / this.sources.size, 6) };
    });
    return {
      version: 1,
      started: meta.started.toISOString(),
      ended: meta.ended.toISOString(),
      duration_s: round((meta.ended.getTime() - meta.started.getTime()) / 1000, 3),
      wan: meta.wan,
      listen: meta.listen,
      tcp_port: meta.tcpPort,
      udp_port: meta.udpPort,
      idle_s: meta.idleS,
      total: this.total,
      tcp: this.l4.tcp,
      udp: this.l4.udp,
      orig_dst_unknown: this.origUnknown,
      protocols,
      sources: { distinct: this.sources.size, untracked: this.untracked, max: cdf.at(-1)?.requests ?? 0, cdf },
      hour_basis: this.opts.utc ? 'utc' : 'local',
      timezone: this.opts.utc ? 'UTC' : Intl.DateTimeFormat().resolvedOptions().timeZone,
      hours,
      counters: meta.counters,
    };
  }
}

/** Columns two spaces apart, right-aligned (the first left-aligned when `textFirst`). */
function table(head: string[], rows: string[][], textFirst = true): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]): string => r.map((c, i) => (i === 0 && textFirst ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  ').trimEnd();
  return [line(head), ...rows.map(line)].join('\n');
}

/** The report as text: a header line and three tables. */
export function renderReport(r: SinkReport): string {
  const out: string[] = [];
  out.push(
    `p2pgw sink on ${r.wan} (${r.listen} tcp/${r.tcp_port} udp/${r.udp_port}, Tc ${r.idle_s} s): ` +
      `${r.total} request(s) (${r.tcp} tcp, ${r.udp} udp) from ${r.sources.distinct} source address(es) in ${r.duration_s} s` +
      (r.orig_dst_unknown ? `; original destination unknown for ${r.orig_dst_unknown}` : ''),
    '',
    'requests per protocol',
  );
  const pct = (x: number): string => `${x.toFixed(1)}%`;
  out.push(
    table(
      ['protocol', 'requests', 'percent', 'tcp', 'udp', 'by payload', 'by endpoint'],
      [
        ...r.protocols.map((p) => [p.app, String(p.requests), pct(p.percent), String(p.tcp), String(p.udp), String(p.by_payload), String(p.by_endpoint)]),
        ['total', String(r.total), pct(r.total ? 100 : 0), String(r.tcp), String(r.udp), '', ''],
      ],
    ),
    '',
    `requests per source address (CDF over ${r.sources.distinct} source(s)${r.sources.untracked ? `, ${r.sources.untracked} requests of untracked sources` : ''})`,
    table(['requests', 'sources', 'cdf'], r.sources.cdf.map((c) => [String(c.requests), String(c.sources), pct(100 * c.cdf)]), false),
    '',
    `requests by hour of day (${r.hour_basis === 'utc' ? 'UTC' : `local time, ${r.timezone}`})`,
  );
  const apps = r.protocols.map((p) => p.app);
  out.push(table(['hour', 'requests', ...apps], r.hours.map((h) => [String(h.hour).padStart(2, '0'), String(h.requests), ...apps.map((a) => String(h.apps[a] ?? 0))])));
  return `${out.join('\n')}\n`;
}
