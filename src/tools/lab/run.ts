/**
 * Glue between a `Lab` and the traffic generator process (gen.js): start the generator's server in
 * the server namespace, run its client in the client namespace, collect their JSON lines. Used by
 * `p2pgw demo` and by the live tests.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { P2pgwError } from '../../core/errors.js';
import type { SessionResult } from './gen-core.js';
import type { Lab } from './netns.js';

/**
 * Path of the compiled generator: `gen.js` next to this module when running from dist, else
 * `<root>/dist/lab/gen.js`.
 */
export function defaultGenScript(): string {
  const here = fileURLToPath(new URL('./gen.js', import.meta.url));
  return existsSync(here) ? here : fileURLToPath(new URL('../../../dist/tools/lab/gen.js', import.meta.url));
}

/** Splits a child's stream into lines and calls `onLine` for each. */
export function onLines(stream: NodeJS.ReadableStream | null | undefined, onLine: (line: string) => void): void {
  if (!stream) return;
  let rest = '';
  stream.setEncoding('utf8');
  stream.on('data', (c: string) => {
    rest += c;
    let i: number;
    while ((i = rest.indexOf('\n')) >= 0) {
      onLine(rest.slice(0, i));
      rest = rest.slice(i + 1);
    }
  });
  stream.on('end', () => rest && onLine(rest));
}

/** Parses a JSON line, or null. */
export function parseJsonLine(line: string): Record<string, unknown> | null {
  const t = line.trim();
  if (!t.startsWith('{')) return null;
  try {
    return JSON.parse(t) as Record<string, unknown>;
  } catch {
    return null;
  }
}

/** Options for the generator processes. */
export interface GenRunOpts {
  /** Compiled gen.js (default `defaultGenScript()`). */
  genScript?: string;
  /** Source arguments given to both sides, e.g. `['--scenario', file]`. */
  source: string[];
  /** Per-session timeout, ms (default 10000). */
  timeoutMs?: number;
  /** Client concurrency (default 4). */
  concurrency?: number;
  /** Server lifetime bound, seconds (default 300). */
  lifetimeSec?: number;
}

/** A generator server running in the lab's server namespace. */
export interface GenServerHandle {
  proc: ChildProcess;
  /** Server-side session lines received so far. */
  results: SessionResult[];
  /** Everything it wrote to stderr. */
  stderr: string[];
  /**
   * Resolves once at least `n` session lines arrived; rejects with P2pgwError('P2PGW_ERR_LAB') and
   * the lines so far after `ms` (default 10000) or when the server exits first.
   */
  waitSessions(n: number, ms?: number): Promise<SessionResult[]>;
  /** SIGTERM and wait for exit (SIGKILL after 3 s). */
  stop(): Promise<void>;
}

/**
 * Waits for `proc` to exit, up to `ms`; true if it exited. With `streams`, waits for `close`
 * instead (exit and its stdio pipes drained), so no output line is lost.
 */
export function waitExit(proc: ChildProcess, ms: number, streams = false): Promise<boolean> {
  const done = streams ? proc.stdout === null || (proc.stdout.readableEnded && proc.exitCode !== null) : proc.exitCode !== null || proc.signalCode !== null;
  if (done) return Promise.resolve(true);
  return new Promise((r) => {
    const t = setTimeout(() => r(false), ms);
    proc.once(streams ? 'close' : 'exit', () => (clearTimeout(t), r(true)));
  });
}

/**
 * Starts `gen.js server` in the lab's server namespace and resolves once it printed `listening`
 * (within 15 s). Throws P2pgwError('P2PGW_ERR_LAB') with its stderr if it exits or never listens.
 */
export async function startGenServer(lab: Lab, o: GenRunOpts): Promise<GenServerHandle> {
  const argv = [process.execPath, o.genScript ?? defaultGenScript(), 'server', ...o.source];
  argv.push('--timeout', String(o.timeoutMs ?? 10_000), '--lifetime', String(o.lifetimeSec ?? 300));
  const proc = lab.spawn('server', argv);
  const results: SessionResult[] = [];
  const stderr: string[] = [];
  const waiters = new Set<() => void>();
  onLines(proc.stderr, (l) => stderr.push(l));
  const ready = new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new P2pgwError('P2PGW_ERR_LAB', `gen server did not listen within 15 s: ${stderr.join('\n')}`)), 15_000);
    onLines(proc.stdout, (l) => {
      const j = parseJsonLine(l);
      if (j?.event === 'listening') (clearTimeout(t), resolve());
      else if (j?.event === 'session') {
        results.push(j as unknown as SessionResult);
        for (const w of [...waiters]) w();
      }
    });
    proc.once('exit', (code) => (clearTimeout(t), reject(new P2pgwError('P2PGW_ERR_LAB', `gen server exited (${code}): ${stderr.join('\n')}`))));
  });
  await ready;
  return {
    proc,
    results,
    stderr,
    waitSessions(n, ms = 10_000) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          if (results.length < n) return;
          done();
          resolve(results);
        };
        const fail = (why: string) => (): void => {
          done();
          reject(new P2pgwError('P2PGW_ERR_LAB', `gen server: ${why} with ${results.length} of ${n} session lines: ${JSON.stringify(results)}`));
        };
        const onExit = fail('exited');
        const t = setTimeout(fail(`no more lines within ${ms} ms`), ms);
        const done = (): void => {
          clearTimeout(t);
          waiters.delete(check);
          proc.off('exit', onExit);
        };
        waiters.add(check);
        proc.once('exit', onExit);
        check();
      });
    },
    async stop() {
      proc.kill('SIGTERM');
      if (!(await waitExit(proc, 3000, true))) proc.kill('SIGKILL');
      await waitExit(proc, 2000, true);
    },
  };
}

/**
 * Runs `gen.js client` in the lab's client namespace against `server` (default the lab's IPv4
 * server address) and resolves with one result per session once it exits. `onResult` sees results
 * as they arrive. The run is bounded: killed after sessions × timeout / concurrency + 30 s.
 */
export async function runGenClient(
  lab: Lab,
  o: GenRunOpts & { server?: string; sessions?: number; from?: readonly string[]; onResult?: (r: SessionResult) => void },
): Promise<{ code: number | null; results: SessionResult[]; stderr: string }> {
  const timeoutMs = o.timeoutMs ?? 10_000;
  const conc = o.concurrency ?? 4;
  const argv = [process.execPath, o.genScript ?? defaultGenScript(), 'client', ...o.source];
  argv.push('--server', o.server ?? lab.addr.server, '--timeout', String(timeoutMs), '--concurrency', String(conc));
  if (o.from?.length) argv.push('--from', o.from.join(','));
  const proc = lab.spawn('client', argv);
  const results: SessionResult[] = [];
  const stderr: string[] = [];
  onLines(proc.stderr, (l) => stderr.push(l));
  onLines(proc.stdout, (l) => {
    const j = parseJsonLine(l);
    if (j && j.role === 'client') {
      results.push(j as unknown as SessionResult);
      o.onResult?.(j as unknown as SessionResult);
    }
  });
  const bound = Math.ceil((o.sessions ?? 64) / conc) * timeoutMs + 30_000;
  if (!(await waitExit(proc, bound, true))) {
    proc.kill('SIGKILL');
    await waitExit(proc, 2000, true);
  }
  return { code: proc.exitCode, results, stderr: stderr.join('\n') };
}
