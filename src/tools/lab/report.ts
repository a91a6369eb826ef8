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

/** What the config says of a session: its traffic passes, or it is blocked (its application's action is `block`). */
export type Expectation = 'pass' | 'blocked';

/**
 * A session judged against the config: `ok` (passed, as expected), `blocked` (did not complete,
 * and its application is blocked: expected) or `FAIL` (against the config: a passing session that
 * failed, or a blocked one that completed), with a note for the table.
 */
export interface Judgement {
  result: 'ok' | 'blocked' | 'FAIL';
  againstConfig: boolean;
  note: string;
}

/**
 * Judges one session.
 * @param daemon the daemon's verdict for the session's port (`classified:<app>`, `blocked:<app>`), if any
 */
export function judgeSession(r: SessionResult, expect: Expectation, daemon?: string): Judgement {
  if (expect === 'pass') return r.ok ? { result: 'ok', againstConfig: false, note: '' } : { result: 'FAIL', againstConfig: true, note: r.error ?? 'did not complete' };
  if (r.ok) return { result: 'FAIL', againstConfig: true, note: `completed though the config blocks ${r.app}` };
  const how = r.reset ? 'reset' : (r.error ?? 'no reply');
  return { result: 'blocked', againstConfig: false, note: `expected: the config blocks ${r.app} (${how})${daemon?.startsWith('blocked:') ? '' : '; no blocked verdict line'}` };
}

/** The daemon's verdict (`msg:app`) by responder port. */
function verdictsByPort(vs: readonly Verdict[]): Map<number, string> {
  const byPort = new Map<number, string>();
  for (const { line } of vs) {
    const p = verdictPort(line);
    if (p !== undefined) byPort.set(p, `${str(line.msg)}:${str(line.app)}`);
  }
  return byPort;
}

/** Explains the session table's daemon column, printed under it. */
export const SESSION_LEGEND =
  'daemon: the verdict line the daemon printed for the session\'s port (classified:<app>, blocked:<app>); ' +
  '"-": no verdict line, the daemon did not classify the flow. Bulk transfers are seeded random bytes of no protocol on purpose, so "-" is right for them.\n';

/**
 * Table of client session results judged against the config (`expectOf`, default: everything
 * passes), with the daemon's verdict for the session's port when known.
 */
export function sessionTable(rs: readonly SessionResult[], vs: readonly Verdict[] = [], expectOf: (r: SessionResult) => Expectation = () => 'pass'): string {
  if (rs.length === 0) return '(no session results)\n';
  const byPort = verdictsByPort(vs);
  const rows = rs.map((r) => {
    const j = judgeSession(r, expectOf(r), byPort.get(r.port));
    return [
      r.name.length > 48 ? r.name.slice(0, 47) + '…' : r.name,
      `${r.l4}/${r.port}`,
      j.result,
      r.reset ? 'reset' : '',
      String(r.bytesSent),
      String(r.bytesReceived),
      `${r.ms}ms`,
      byPort.get(r.port) ?? '-',
      j.note,
    ];
  });
  return table(['session', 'port', 'result', 'rst', 'sent', 'recv', 'time', 'daemon', 'note'], rows);
}

/**
 * The demo's closing count: sessions completed, blocked as configured, against the config.
 * @param total sessions run (results missing from `rs` count as against the config)
 * @returns the line and the number of sessions against the config
 */
export function sessionSummary(rs: readonly SessionResult[], total: number, vs: readonly Verdict[], expectOf: (r: SessionResult) => Expectation): { line: string; against: number } {
  const byPort = verdictsByPort(vs);
  const js = rs.map((r) => judgeSession(r, expectOf(r), byPort.get(r.port)));
  const ok = js.filter((j) => j.result === 'ok').length;
  const blocked = js.filter((j) => j.result === 'blocked').length;
  const against = js.filter((j) => j.againstConfig).length + (total - rs.length);
  const parts = [`${ok}/${total} session(s) completed`, ...(blocked ? [`${blocked} blocked as the config says`] : []), `${against} against the config`];
  return { line: `demo: ${parts.join(', ')}, ${vs.length} verdict line(s)`, against };
}
