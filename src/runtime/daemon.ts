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
 * - As a queue worker of `run --queues N` (supervisor.ts, started through worker-main.ts) it binds
 *   queue num+index and leaves the rules to the supervisor.
 */
import fs from 'node:fs';
import type net from 'node:net';
import { Counters } from '../core/counters.js';
import { P2pgwError } from '../core/errors.js';
import { openOutputFile } from '../core/files.js';
import { logClassification } from '../observe/log.js';
import { flowRecord } from '../observe/flowrecord.js';
import { readQueueStats } from '../capture/nfqstats.js';
import { openPacketQueue, type PacketQueue } from '../capture/queue.js';
import { Pipeline } from './pipeline.js';
import { pipelineOptions } from './setup.js';
import { buildContent, type ContentSetup } from '../content/setup.js';
import { loadForReloadOffThread } from './reload-config.js';
import { HeapRelease } from './heap-release.js';
import { buildOutputs, type Outputs } from '../observe/outputs.js';
import { ResourceSampler, readConntrackMarks } from '../observe/sysstats.js';
import { StepTimer } from '../core/steps.js';
import type { Verdict } from '../core/types.js';
import { setInspectLimits } from '../apps/parse/lines.js';
import { Enforcement } from './enforcement.js';
import { FailOpenMeter } from './fail-open.js';
import { VerdictMarks } from './verdict-marks.js';
import { Watchdog } from './watchdog.js';
import { shareOverIpc, type EndpointShare } from './endpoint-share.js';
import { boot, openStatus, restartNeeded, serveUntilStopped, type Boot, type RunOptions } from './boot.js';

/** One live process's packet path: what it counts and writes, the pipeline, and its bound queue. */
interface PacketPath {
  /** The NFQUEUE number bound: `queue.num` (+ the worker index). */
  queueNum: number;
  counters: Counters;
  tracer: StepTimer | null;
  /** `--flows` file (JSON Lines of ended flows), or null. */
  flowsOut: fs.WriteStream | null;
  content: ContentSetup;
  outputs: Outputs;
  pipeline: Pipeline;
  queue: PacketQueue;
}

/** A running daemon: its boot, packet path, rules (null in a queue worker), resource sampler and watchdog. */
interface Live extends Boot, PacketPath {
  opts: RunOptions;
  enforcement: Enforcement | null;
  resources: ResourceSampler;
  /** Lifts the queue rules while this process's main thread is stalled (src/runtime/watchdog.ts). */
  watchdog: Watchdog;
  /** A queue worker's endpoint sharing with its siblings (endpoint-share.ts); null otherwise. */
  share: EndpointShare | null;
}

/**
 * Runs the daemon (one queue; with `opts.worker`, queue worker `index` of a supervisor) until
 * SIGTERM/SIGINT. `opts.queues` is not looked at here: `runGateway` (run.ts) picks the mode.
 * @returns the process exit code: 0, or 1 when our rules could not all be removed
 * @throws ConfigError / RulesError on a bad config or rules (nothing installed yet); P2pgwError
 *   (NOT_ROOT, NFQUEUE, IPTABLES, MISSING_FEATURE, TC) when the system cannot be set up
 */
export async function runDaemon(opts: RunOptions): Promise<number> {
  const b = boot(opts, 'daemon');
  const packets = await openPacketPath(b, opts);
  let enforcement: Enforcement | null = null;
  if (!opts.worker) enforcement = await Enforcement.start(b.cfg, b.classifier, 1, b.logger).catch((err) => failStart(b, packets, err));
  const watchdog = new Watchdog(enforcement?.backend ?? null, b.logger, packets.counters);
  await watchdog.configure(b.cfg, b.classifier);
  const share = opts.worker ? shareOverIpc(packets.pipeline.endpoints, b.cfg.endpoints.shareBacklog, packets.counters) : null;
  const d: Live = { ...b, ...packets, opts, enforcement, resources: new ResourceSampler(), watchdog, share };
  const socketPath = opts.statusSocket ?? (opts.worker ? `${b.cfg.status.socket}.${opts.worker.index}` : b.cfg.status.socket);
  const status = await openStatus(socketPath, () => statusDoc(d), b.logger);
  const tick = startTick(d);
  logReady(d, status ? socketPath : null);
  return serveUntilStopped(b, {
    tick,
    enforcement,
    release: () => release(d, status),
    stopped: () => ({
      counters: d.counters.snapshot(), nfq: d.queue.stats, held_peak: d.pipeline.inspect?.heldPeak ?? 0, ...(d.tracer ? { steps: d.tracer.summary() } : {}),
    }),
    after: () => d.flowsOut?.end(),
    reload: () => reload(d),
    usr1: () => b.logger.info(snapshot(d), 'status'),
  });
}

/**
 * Builds the packet path (counters, content inspection, outputs, pipeline) and binds the queue.
 * @throws what openPacketQueue throws (P2pgwError NFQUEUE, MISSING_FEATURE), after closing the
 *   content setup and the log; ConfigError from the content setup or the outputs
 */
async function openPacketPath(b: Boot, opts: RunOptions): Promise<PacketPath> {
  const { cfg, logger } = b;
  const queueNum = cfg.queue.num + (opts.worker?.index ?? 0);
  const counters = new Counters();
  const tracer = opts.traceSteps ? new StepTimer() : null;
  const flowsFile = opts.flows;
  const flowsOut = flowsFile
    ? fs.createWriteStream(flowsFile, { fd: openOutputFile(flowsFile, true, 0o600, (why) => new P2pgwError('P2PGW_ERR_USAGE', `--flows ${flowsFile}: cannot write: ${why}`)) })
    : null;
  const content = buildContent(cfg, counters, 'live', logger);
  for (const n of content.notices) logger.warn(n);
  let queue: PacketQueue | null = null;
  // Our mark inside iptables.mark_mask, the packet's queued mark (other tools') outside it.
  const marks = new VerdictMarks(cfg.iptables.markMask);
  const give = (id: number, v: Verdict): void => {
    const t = tracer ? performance.now() : 0;
    const mark = marks.settle(id, v.verdict === 'repeat' ? v.mark : undefined);
    queue!.verdict(id, v.verdict, mark, v.verdict === 'repeat' ? v.packet : undefined);
    if (tracer) tracer.add('verdict', performance.now() - t);
  };
  const apps = b.classifier.apps.map((a) => ({ name: a.desc.name, title: a.desc.title, mark: a.mark }));
  // Each queue worker exports as its own Observation Domain (flow_export.observation_domain + index).
  const outputs = buildOutputs(cfg, { flowLogDir: opts.flowLog, exportPcap: opts.exportPcap, ipfix: opts.ipfix, apps, domainOffset: opts.worker?.index ?? 0 }, counters, logger);
  const pipeline = new Pipeline(b.classifier, { ...pipelineOptions(cfg, true, content), tracer }, counters, {
    onClassified: (flow, c) => {
      logClassification(logger, flow, c);
      outputs.onClassified(flow);
    },
    onFlowEnd: (flow, why) => {
      flowsOut?.write(`${JSON.stringify(flowRecord(flow, 'live'))}\n`);
      outputs.onFlowEnd(flow, 'live', why);
    },
    onPacket: (flow, ip, ts) => outputs.onPacket(flow, ip, ts),
    onVerdict: give,
  });
  try {
    queue = openPacketQueue({ ...cfg.queue, num: queueNum }, (p) => {
      const t = tracer ? performance.now() : 0;
      marks.begin(p.id, p.mark);
      const d = pipeline.handle(p.payload, Date.now() / 1000, p.id, (p.mark & marks.mask) >>> 0, p.flags);
      if (d) give(p.id, d);
      marks.end();
      if (tracer && d) tracer.add('packet', performance.now() - t);
    }, {
      onError: (err) => {
        counters.inc('verdict_callback_error');
        logger.error({ err }, 'packet callback failed; packet accepted');
      },
      // --trace-steps: each verdict's wait from its batch's arrival to its sendmsg; the sendmsg.
      ...(tracer ? { onFlush: (n: number, waitMs: number, sendMs: number) => {
        for (let i = 0; i < n; i++) tracer.add('batch_verdict', waitMs);
        tracer.add('batch_send', sendMs);
      } } : {}),
    });
  } catch (err) {
    return failStart(b, { content, queue: null }, err);
  }
  for (const w of queue.warnings) logger.warn(w);
  return { queueNum, counters, tracer, flowsOut, content, outputs, pipeline, queue };
}

/** A failed start after the packet path was (partly) built: unbinds the queue, closes content and log, rethrows. */
async function failStart(b: Boot, p: { content: ContentSetup; queue: PacketQueue | null }, err: unknown): Promise<never> {
  p.queue?.close();
  await p.content.close();
  b.closeLog();
  throw err;
}

/** The `status` line (SIGUSR1) and the core of the status document. */
function snapshot(d: Live) {
  return {
    pid: process.pid, uptime_s: Math.round(process.uptime()), queue: d.queueNum, flows: d.pipeline.flows.size,
    held: d.pipeline.inspect?.held ?? 0, held_peak: d.pipeline.inspect?.heldPeak ?? 0,
    counters: d.counters.snapshot(), nfq: d.queue.stats, ...d.resources.stats(),
    shaping: d.enforcement?.shaping ?? null,
    endpoints: d.pipeline.endpoints?.table.stats() ?? null,
    ...(d.tracer ? { steps: d.tracer.summary() } : {}),
  };
}

/**
 * The status document: the snapshot plus per-application figures; live connections and bytes per
 * mark come from conntrack (a queue worker leaves them to its supervisor: zeros).
 */
async function statusDoc(d: Live) {
  const live = d.opts.worker ? new Map<number, { connections: number; bytes: number }>() : await readConntrackMarks(d.cfg.iptables.markMask);
  const apps = d.pipeline.classifier.apps.map((a) => ({
    app: a.desc.name, mark: a.mark, action: a.action,
    flows: d.counters.get(`classified_${a.desc.name}`), blocks: d.counters.get(`blocked_${a.desc.name}`),
    live_connections: live.get(a.mark)?.connections ?? 0, live_bytes: live.get(a.mark)?.bytes ?? 0,
  }));
  return { ...snapshot(d), apps };
}

/**
 * Once a second: expires idle flows, runs the pipeline's timers, samples resources, refreshes the
 * shaping statistics, flushes the outputs, and counts and logs new kernel-side queue drops.
 */
function startTick(d: Live): NodeJS.Timeout {
  let lastKernelDrops = 0;
  const failOpen = new FailOpenMeter({
    queues: [d.queueNum], pollSec: d.cfg.queue.failOpenPollSec, rulePackets: d.enforcement ? () => d.enforcement!.queueRulePackets() : null,
    own: () => ({ num: d.queueNum, received: d.counters.get('packets'), pending: d.queue.pending }),
  }, d.counters, d.logger);
  const release = new HeapRelease(); // memory back after a flood (./heap-release.ts)
  return setInterval(() => {
    void failOpen.sample();
    const now = Date.now() / 1000;
    d.pipeline.expire(now);
    if (release.tick(d.pipeline.flows.size)) d.counters.inc('heap_release');
    d.pipeline.tick(now);
    d.resources.sample();
    void d.enforcement?.refreshStats(() => d.counters.inc('shaping_stats_error'));
    d.outputs.flush();
    const qs = readQueueStats(d.queueNum);
    if (qs) {
      const drops = qs.queueDropped + qs.userDropped;
      if (drops > lastKernelDrops) {
        d.counters.inc('kernel_queue_dropped', drops - lastKernelDrops);
        d.logger.warn({ queue_dropped: qs.queueDropped, user_dropped: qs.userDropped }, 'kernel dropped queued packets');
      }
      lastKernelDrops = drops;
    }
  }, 1000);
}

/** The `ready` line: queue, iptables backend (not in a worker), applications, signatures, config, pid, steps, status socket. */
function logReady(d: Live, statusSocket: string | null): void {
  const b = d.enforcement?.backend;
  d.logger.info(
    {
      queue: d.queueNum, ...(b ? { backend: b.backend, backend_reason: b.reason, families: b.families } : {}),
      apps: d.classifier.apps.map((a) => `${a.desc.name}:${a.mark}:${a.action}`), signatures: d.rules.sigs.length,
      config: d.cfg.file, pid: process.pid, trace_steps: !!d.tracer, status_socket: statusSocket,
    },
    'ready',
  );
}

/**
 * SIGHUP: re-reads the config and the rules. An invalid new config is refused with an error line
 * and the old one keeps running. A valid one applies without dropping established connections:
 * new flows use the new classifier, the endpoint table takes its new size, ttl, sources and
 * learning window (a smaller size evicts at once), keyword lists apply to the next message of every inspected
 * connection, and the iptables chains and shaping tree are updated in place. Logs `reloaded`.
 * The config is read and its keyword lists compiled in a worker thread (./reload-config.ts):
 * packets are judged with the old config meanwhile, and the new one applies at once when ready.
 */
async function reload(d: Live): Promise<void> {
  const shared = d.content.inspect.shared;
  const r = await loadForReloadOffThread(d.opts.config, d.logger, d.counters, d.cfg.file, shared.keywords);
  if (!r) return;
  const { next, built, keywords } = r;
  const later = restartNeeded(next, d.cfg);
  d.pipeline.setClassifier(built.classifier);
  d.pipeline.setEndpoints(next.endpoints);
  d.share?.configure(next.endpoints.shareBacklog);
  shared.keywords = keywords;
  shared.keywordsOn = { chat: next.keywords.chat, filenames: next.keywords.filenames };
  setInspectLimits(next.parserLimits);
  if (!d.opts.logLevel) d.logger.level = next.log.level;
  await d.enforcement?.reload(next, built.classifier);
  await d.watchdog.configure(next, built.classifier);
  d.counters.inc('reloads');
  d.logger.info(
    {
      config: next.file, apps: built.classifier.apps.map((a) => `${a.desc.name}:${a.mark}:${a.action}`), signatures: built.rules.sigs.length,
      keywords: keywords.size, ...(later.length ? { restart_needed_for: later } : {}),
    },
    'reloaded',
  );
}

/**
 * The daemon's part of a stop, once our rules are gone (no new packets are queued): judge what is
 * still in flight, and only then unbind (the kernel drops packets left in an unbound queue); then
 * close the status socket, content inspection and outputs.
 */
async function release(d: Live, status: net.Server | null): Promise<void> {
  await d.watchdog.stop();
  d.pipeline.flush(); // releases held packets (accepted) before the queue is unbound
  if (!(await d.queue.drain(1000))) d.logger.warn('queue did not drain within 1 s; remaining packets are accepted by close()');
  d.queue.close();
  status?.close();
  await d.content.close();
  await d.outputs.close();
}
