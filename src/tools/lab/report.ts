/**
 * Human-readable tables for the demo: the daemon's verdict lines (pino JSON objects whose `msg` is
 * `classified` or `blocked`, fields app, mark, l4, src, sport, dst, dport, verdict, rule, reason per
 * src/observe/log.ts) and the generator client's per-session results. Fields are read tolerantly
 * (`proto` for `l4`, `flow` for the endpoints, `action` for `verdict`) so the table survives small
 * changes of the log format.
 */
import type { SessionResult } from './gen-core.js';

/** A verdict line as parsed from the daemon's stderr, with the ms since the demo started. */
export interface Verdict {
  atMs: number;
  line: Record<string, unknown>;
}

/** True for a pino JSON line that is a verdict (`msg` classified or blocked). */
export function isVerdict(j: Record<string, unknown> | null): j is Record<string, unknown> {
  return !!j && (j.msg === 'classified' || j.msg === 'blocked');
}

const str = (v: unknown): string => (v === undefined || v === null ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v));

/** Formats rows as a left-aligned text table with a header and a rule line. */
export function table(head: string[], rows: string[][]): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]): string => r.map((c, i) => (c ?? '').padEnd(w[i])).join('  ').trimEnd();
  return [line(head), line(w.map((n) => '-'.repeat(n))), ...rows.map(line)].join('\n') + '\n';
}

/** `addr:port` with IPv6 in brackets. */
const ep = (a: unknown, p: unknown): string => (a === undefined ? '' : `${str(a).includes(':') ? `[${str(a)}]` : str(a)}${p === undefined ? '' : `:${str(p)}`}`);

/** The responder port a verdict names (`dport`, or the last number of `flow`), or undefined. */
export function verdictPort(j: Record<string, unknown>): number | undefined {
  if (typeof j.dport === 'number') return j.dport;
  const m = /:(\d+)\s*$/.exec(str(j.flow ?? j.dst ?? ''));
  return m ? Number(m[1]) : undefined;
}

/** Table of verdicts: time, msg, app, l4, flow, rule, verdict and mark. */
export function verdictTable(vs: readonly Verdict[]): string {
  if (vs.length === 0) return '(no verdict lines)\n';
  const rows = vs.map(({ atMs, line: j }) => [
    `${(atMs / 1000).toFixed(2)}s`,
    str(j.msg),
    str(j.app),
    str(j.l4 ?? j.proto),
    j.flow !== undefined ? str(j.flow) : `${ep(j.src, j.sport)} -> ${ep(j.dst, j.dport)}`,
    str(j.rule ?? j.sig ?? j.id),
    [str(j.verdict ?? j.action), j.mark !== undefined && j.mark !== null ? `mark=${str(j.mark)}` : ''].filter(Boolean).join(' '),
  ]);
  return table(['time', 'line', 'app', 'l4', 'flow', 'rule', 'verdict'], rows);
}

/** Table of client session results, with the daemon's app for the session's port when known. */
export function sessionTable(rs: readonly SessionResult[], vs: readonly Verdict[] = []): string {
  if (rs.length === 0) return '(no session results)\n';
  const byPort = new Map<number, string>();
  for (const { line } of vs) {
    const p = verdictPort(line);
    if (p !== undefined) byPort.set(p, `${str(line.msg)}:${str(line.app)}`);
  }
  const rows = rs.map((r) => [
    r.name.length > 48 ? r.name.slice(0, 47) + '…' : r.name,
    `${r.l4}/${r.port}`,
    r.ok ? 'ok' : 'FAIL',
    r.reset ? 'reset' : '',
    String(r.bytesSent),
    String(r.bytesReceived),
    `${r.ms}ms`,
    byPort.get(r.port) ?? '-',
    r.error ?? '',
  ]);
  return table(['session', 'port', 'result', 'rst', 'sent', 'recv', 'time', 'daemon', 'error'], rows);
}
