/**
 * `p2pgw status [--socket PATH] [--json] [--config FILE]`: asks the running daemon (Unix socket,
 * mode 0600) for its status document and prints it as tables (endpoint table, applications,
 * shaping classes, resources, counters) or as JSON (`"running": true` first). Exit codes: 0 the
 * daemon answered, 3 no daemon runs (with `--json`, `{"running": false, "socket": …, "error": …}`
 * is printed first), 2 usage or config error, 1 anything else.
 */
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';
import { APPS } from '../apps/registry.js';
import { loadConfig } from '../config/load.js';
import { readStatus } from '../observe/status.js';
import { P2pgwError } from '../core/errors.js';
import { EXIT_NOT_RUNNING } from '../runtime/exit.js';

/** Formats rows as an aligned text table (first row = header). */
export function table(rows: string[][]): string {
  const w = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  ').trimEnd()).join('\n');
}

const human = (n: number): string => {
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) (n /= 1024), i++;
  return `${n.toFixed(i ? 1 : 0)} ${u[i]}`;
};

interface StatusDoc {
  pid: number;
  uptime_s: number;
  flows: number;
  held: number;
  counters: Record<string, number>;
  apps?: { app: string; mark: number; action: string; flows: number; blocks: number; live_connections: number; live_bytes: number }[];
  shaping?: { dev: string; classid: string; role?: string; app?: string; rateBps?: number; bytes: number; packets: number; drops: number; overlimits: number }[] | null;
  daemon?: { cpu_percent: number; rss_bytes: number };
  system?: { mem_total_bytes: number; mem_available_bytes: number; load_percent: number | null };
  /** Endpoint knowledge (src/flow/endpoints.ts EndpointStats); null/absent when off. */
  endpoints?: {
    size: number; capacity: number; hits: number; evicted?: number; expired?: number;
    learned?: Record<string, number>; hits_by_source?: Record<string, number>;
  } | null;
}

/** `dht 3, flow 1` from a per-source count, or `none`. */
const bySource = (m: Record<string, number> | undefined): string => {
  const e = Object.entries(m ?? {});
  return e.length ? e.map(([k, v]) => `${k} ${v}`).join(', ') : 'none';
};

/** The endpoint table's lines: size of capacity, hits (per source), learned per source. */
export function renderEndpoints(e: NonNullable<StatusDoc['endpoints']>): string[] {
  return [
    `endpoints: ${e.size} known of ${e.capacity}, ${e.hits} hits (${bySource(e.hits_by_source)}), ${e.evicted ?? 0} evicted, ${e.expired ?? 0} expired`,
    `endpoints learned: ${bySource(e.learned)}`,
  ];
}

/** Renders the status document as text. */
export function renderStatus(st: StatusDoc): string {
  const out: string[] = [];
  const d = st.daemon;
  out.push(
    `p2pgw pid ${st.pid}, up ${st.uptime_s} s, ${st.flows} flows tracked, ${st.held} packets held` +
      (d ? `, CPU ${d.cpu_percent}%, RSS ${human(d.rss_bytes)}` : ''),
  );
  if (st.system) {
    out.push(`system: load ${st.system.load_percent ?? '?'}%, memory ${human(st.system.mem_available_bytes)} free of ${human(st.system.mem_total_bytes)}`);
  }
  if (st.endpoints) out.push(...renderEndpoints(st.endpoints));
  if (st.apps?.length) {
    out.push('', table([
      ['application', 'mark', 'action', 'flows', 'blocks', 'live conns', 'live bytes'],
      ...st.apps.map((a) => [a.app, `0x${a.mark.toString(16)}`, a.action, String(a.flows), String(a.blocks), String(a.live_connections), human(a.live_bytes)]),
    ]));
  }
  if (st.shaping?.length) {
    out.push('', table([
      ['dev', 'class', 'for', 'rate', 'sent', 'packets', 'drops', 'overlimits'],
      ...st.shaping.map((c) => [c.dev, c.classid, c.app ?? c.role ?? '', c.rateBps ? `${(c.rateBps / 1e6).toFixed(1)} Mbit` : '', human(c.bytes), String(c.packets), String(c.drops), String(c.overlimits)]),
    ]));
  }
  const c = Object.entries(st.counters);
  if (c.length) out.push('', table([['counter', 'value'], ...c.map(([k, v]) => [k, String(v)])]));
  return `${out.join('\n')}\n`;
}

/** The options of `p2pgw status`. */
export const STATUS_OPTIONS = {
  socket: { type: 'string' },
  json: { type: 'boolean', default: false },
  config: { type: 'string' },
} as const satisfies ParseArgsOptionsConfig;

/**
 * Runs `p2pgw status`: reads the status document from `--socket` (default: the config's
 * `status.socket`) and prints it as tables, or as JSON with `--json`.
 * @param argv arguments after `status`
 * @param out where the document goes (default stdout)
 * @returns exit code 0; with `--json` and no daemon, 3 after printing `{"running": false, …}`
 * @throws P2pgwError(P2PGW_ERR_NOT_RUNNING) (exit 3) when no daemon answers (text output);
 *   P2pgwError(P2PGW_ERR_NOT_ROOT) without permission on the socket; ConfigError without `--socket`
 */
export async function statusMain(argv: string[], out: { write(s: string): unknown } = process.stdout): Promise<number> {
  const { values } = parseArgs({ args: argv, options: STATUS_OPTIONS });
  const socket = values.socket ?? loadConfig(values.config, APPS.map((a) => a.name)).status.socket;
  let st: StatusDoc;
  try {
    st = (await readStatus(socket)) as unknown as StatusDoc;
  } catch (err) {
    if (!values.json || !(err instanceof P2pgwError) || err.code !== 'P2PGW_ERR_NOT_RUNNING') throw err;
    out.write(`${JSON.stringify({ running: false, socket, error: err.message }, null, 2)}\n`);
    return EXIT_NOT_RUNNING;
  }
  out.write(values.json ? `${JSON.stringify({ running: true, ...st }, null, 2)}\n` : renderStatus(st));
  return 0;
}
