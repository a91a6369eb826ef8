/**
 * Live mode (`p2pgw run`): binds the NFQUEUE, installs our iptables chains, and judges every
 * queued packet through the pipeline (thesis §3.1–3.4, with ip_queue/libipq replaced by NFQUEUE).
 *
 * - Only the first 2 × classify.packets packets of unmarked connections are queued, with
 *   `--queue-bypass`, so traffic flows while the daemon is down (fail open).
 * - A classified packet gets NF_REPEAT with the application's mark; the top rule of our mangle
 *   chain saves it to the connmark. Blocked applications are rejected by the kernel (TCP reset,
 *   UDP drop) from the filter chain. Inspected applications keep all their packets queued.
 * - Every queued packet gets exactly one verdict; anything the daemon cannot judge is accepted and
 *   counted. Kernel-side queue drops are read from /proc/net/netfilter/nfnetlink_queue.
 * - SIGHUP reloads the config; SIGTERM/SIGINT removes every rule, drains the queue, exits 0.
 * - As a queue worker of `run --queues N` (src/runtime/supervisor.ts) it binds queue num+index and
 *   leaves the rules to the supervisor.
 */
import fs from 'node:fs';
import type { Logger } from 'pino';
import { APPS } from '../apps/registry.js';
import { loadConfig, type EffectiveConfig } from '../config/load.js';
import { Counters } from '../core/counters.js';
import { createLogger, logClassification } from '../observe/log.js';
import { flowRecord } from '../observe/flowrecord.js';
import { readQueueStats } from '../capture/nfqstats.js';
import { NfQueue } from '../capture/nfq.js';
import { P2pgwError } from '../core/errors.js';
import { Pipeline } from './pipeline.js';
import { buildClassifier, pipelineOptions } from './setup.js';
import { buildContent } from '../content/setup.js';
import { buildOutputs } from '../observe/outputs.js';
import { ResourceSampler, readConntrackMarks } from '../observe/sysstats.js';
import { StepTimer } from '../core/steps.js';
import { serveStatus } from '../observe/status.js';
import type { Verdict } from '../core/types.js';
import { KeywordSet } from '../content/keywords.js';
import { setInspectLimits } from '../apps/parse/lines.js';
import { Enforcement } from './enforcement.js';

export interface RunOptions {
  config?: string;
  /** Overrides of the config's log settings (command-line flags). */
  logDest?: 'auto' | 'syslog' | 'stderr';
  logLevel?: string;
  /** Write flow records (JSON Lines) of ended flows to this file. */
  flows?: string;
  /** Rotating flow log directory (overrides `flow_log.dir`). */
  flowLog?: string;
  /** Write one capture per application with the classified flows' packets into this directory. */
  exportPcap?: string;
  /** Status socket path (overrides the config). */
  statusSocket?: string;
  /** Record per-step timings (M1–M9) and report them in `stopped`, `status` and SIGUSR1 lines. */
  traceSteps?: boolean;
  /** Number of queues/processes (`--queues N`); see supervisor.ts. */
  queues?: number;
  /** Internal: this process is queue worker `index` of a supervisor (no rules of its own). */
  worker?: { index: number };
}

/** Loads and compiles a config for a reload; null (with an error line) when it is invalid. */
export function loadForReload(file: string | undefined, logger: Logger, counters: Counters, current: string) {
  try {
    const next = loadConfig(file, APPS.map((a) => a.name));
    return { next, built: buildClassifier(next), keywords: new KeywordSet(next.keywords.lists) };
  } catch (err) {
    counters.inc('reload_refused');
    logger.error({ err: (err as Error).message, config: current }, 'reload refused: invalid config; the old config keeps running');
    return null;
  }
}

/** Config sections that a reload cannot change in a running process. */
export function restartNeeded(next: EffectiveConfig, cur: EffectiveConfig): string[] {
  return ['queue', 'scan', 'audit', 'iptables', 'status', 'inspect'].filter(
    (k) => JSON.stringify((next as unknown as Record<string, unknown>)[k]) !== JSON.stringify((cur as unknown as Record<string, unknown>)[k]),
  );
}

/**
 * Runs the daemon until SIGTERM/SIGINT. Resolves with the process exit code.
 * @throws ConfigError / RulesError on a bad config or rules (nothing installed yet); P2pgwError
 *   (NOT_ROOT, NFQUEUE, IPTABLES, MISSING_FEATURE, TC) when the system cannot be set up
 */
export async function runDaemon(opts: RunOptions): Promise<number> {
  if ((opts.queues ?? 1) > 1 && !opts.worker) {
    const { runSupervisor } = await import('./supervisor.js');
    return runSupervisor(opts);
  }
  const cfg: EffectiveConfig = loadConfig(opts.config, APPS.map((a) => a.name));
  if (opts.logDest) cfg.log.dest = opts.logDest;
  if (opts.logLevel) cfg.log.level = opts.logLevel;
  const { classifier, rules } = buildClassifier(cfg);
  const { logger: baseLogger, notice, close: closeLog } = createLogger(cfg.log, 'live');
  const logger = opts.worker ? baseLogger.child({ worker: opts.worker.index }) : baseLogger;
  if (notice) logger.warn(notice);
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new P2pgwError('P2PGW_ERR_NOT_ROOT', '`p2pgw run` needs root (CAP_NET_ADMIN) to bind the NFQUEUE and install iptables rules; try `p2pgw replay` or `sudo`');
  }
  const queueNum = cfg.queue.num + (opts.worker?.index ?? 0);
  const counters = new Counters();
  const tracer = opts.traceSteps ? new StepTimer() : null;
  const flowsOut = opts.flows ? fs.createWriteStream(opts.flows, { flags: 'a', mode: 0o600 }) : null;
  const content = buildContent(cfg, counters, 'live', logger);
  for (const n of content.notices) logger.warn(n);
  let queue: NfQueue | null = null;
  const give = (id: number, v: Verdict) => {
    const t = tracer ? performance.now() : 0;
    queue!.verdict(id, v.verdict, v.verdict === 'repeat' ? v.mark : undefined, v.verdict === 'repeat' ? v.packet : undefined);
    if (tracer) tracer.add('verdict', performance.now() - t);
  };
  const outputs = buildOutputs(cfg, { flowLogDir: opts.flowLog, exportPcap: opts.exportPcap }, counters, logger);
  const pipeline = new Pipeline(classifier, { ...pipelineOptions(cfg, true, content), tracer }, counters, {
    onClassified: (flow, c) => {
      logClassification(logger, flow, c);
      outputs.onClassified(flow);
    },
    onFlowEnd: (flow) => {
      flowsOut?.write(`${JSON.stringify(flowRecord(flow, 'live'))}\n`);
      outputs.onFlowEnd(flow, 'live');
    },
    onPacket: (flow, ip, ts) => outputs.onPacket(flow, ip, ts),
    onVerdict: give,
  });

  const fail = async (err: unknown): Promise<never> => {
    queue?.close();
    await content.close();
    closeLog();
    throw err;
  };
  try {
    queue = NfQueue.open({ ...cfg.queue, num: queueNum }, (p) => {
      const t = tracer ? performance.now() : 0;
      const d = pipeline.handle(p.payload, Date.now() / 1000, p.id);
      if (d) give(p.id, d);
      if (tracer && d) tracer.add('packet', performance.now() - t);
    }, {
      onError: (err) => {
        counters.inc('verdict_callback_error');
        logger.error({ err }, 'packet callback failed; packet accepted');
      },
    });
  } catch (err) {
    return fail(err);
  }
  const q = queue!;
  for (const w of q.warnings) logger.warn(w);
  let enforcement: Enforcement | null = null;
  if (!opts.worker) enforcement = await Enforcement.start(cfg, classifier, 1, logger).catch(fail);

  const resources = new ResourceSampler();
  const snapshot = () => ({
    pid: process.pid, uptime_s: Math.round(process.uptime()), queue: queueNum, flows: pipeline.flows.size,
    held: pipeline.inspect?.held ?? 0, held_peak: pipeline.inspect?.heldPeak ?? 0,
    counters: counters.snapshot(), nfq: q.stats, ...resources.stats(),
    shaping: enforcement?.shaping ?? null,
    ...(tracer ? { steps: tracer.summary() } : {}),
  });
  /** The status document: the snapshot plus per-application figures (live ones from conntrack). */
  const statusDoc = async () => {
    const live = opts.worker ? new Map() : await readConntrackMarks();
    const apps = pipeline.classifier.apps.map((a) => ({
      app: a.desc.name, mark: a.mark, action: a.action,
      flows: counters.get(`classified_${a.desc.name}`), blocks: counters.get(`blocked_${a.desc.name}`),
      live_connections: live.get(a.mark)?.connections ?? 0, live_bytes: live.get(a.mark)?.bytes ?? 0,
    }));
    return { ...snapshot(), apps };
  };
  const socketPath = opts.statusSocket ?? (opts.worker ? `${cfg.status.socket}.${opts.worker.index}` : cfg.status.socket);
  const status = await serveStatus(socketPath, statusDoc).catch((err) => {
    logger.warn({ err: (err as Error).message, socket: socketPath }, 'status socket unavailable');
    return null;
  });

  let lastKernelDrops = 0;
  const tick = setInterval(() => {
    const now = Date.now() / 1000;
    pipeline.expire(now);
    pipeline.tick(now);
    resources.sample();
    void enforcement?.refreshStats(() => counters.inc('shaping_stats_error'));
    outputs.flush();
    const qs = readQueueStats(queueNum);
    if (qs) {
      const drops = qs.queueDropped + qs.userDropped;
      if (drops > lastKernelDrops) {
        counters.inc('kernel_queue_dropped', drops - lastKernelDrops);
        logger.warn({ queue_dropped: qs.queueDropped, user_dropped: qs.userDropped }, 'kernel dropped queued packets');
      }
      lastKernelDrops = drops;
    }
  }, 1000);

  const b = enforcement?.backend;
  logger.info(
    {
      queue: queueNum, ...(b ? { backend: b.backend, backend_reason: b.reason, families: b.families } : {}),
      apps: classifier.apps.map((a) => `${a.desc.name}:${a.mark}:${a.action}`), signatures: rules.sigs.length,
      config: cfg.file, pid: process.pid, trace_steps: !!tracer, status_socket: status ? socketPath : null,
    },
    'ready',
  );

  /**
   * SIGHUP: re-reads the config and the rules. An invalid new config is refused with an error line
   * and the old one keeps running. A valid one applies without dropping established connections:
   * new flows use the new classifier, keyword lists apply to the next message of every inspected
   * connection, and the iptables chains and shaping tree are updated in place.
   */
  const reload = async (): Promise<void> => {
    const r = loadForReload(opts.config, logger, counters, cfg.file);
    if (!r) return;
    const { next, built, keywords } = r;
    const later = restartNeeded(next, cfg);
    pipeline.setClassifier(built.classifier);
    const shared = content.inspect.shared;
    shared.keywords = keywords;
    shared.keywordsOn = { chat: next.keywords.chat, filenames: next.keywords.filenames };
    setInspectLimits(next.parserLimits);
    if (!opts.logLevel) logger.level = next.log.level;
    await enforcement?.reload(next, built.classifier);
    counters.inc('reloads');
    logger.info(
      {
        config: next.file, apps: built.classifier.apps.map((a) => `${a.desc.name}:${a.mark}:${a.action}`), signatures: built.rules.sigs.length,
        keywords: keywords.size, ...(later.length ? { restart_needed_for: later } : {}),
      },
      'reloaded',
    );
  };

  return await new Promise<number>((resolve) => {
    let stopping = false;
    const stop = async (sig: string) => {
      if (stopping) return;
      stopping = true;
      clearInterval(tick);
      logger.info({ signal: sig }, 'stopping');
      // Lossless stop: no new packets are queued once our rules are gone; then judge what is still
      // in flight, and only then unbind (the kernel drops packets left in an unbound queue).
      const ok = enforcement ? await enforcement.stop() : true;
      pipeline.flush(); // releases held packets (accepted) before the queue is unbound
      if (!(await q.drain(1000))) logger.warn('queue did not drain within 1 s; remaining packets are accepted by close()');
      q.close();
      status?.close();
      await content.close();
      outputs.close();
      logger.info({ counters: counters.snapshot(), nfq: q.stats, held_peak: pipeline.inspect?.heldPeak ?? 0, ...(tracer ? { steps: tracer.summary() } : {}) }, 'stopped');
      flowsOut?.end();
      setTimeout(() => {
        closeLog();
        resolve(ok ? 0 : 1);
      }, 50);
    };
    process.on('SIGTERM', () => void stop('SIGTERM'));
    process.on('SIGINT', () => void stop('SIGINT'));
    let reloading = Promise.resolve();
    process.on('SIGHUP', () => {
      reloading = reloading.then(() => reload());
    });
    process.on('SIGUSR1', () => logger.info(snapshot(), 'status'));
  });
}
