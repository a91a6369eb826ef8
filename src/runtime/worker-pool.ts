/**
 * The queue workers of `p2pgw run --queues N` (supervisor.ts): N processes of worker-main.js, each
 * a daemon bound to queue num+i with its own status socket `<socket>.i`. A worker that dies is
 * respawned after 500 ms, at most 5 times a minute; traffic bypasses its queue meanwhile
 * (`--queue-bypass`). Each worker has an IPC channel: endpoints one worker learns are relayed to
 * the others (endpoint-share.ts; at most `shareBacklog` entries in flight to one worker, beyond
 * that dropped and counted `endpoint_share_dropped`; relayed entries counted `endpoint_share_relayed`).
 * The pool keeps the most recent `shareBacklog` of them and sends them to a worker that starts
 * (a respawned worker asks with a `sync` message; counted `endpoint_share_replayed`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import type { Counters } from '../core/counters.js';
import { DEFAULTS } from '../core/defaults.js';
import { P2pgwError } from '../core/errors.js';
import { readStatus } from '../observe/status.js';
import type { RunOptions } from './boot.js';
import { isShareMessage, MAX_ENTRIES, SHARE_TAG, type SharedEntry, type ShareMessage } from './endpoint-share.js';

/** The queue worker entry script, next to this module (dist/runtime/worker-main.js). */
export const WORKER_MAIN = fileURLToPath(new URL('./worker-main.js', import.meta.url));

/** Status socket of worker `i` when the supervisor serves `socket`. */
export const workerSocket = (socket: string, i: number): string => `${socket}.${i}`;

/**
 * Options of queue worker `i`: the supervisor's config and log overrides, its own status socket
 * (`<socket>.i`), and its own output files (`--flows FILE.i`, `--flow-log DIR/qi`,
 * `--export-pcap DIR/qi`); `queues` is left out.
 */
export function workerOptions(opts: RunOptions, i: number, socket: string): RunOptions {
  return {
    config: opts.config,
    logDest: opts.logDest,
    logLevel: opts.logLevel,
    traceSteps: opts.traceSteps,
    flows: opts.flows ? `${opts.flows}.${i}` : undefined,
    flowLog: opts.flowLog ? path.join(opts.flowLog, `q${i}`) : undefined,
    exportPcap: opts.exportPcap ? path.join(opts.exportPcap, `q${i}`) : undefined,
    ipfix: opts.ipfix,
    statusSocket: workerSocket(socket, i),
    worker: { index: i },
  };
}

/** The argv (after node) that starts a queue worker: the entry script and its options as one JSON argument. */
export function workerArgv(o: RunOptions, script = WORKER_MAIN): string[] {
  return [script, JSON.stringify(o)];
}

/** N queue worker processes, respawned when they die until `stopping` is set. */
export class WorkerPool {
  /** The current process of each worker (null before its first start). */
  readonly workers: (ChildProcess | null)[];
  /** Set when the supervisor stops (or fails to start): dead workers are no longer respawned. */
  stopping = false;
  /** Times (epoch ms) of the respawns in the last minute. */
  private readonly respawns: number[] = [];
  /** Shared endpoints sent to each worker and not yet handed to its channel. */
  private readonly inFlight: number[];
  /** The most recent shared endpoints by `ip|port|l4`, oldest first (sent to a worker that starts). */
  private readonly recent = new Map<string, SharedEntry>();
  /** `endpoints.share_backlog`: the cap of the endpoints kept and of those in flight to one worker (setShareBacklog). */
  private shareBacklog: number;
  private readonly script: string | undefined;

  /**
   * @param optionsOf the options of worker i (see `workerOptions`)
   * @param counters counts `worker_died` and the endpoint relay's events
   * @param o.shareBacklog most shared endpoints in flight to one worker (DEFAULTS.endpoints.shareBacklog)
   * @param o.script the worker entry script (tests); default WORKER_MAIN
   */
  constructor(
    readonly size: number,
    private readonly optionsOf: (i: number) => RunOptions,
    private readonly counters: Counters,
    private readonly logger: Logger,
    o: { shareBacklog?: number; script?: string } = {},
  ) {
    this.workers = new Array(size).fill(null);
    this.inFlight = new Array(size).fill(0);
    this.shareBacklog = o.shareBacklog ?? DEFAULTS.endpoints.shareBacklog;
    this.script = o.script;
  }

  /** Starts every worker. */
  startAll(): void {
    for (let i = 0; i < this.size; i++) this.start(i);
  }

  /** Process ids of the current workers. */
  pids(): (number | undefined)[] {
    return this.workers.map((w) => w?.pid);
  }

  /**
   * Resolves once every worker answers on its status socket (it has bound its queue).
   * @throws P2pgwError(P2PGW_ERR_NFQUEUE) `queue worker i exited during start-up (code C); see its
   *   log lines`, or `queue worker i did not start within 20 s` after `timeoutMs`
   */
  async waitReady(socket: string, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (let i = 0; i < this.size; i++) {
      for (;;) {
        const code = this.workers[i]?.exitCode;
        if (code !== null && code !== undefined) {
          throw new P2pgwError('P2PGW_ERR_NFQUEUE', `queue worker ${i} exited during start-up (code ${code}); see its log lines`);
        }
        if (await readStatus(workerSocket(socket, i), 500).then(() => true, () => false)) break;
        if (Date.now() > deadline) throw new P2pgwError('P2PGW_ERR_NFQUEUE', `queue worker ${i} did not start within ${timeoutMs / 1000} s`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  /** Sends `sig` to every worker (SIGHUP: reload). */
  signal(sig: NodeJS.Signals): void {
    for (const w of this.workers) w?.kill(sig);
  }

  /** A failed start: no more respawns, SIGTERM to every worker (not waited for). */
  abort(): void {
    this.stopping = true;
    this.signal('SIGTERM');
  }

  /** Stops every worker: SIGTERM, SIGKILL after 15 s; resolves once each has exited (or was killed). */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(
      this.workers.map(
        (w) =>
          new Promise<void>((r) => {
            if (!w || w.exitCode !== null) return r();
            w.once('exit', () => r());
            w.kill('SIGTERM');
            setTimeout(() => (w.kill('SIGKILL'), r()), 15_000).unref();
          }),
      ),
    );
  }

  /** Starts worker `i` (stdout and stderr shared with the supervisor) and respawns it when it dies. */
  private start(i: number): void {
    const w = spawn(process.execPath, workerArgv(this.optionsOf(i), this.script), { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.workers[i] = w;
    this.inFlight[i] = 0;
    w.on('message', (m) => this.relay(i, m));
    w.on('exit', (code, sig) => {
      if (this.stopping) return;
      this.counters.inc('worker_died');
      this.logger.error({ worker: i, code, signal: sig }, 'queue worker died; respawning (traffic bypasses it meanwhile)');
      const now = Date.now();
      this.respawns.push(now);
      while (this.respawns.length && now - this.respawns[0] > 60_000) this.respawns.shift();
      if (this.respawns.length <= 5) setTimeout(() => !this.stopping && this.start(i), 500);
      else this.logger.error({ worker: i }, 'queue workers keep dying: not respawning any more');
    });
  }

  /**
   * Handles a share message of worker `from`: a `sync` gets the recent endpoints sent back, and
   * entries are remembered (the most recent `shareBacklog`) and relayed to every other worker.
   */
  private relay(from: number, m: unknown): void {
    if (!isShareMessage(m)) {
      this.counters.inc('endpoint_share_bad');
      return;
    }
    const cap = this.shareBacklog;
    if (m.sync) this.replay(from, cap);
    const n = m.e.length;
    if (n === 0) return;
    for (const x of m.e) this.remember(x, cap);
    for (let j = 0; j < this.size; j++) if (j !== from) this.sendTo(j, m, cap, 'endpoint_share_relayed');
  }

  /** Sends a share message to worker `j` when its channel has room for it (at most `cap` entries in flight). */
  private sendTo(j: number, m: ShareMessage, cap: number, counted: string): void {
    const w = this.workers[j];
    const n = m.e.length;
    if (!w?.connected) return;
    if (this.inFlight[j] + n > cap) {
      this.counters.inc('endpoint_share_dropped', n);
      return;
    }
    this.inFlight[j] += n;
    w.send(m, (err) => {
      if (this.workers[j] === w) this.inFlight[j] -= n;
      this.counters.inc(err ? 'endpoint_share_dropped' : counted, n);
    });
  }

  /** Keeps `x` as the most recent shared endpoint (one per ip/port/l4), at most `cap` of them. */
  private remember(x: unknown, cap: number): void {
    if (!Array.isArray(x) || cap === 0) return;
    const key = `${x[0]}|${x[1]}|${x[2]}`;
    this.recent.delete(key);
    this.recent.set(key, x as SharedEntry);
    this.trimRecent(cap);
  }

  /** Forgets the oldest kept endpoints beyond `cap`. */
  private trimRecent(cap: number): void {
    while (this.recent.size > cap) this.recent.delete(this.recent.keys().next().value!);
  }

  /** Applies a reloaded `endpoints.share_backlog` (a smaller one forgets the oldest kept endpoints now). */
  setShareBacklog(n: number): void {
    this.shareBacklog = n;
    this.trimRecent(n);
  }

  /** Sends worker `i` (just started) the recent shared endpoints, oldest first. */
  private replay(i: number, cap: number): void {
    const all = [...this.recent.values()];
    for (let k = 0; k < all.length; k += MAX_ENTRIES) this.sendTo(i, { t: SHARE_TAG, e: all.slice(k, k + MAX_ENTRIES) }, cap, 'endpoint_share_replayed');
  }
}
