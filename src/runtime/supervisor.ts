/**
 * `p2pgw run --queues N`: scaling across cores. The supervisor starts N queue workers (each a
 * daemon process, worker-main.js, bound to queue num+i, sharing nothing; see worker-pool.ts), then
 * installs the rules with `--queue-balance num:num+N−1`; the kernel hashes both directions of a
 * connection to the same queue, so a flow always lands in the same process. The supervisor owns
 * the rules and shaping, forwards SIGHUP after validating the new config, merges the workers'
 * status documents, respawns a worker that dies (traffic keeps flowing meanwhile thanks to
 * --queue-bypass), and on SIGTERM removes the rules before the workers drain and exit.
 */
import { Counters } from '../core/counters.js';
import { readStatus } from '../observe/status.js';
import { readConntrackMarks } from '../observe/sysstats.js';
import { Enforcement } from './enforcement.js';
import { FailOpenMeter } from './fail-open.js';
import { boot, loadForReload, openStatus, serveUntilStopped, type Boot, type RunOptions } from './boot.js';
import { WorkerPool, workerOptions, workerSocket } from './worker-pool.js';

type Doc = Record<string, unknown>;

/**
 * Sums the numbers of several status documents, key by key (nested objects too); other values
 * come from the first document that has them.
 * @returns flows, held, held_peak, counters, nfq, endpoints (table size, capacity, hits and
 *   learned per source) and apps summed (apps by position, keeping app, mark and action), and `workers`: queue, pid, daemon resources and steps of each document
 */
export function mergeStatus(docs: Doc[]): Doc {
  const sum = (vals: unknown[]): unknown => {
    const objs = vals.filter((v) => v && typeof v === 'object' && !Array.isArray(v)) as Doc[];
    if (objs.length) {
      const out: Doc = {};
      for (const k of new Set(objs.flatMap((o) => Object.keys(o)))) out[k] = sum(objs.map((o) => o[k]));
      return out;
    }
    const nums = vals.filter((v): v is number => typeof v === 'number');
    return nums.length ? nums.reduce((a, b) => a + b, 0) : vals.find((v) => v !== undefined);
  };
  const counters = sum(docs.map((d) => d.counters));
  const apps = (docs[0]?.apps as Doc[] | undefined)?.map((a, i) => ({ ...a, ...(sum(docs.map((d) => (d.apps as Doc[])[i])) as Doc), app: a.app, mark: a.mark, action: a.action }));
  return {
    flows: sum(docs.map((d) => d.flows)), held: sum(docs.map((d) => d.held)), held_peak: sum(docs.map((d) => d.held_peak)),
    counters, nfq: sum(docs.map((d) => d.nfq)), endpoints: sum(docs.map((d) => d.endpoints)) ?? null, apps,
    workers: docs.map((d) => ({ queue: d.queue, pid: d.pid, daemon: d.daemon, ...(d.steps ? { steps: d.steps } : {}) })),
  };
}

/** A running supervisor. */
interface Supervisor extends Boot {
  opts: RunOptions;
  /** Its status socket; worker i serves `<socket>.i`. */
  socket: string;
  counters: Counters;
  pool: WorkerPool;
  enforcement: Enforcement;
}

/**
 * Runs the supervisor of `opts.queues` (2–64) queue workers until SIGTERM/SIGINT.
 * @returns the process exit code: 0, or 1 when our rules could not all be removed
 * @throws ConfigError / RulesError on a bad config or rules; P2pgwError NOT_ROOT; P2pgwError
 *   NFQUEUE when a worker exits during start-up or does not answer within 20 s; what
 *   Enforcement.start throws (IPTABLES, MISSING_FEATURE, TC). The workers are stopped first.
 */
export async function runSupervisor(opts: RunOptions): Promise<number> {
  const n = opts.queues!;
  const b = boot(opts, 'supervisor');
  const counters = new Counters();
  const socket = opts.statusSocket ?? b.cfg.status.socket;
  const pool = new WorkerPool(n, (i) => workerOptions(opts, i, socket), counters, b.logger, { shareBacklog: b.cfg.endpoints.shareBacklog });
  pool.startAll();
  let enforcement: Enforcement;
  try {
    await pool.waitReady(socket);
    enforcement = await Enforcement.start(b.cfg, b.classifier, n, b.logger);
  } catch (err) {
    pool.abort();
    b.closeLog();
    throw err;
  }
  const s: Supervisor = { ...b, opts, socket, counters, pool, enforcement };
  const status = await openStatus(socket, () => statusDoc(s), b.logger);
  const queues = Array.from({ length: n }, (_, i) => b.cfg.queue.num + i);
  const failOpen = new FailOpenMeter({ queues, pollSec: b.cfg.queue.failOpenPollSec, rulePackets: () => enforcement.queueRulePackets() }, counters, b.logger);
  const tick = setInterval(() => {
    void enforcement.refreshStats(() => counters.inc('shaping_stats_error'));
    void failOpen.sample();
  }, 1000);
  b.logger.info(
    { queues: `${b.cfg.queue.num}:${b.cfg.queue.num + n - 1}`, workers: pool.pids(), backend: enforcement.backend.backend, config: b.cfg.file, pid: process.pid },
    'ready',
  );
  return serveUntilStopped(b, {
    tick,
    enforcement,
    begin: () => void (pool.stopping = true),
    release: async () => {
      await pool.stop();
      status?.close();
    },
    stopped: () => ({ supervisor: counters.snapshot() }),
    reload: () => reload(s),
  });
}

/** The merged status document of the workers, with live connections per mark from conntrack and the shaping classes. */
async function statusDoc(s: Supervisor): Promise<Doc> {
  const docs = await Promise.all(s.pool.workers.map((_, i) => readStatus(workerSocket(s.socket, i), 2000).catch(() => null)));
  const merged = mergeStatus(docs.filter((d): d is Doc => d !== null));
  const live = await readConntrackMarks(s.cfg.iptables.markMask);
  for (const a of (merged.apps as Doc[] | undefined) ?? []) {
    a.live_connections = live.get(a.mark as number)?.connections ?? 0;
    a.live_bytes = live.get(a.mark as number)?.bytes ?? 0;
  }
  return { pid: process.pid, uptime_s: Math.round(process.uptime()), queues: s.pool.size, supervisor: s.counters.snapshot(), ...merged, shaping: s.enforcement.shaping };
}

/**
 * SIGHUP: validates the new config; when valid, updates the rules and shaping in place and forwards
 * SIGHUP to every worker (each reloads on its own); when invalid, the workers keep their config too.
 */
async function reload(s: Supervisor): Promise<void> {
  const r = loadForReload(s.opts.config, s.logger, s.counters, s.cfg.file);
  if (!r) return;
  await s.enforcement.reload(r.next, r.built.classifier);
  s.pool.setShareBacklog(r.next.endpoints.shareBacklog);
  s.pool.signal('SIGHUP');
  s.logger.info({ config: r.next.file }, 'reloaded (forwarded to the queue workers)');
}
