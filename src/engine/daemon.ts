/**
 * Live mode (`p2pgw run`): binds the NFQUEUE, installs our iptables chains, and judges every
 * queued packet through the pipeline (thesis §3.1–3.4, with ip_queue/libipq replaced by NFQUEUE).
 *
 * - Only the first 2 × classify.packets packets of unmarked connections are queued, with
 *   `--queue-bypass`, so traffic flows while the daemon is down (fail open).
 * - A classified packet gets NF_REPEAT with the application's mark; the top rule of our mangle
 *   chain saves it to the connmark. Blocked applications are rejected by the kernel (TCP reset,
 *   UDP drop) from the filter chain.
 * - Every queued packet gets exactly one verdict; anything the daemon cannot judge is accepted and
 *   counted. Kernel-side queue drops are read from /proc/net/netfilter/nfnetlink_queue.
 * - SIGTERM/SIGINT: unbind the queue, remove every rule, log the counters, exit 0.
 */
import fs from 'node:fs';
import type { Logger } from 'pino';
import { APPS } from '../apps/index.js';
import { loadConfig, type EffectiveConfig } from '../config/load.js';
import { Counters } from '../observe/counters.js';
import { createLogger, logClassification } from '../observe/log.js';
import { flowRecord } from '../observe/flowrecord.js';
import { readQueueStats } from '../observe/nfqstats.js';
import { NfQueue } from '../capture/nfq.js';
import { detectBackend, install, remove, type Backend } from '../enforce/iptables.js';
import { P2pgwError } from '../errors.js';
import { Pipeline } from './pipeline.js';
import { buildClassifier, pipelineOptions } from './setup.js';
import { buildContent } from '../inspect/setup.js';
import { buildOutputs } from '../observe/outputs.js';
import { ResourceSampler, readConntrackMarks } from '../observe/sysstats.js';
import { serveStatus } from '../observe/status.js';
import type { Verdict } from '../inspect/engine.js';
import { KeywordSet } from '../inspect/keywords.js';
import type { Classifier } from '../apps/classifier.js';
import {
  applyShaping, describeSupport, detectQdiscSupport, planShaping, readClassStats, removeShaping,
  type ShapingClassStats, type ShapingPlan, type TcSupport,
} from '../enforce/tc.js';

/** The apps as the shaping planner sees them: name, mark, and the config's shape. */
const shapedApps = (c: EffectiveConfig, cl: Classifier) => cl.apps.map((a) => ({ name: a.desc.name, mark: a.mark, shape: c.apps[a.desc.name]?.shape }));

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
}

/**
 * Runs the daemon until SIGTERM/SIGINT. Resolves with the process exit code.
 * @throws ConfigError / RulesError on a bad config or rules (nothing installed yet)
 */
export async function runDaemon(opts: RunOptions): Promise<number> {
  const cfg: EffectiveConfig = loadConfig(opts.config, APPS.map((a) => a.name));
  if (opts.logDest) cfg.log.dest = opts.logDest;
  if (opts.logLevel) cfg.log.level = opts.logLevel;
  const { classifier, rules } = buildClassifier(cfg);
  const { logger, notice, close: closeLog } = createLogger(cfg.log, 'live');
  if (notice) logger.warn(notice);
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new P2pgwError('P2PGW_ERR_NOT_ROOT', '`p2pgw run` needs root (CAP_NET_ADMIN) to bind the NFQUEUE and install iptables rules; try `p2pgw replay` or `sudo`');
  }
  const counters = new Counters();
  const flowsOut = opts.flows ? fs.createWriteStream(opts.flows, { flags: 'a', mode: 0o600 }) : null;
  const content = buildContent(cfg, counters, 'live', logger);
  for (const n of content.notices) logger.warn(n);
  let queue: NfQueue | null = null;
  const give = (id: number, v: Verdict) => queue!.verdict(id, v.verdict, v.verdict === 'repeat' ? v.mark : undefined, v.verdict === 'repeat' ? v.packet : undefined);
  const outputs = buildOutputs(cfg, { flowLogDir: opts.flowLog, exportPcap: opts.exportPcap }, counters, logger);
  const pipeline = new Pipeline(classifier, pipelineOptions(cfg, true, content), counters, {
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

  const backend: Backend = await detectBackend(cfg.iptables.backend);
  for (const w of backend.warnings) logger.warn({ backend: backend.backend }, w);
  const blocked = classifier.apps.filter((a) => a.action === 'block').map((a) => ({ mark: a.mark }));
  const inspected = classifier.apps.filter((a) => a.action === 'inspect').map((a) => ({ mark: a.mark }));
  const ruleOpts = {
    chain: cfg.iptables.chain, queueNum: cfg.queue.num, classifyPackets: cfg.classify.packets, blocked, inspected,
    killMark: inspected.length ? cfg.inspect.killMark : 0, backend,
  };

  try {
    queue = NfQueue.open(cfg.queue, (p) => {
      const d = pipeline.handle(p.payload, Date.now() / 1000, p.id);
      if (d) give(p.id, d);
    }, {
      onError: (err) => {
        counters.inc('verdict_callback_error');
        logger.error({ err }, 'packet callback failed; packet accepted');
      },
    });
  } catch (err) {
    await content.close();
    closeLog();
    throw err;
  }
  const q = queue!;
  for (const w of q.warnings) logger.warn(w);
  try {
    await install(ruleOpts);
  } catch (err) {
    q.close();
    await content.close();
    closeLog();
    throw err;
  }
  // Shaping (tc HTB per application mark): upload on WAN egress, download on LAN egress.
  let support: TcSupport | null = null;
  let shapingPlan: ShapingPlan | null = null;
  let shapingStats: ShapingClassStats[] = [];
  if (cfg.shaping) {
    try {
      support = await detectQdiscSupport({ backend });
      for (const l of describeSupport(support)) logger.info(`shaping: ${l}`);
      shapingPlan = planShaping({ shaping: cfg.shaping, apps: shapedApps(cfg, classifier) }, support);
      for (const n of [...shapingPlan.notices, ...(await applyShaping(shapingPlan, { backend }))]) logger.warn(n);
    } catch (err) {
      await remove({ chain: cfg.iptables.chain, backend }).catch(() => undefined);
      q.close();
      await content.close();
      closeLog();
      throw err;
    }
  }
  let statsBusy = false;
  const refreshShapingStats = async (c: EffectiveConfig, cl: Classifier) => {
    if (!shapingPlan || statsBusy) return;
    statsBusy = true;
    try {
      shapingStats = (await Promise.all(shapingPlan.devices.map((d) => readClassStats(d.dev, { apps: shapedApps(c, cl) })))).flat();
    } catch {
      counters.inc('shaping_stats_error');
    } finally {
      statsBusy = false;
    }
  };
  let liveCfg = cfg;
  const resources = new ResourceSampler();
  const snapshot = () => ({
    pid: process.pid, uptime_s: Math.round(process.uptime()), flows: pipeline.flows.size,
    held: pipeline.inspect?.held ?? 0, counters: counters.snapshot(), nfq: q.stats, ...resources.stats(),
    shaping: shapingPlan ? shapingStats : null,
  });
  /** The status document: the snapshot plus per-application figures (live ones from conntrack). */
  const statusDoc = async () => {
    const live = await readConntrackMarks();
    const apps = pipeline.classifier.apps.map((a) => ({
      app: a.desc.name, mark: a.mark, action: a.action,
      flows: counters.get(`classified_${a.desc.name}`), blocks: counters.get(`blocked_${a.desc.name}`),
      live_connections: live.get(a.mark)?.connections ?? 0, live_bytes: live.get(a.mark)?.bytes ?? 0,
    }));
    return { ...snapshot(), apps };
  };
  const socketPath = opts.statusSocket ?? cfg.status.socket;
  const status = await serveStatus(socketPath, statusDoc).catch((err) => {
    logger.warn({ err: (err as Error).message, socket: socketPath }, 'status socket unavailable');
    return null;
  });

  let lastKernelDrops = 0;
  const tick = setInterval(() => {
    pipeline.expire(Date.now() / 1000);
    pipeline.tick(Date.now() / 1000);
    resources.sample();
    void refreshShapingStats(liveCfg, pipeline.classifier);
    outputs.flush();
    const qs = readQueueStats(cfg.queue.num);
    if (qs) {
      const drops = qs.queueDropped + qs.userDropped;
      if (drops > lastKernelDrops) {
        counters.inc('kernel_queue_dropped', drops - lastKernelDrops);
        logger.warn({ queue_dropped: qs.queueDropped, user_dropped: qs.userDropped }, 'kernel dropped queued packets');
      }
      lastKernelDrops = drops;
    }
  }, 1000);

  logger.info(
    {
      queue: cfg.queue.num, backend: backend.backend, backend_reason: backend.reason, families: backend.families,
      apps: classifier.apps.map((a) => `${a.desc.name}:${a.mark}:${a.action}`), signatures: rules.sigs.length,
      config: cfg.file, pid: process.pid,
    },
    'ready',
  );

  /**
   * SIGHUP: re-reads the config and the rules. An invalid new config is refused with an error line
   * and the old one keeps running. A valid one applies without dropping established connections:
   * new flows use the new classifier, keyword lists apply to the next message of every inspected
   * connection, and the iptables chains are reinstalled in place (blocked/inspected marks).
   */
  const reload = async (): Promise<void> => {
    let next: EffectiveConfig;
    let built: ReturnType<typeof buildClassifier>;
    let keywords: KeywordSet;
    try {
      next = loadConfig(opts.config, APPS.map((a) => a.name));
      built = buildClassifier(next);
      keywords = new KeywordSet(next.keywords.lists);
    } catch (err) {
      counters.inc('reload_refused');
      logger.error({ err: (err as Error).message, config: cfg.file }, 'reload refused: invalid config; the old config keeps running');
      return;
    }
    const restartNeeded = ['queue', 'scan', 'audit', 'iptables', 'status', 'inspect'].filter(
      (k) => JSON.stringify((next as unknown as Record<string, unknown>)[k]) !== JSON.stringify((cfg as unknown as Record<string, unknown>)[k]),
    );
    pipeline.setClassifier(built.classifier);
    const shared = content.inspect.shared;
    shared.keywords = keywords;
    shared.keywordsOn = { chat: next.keywords.chat, filenames: next.keywords.filenames };
    if (!opts.logLevel) logger.level = next.log.level;
    const nextBlocked = built.classifier.apps.filter((a) => a.action === 'block').map((a) => ({ mark: a.mark }));
    const nextInspected = built.classifier.apps.filter((a) => a.action === 'inspect').map((a) => ({ mark: a.mark }));
    try {
      await install({
        ...ruleOpts, classifyPackets: next.classify.packets, blocked: nextBlocked, inspected: nextInspected,
        killMark: nextInspected.length ? next.inspect.killMark : 0,
      });
    } catch (err) {
      logger.error({ err: (err as Error).message }, 'reload: reinstalling the iptables rules failed; the previous rules stay');
    }
    try {
      if (next.shaping) {
        support ??= await detectQdiscSupport({ backend });
        const plan = planShaping({ shaping: next.shaping, apps: shapedApps(next, built.classifier) }, support);
        const gone = (shapingPlan?.devices ?? []).map((d) => d.dev).filter((dev) => !plan.devices.some((d) => d.dev === dev));
        if (gone.length) await removeShaping({ devs: gone, keepChain: true, backend });
        for (const n of [...plan.notices, ...(await applyShaping(plan, { backend }))]) logger.warn(n);
        shapingPlan = plan;
      } else if (shapingPlan) {
        await removeShaping({ devs: shapingPlan.devices.map((d) => d.dev), chain: shapingPlan.iptables.chain, backend });
        shapingPlan = null;
      }
    } catch (err) {
      logger.error({ err: (err as Error).message }, 'reload: shaping could not be applied; the previous shaping stays');
    }
    liveCfg = next;
    counters.inc('reloads');
    logger.info(
      {
        config: next.file, apps: built.classifier.apps.map((a) => `${a.desc.name}:${a.mark}:${a.action}`), signatures: built.rules.sigs.length,
        keywords: keywords.size, ...(restartNeeded.length ? { restart_needed_for: restartNeeded } : {}),
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
      let code = 0;
      try {
        await remove({ chain: cfg.iptables.chain, backend });
      } catch (err) {
        code = 1;
        logger.error({ err: (err as Error).message }, 'could not remove every iptables rule');
      }
      if (shapingPlan) {
        try {
          await removeShaping({ devs: shapingPlan.devices.map((d) => d.dev), chain: shapingPlan.iptables.chain, backend });
        } catch (err) {
          code = 1;
          logger.error({ err: (err as Error).message }, 'could not remove the shaping setup');
        }
      }
      pipeline.flush(); // releases held packets (accepted) before the queue is unbound
      if (!(await q.drain(1000))) logger.warn('queue did not drain within 1 s; remaining packets are accepted by close()');
      q.close();
      status?.close();
      await content.close();
      outputs.close();
      logger.info({ counters: counters.snapshot(), nfq: q.stats }, 'stopped');
      flowsOut?.end();
      setTimeout(() => {
        closeLog();
        resolve(code);
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

export type { Logger };
