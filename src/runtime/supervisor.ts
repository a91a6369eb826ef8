/**
 * `p2pgw run --queues N`: scaling across cores. The supervisor starts N queue workers (each a
 * `p2pgw run` process bound to queue num+i, sharing nothing), then installs the rules with
 * `--queue-balance num:num+N−1`; the kernel hashes both directions of a connection to the same
 * queue, so a flow always lands in the same process. The supervisor owns the rules and shaping,
 * forwards SIGHUP after validating the new config, merges the workers' status documents, respawns a
 * worker that dies (traffic keeps flowing meanwhile thanks to --queue-bypass), and on SIGTERM
 * removes the rules before the workers drain and exit.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { APPS } from '../apps/registry.js';
import { loadConfig } from '../config/load.js';
import { Counters } from '../core/counters.js';
import { createLogger } from '../observe/log.js';
import { readStatus, serveStatus } from '../observe/status.js';
import { readConntrackMarks } from '../observe/sysstats.js';
import { P2pgwError } from '../core/errors.js';
import { buildClassifier } from './setup.js';
import { Enforcement } from './enforcement.js';
import { loadForReload, type RunOptions } from './daemon.js';

const MAIN = fileURLToPath(new URL('../cli/main.js', import.meta.url));

type Doc = Record<string, unknown>;

/** Sums the numbers of several status documents, key by key (nested objects too). */
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
    counters, nfq: sum(docs.map((d) => d.nfq)), apps,
    workers: docs.map((d) => ({ queue: d.queue, pid: d.pid, daemon: d.daemon, ...(d.steps ? { steps: d.steps } : {}) })),
  };
}

export async function runSupervisor(opts: RunOptions): Promise<number> {
  const n = opts.queues!;
  const cfg = loadConfig(opts.config, APPS.map((a) => a.name));
  if (opts.logDest) cfg.log.dest = opts.logDest;
  if (opts.logLevel) cfg.log.level = opts.logLevel;
  const { classifier } = buildClassifier(cfg);
  const { logger, notice, close: closeLog } = createLogger(cfg.log, 'live');
  if (notice) logger.warn(notice);
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new P2pgwError('P2PGW_ERR_NOT_ROOT', '`p2pgw run` needs root (CAP_NET_ADMIN)');
  }
  const counters = new Counters();
  const socket = opts.statusSocket ?? cfg.status.socket;
  const workerSocket = (i: number) => `${socket}.${i}`;
  const argvOf = (i: number): string[] => {
    const a = [MAIN, 'run', '--queue-worker', String(i), '--status-socket', workerSocket(i)];
    if (opts.config) a.push('--config', opts.config);
    if (opts.logDest) a.push('--log-dest', opts.logDest);
    if (opts.logLevel) a.push('--log-level', opts.logLevel);
    if (opts.traceSteps) a.push('--trace-steps');
    if (opts.flows) a.push('--flows', `${opts.flows}.${i}`);
    if (opts.flowLog) a.push('--flow-log', path.join(opts.flowLog, `q${i}`));
    if (opts.exportPcap) a.push('--export-pcap', path.join(opts.exportPcap, `q${i}`));
    return a;
  };
  const workers: (ChildProcess | null)[] = new Array(n).fill(null);
  let stopping = false;
  const respawns: number[] = [];
  const start = (i: number) => {
    const w = spawn(process.execPath, argvOf(i), { stdio: ['ignore', 'inherit', 'inherit'] });
    workers[i] = w;
    w.on('exit', (code, sig) => {
      if (stopping) return;
      counters.inc('worker_died');
      logger.error({ worker: i, code, signal: sig }, 'queue worker died; respawning (traffic bypasses it meanwhile)');
      const now = Date.now();
      respawns.push(now);
      while (respawns.length && now - respawns[0] > 60_000) respawns.shift();
      if (respawns.length <= 5) setTimeout(() => !stopping && start(i), 500);
      else logger.error({ worker: i }, 'queue workers keep dying: not respawning any more');
    });
  };
  for (let i = 0; i < n; i++) start(i);

  // Wait until every worker answers on its status socket (it has bound its queue).
  const deadline = Date.now() + 20_000;
  for (let i = 0; i < n; i++) {
    for (;;) {
      if (workers[i]?.exitCode !== null && workers[i]?.exitCode !== undefined) {
        stopping = true;
        workers.forEach((w) => w?.kill('SIGTERM'));
        closeLog();
        throw new P2pgwError('P2PGW_ERR_NFQUEUE', `queue worker ${i} exited during start-up (code ${workers[i]?.exitCode}); see its log lines`);
      }
      if (await readStatus(workerSocket(i), 500).then(() => true, () => false)) break;
      if (Date.now() > deadline) throw new P2pgwError('P2PGW_ERR_NFQUEUE', `queue worker ${i} did not start within 20 s`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  let enforcement: Enforcement;
  try {
    enforcement = await Enforcement.start(cfg, classifier, n, logger);
  } catch (err) {
    stopping = true;
    workers.forEach((w) => w?.kill('SIGTERM'));
    closeLog();
    throw err;
  }
  const statusDoc = async () => {
    const docs = await Promise.all(workers.map((_, i) => readStatus(workerSocket(i), 2000).catch(() => null)));
    const merged = mergeStatus(docs.filter((d): d is Doc => d !== null));
    const live = await readConntrackMarks();
    for (const a of (merged.apps as Doc[] | undefined) ?? []) {
      a.live_connections = live.get(a.mark as number)?.connections ?? 0;
      a.live_bytes = live.get(a.mark as number)?.bytes ?? 0;
    }
    return { pid: process.pid, uptime_s: Math.round(process.uptime()), queues: n, supervisor: counters.snapshot(), ...merged, shaping: enforcement.shaping };
  };
  const status = await serveStatus(socket, statusDoc).catch((err) => {
    logger.warn({ err: (err as Error).message, socket }, 'status socket unavailable');
    return null;
  });
  const tick = setInterval(() => void enforcement.refreshStats(() => counters.inc('shaping_stats_error')), 1000);
  logger.info(
    { queues: `${cfg.queue.num}:${cfg.queue.num + n - 1}`, workers: workers.map((w) => w?.pid), backend: enforcement.backend.backend, config: cfg.file, pid: process.pid },
    'ready',
  );

  return await new Promise<number>((resolve) => {
    const stop = async (sig: string) => {
      if (stopping) return;
      stopping = true;
      clearInterval(tick);
      logger.info({ signal: sig }, 'stopping');
      const ok = await enforcement.stop(); // no new packets are queued from here on
      await Promise.all(
        workers.map(
          (w) =>
            new Promise<void>((r) => {
              if (!w || w.exitCode !== null) return r();
              w.once('exit', () => r());
              w.kill('SIGTERM');
              setTimeout(() => (w.kill('SIGKILL'), r()), 15_000).unref();
            }),
        ),
      );
      status?.close();
      logger.info({ supervisor: counters.snapshot() }, 'stopped');
      setTimeout(() => {
        closeLog();
        resolve(ok ? 0 : 1);
      }, 50);
    };
    process.on('SIGTERM', () => void stop('SIGTERM'));
    process.on('SIGINT', () => void stop('SIGINT'));
    let reloading = Promise.resolve();
    process.on('SIGHUP', () => {
      reloading = reloading.then(async () => {
        const r = loadForReload(opts.config, logger, counters, cfg.file);
        if (!r) return; // the workers keep their config too
        await enforcement.reload(r.next, r.built.classifier);
        for (const w of workers) w?.kill('SIGHUP');
        logger.info({ config: r.next.file }, 'reloaded (forwarded to the queue workers)');
      });
    });
  });
}
