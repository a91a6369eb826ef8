/**
 * Kernel-side enforcement of a config, shared by the single-process daemon and the multi-queue
 * supervisor: our iptables chains (classification queueing, inspected applications, blocks, the
 * kill mark) and the shaping tree (tc HTB per application mark). Install, update on reload, remove
 * on stop, and per-class statistics for `p2pgw status`.
 */
import type { Logger } from 'pino';
import type { Classifier } from '../apps/classifier.js';
import type { EffectiveConfig } from '../config/load.js';
import { detectBackend, install, remove, validateRuleOptions, type Backend, type RuleOptions } from '../enforce/iptables.js';
import { readQueueRulePackets } from '../enforce/queue-counters.js';
import {
  applyShaping, describeSupport, detectQdiscSupport, planShaping, readClassStats, removeShaping,
  type ShapingClassStats, type ShapingPlan, type TcSupport,
} from '../enforce/tc.js';

/** The apps as the shaping planner sees them: name, mark, and the config's shape. */
const shapedApps = (c: EffectiveConfig, cl: Classifier) => cl.apps.map((a) => ({ name: a.desc.name, mark: a.mark, shape: c.apps[a.desc.name]?.shape }));

/**
 * The learning window's rule options: the marks of `allow` applications that have an endpoint
 * learner (inspected ones are queued whole anyway; blocked ones are rejected), and its length;
 * undefined when endpoint knowledge is off.
 */
export function learningWindow(c: EffectiveConfig, cl: Classifier): { marks: { mark: number }[]; packets: number } | undefined {
  const e = c.endpoints;
  if (e.size === 0 || e.learnPackets === 0) return undefined;
  const marks = cl.apps.filter((a) => a.action === 'allow' && a.desc.learner && a.mark > 0).map((a) => ({ mark: a.mark }));
  return marks.length ? { marks, packets: e.learnPackets } : undefined;
}

/** The options of our iptables rules for `c` and its compiled classifier (`queueCount` queues from `queue.num`). */
export function ruleOptionsOf(c: EffectiveConfig, cl: Classifier, queueCount: number): Omit<RuleOptions, 'family'> {
  const marks = (action: string) => cl.apps.filter((a) => a.action === action).map((a) => ({ mark: a.mark }));
  const inspected = marks('inspect');
  return {
    chain: c.iptables.chain, queueNum: c.queue.num, queueCount, classifyPackets: c.classify.packets,
    blocked: marks('block'), inspected, killMark: inspected.length ? c.inspect.killMark : 0,
    learning: learningWindow(c, cl), markMask: c.iptables.markMask,
  };
}

/**
 * The checks `Enforcement.start` makes before touching the system, for `p2pgw check-config`: the
 * rule options with the real marks (src/enforce/iptables.ts validateRuleOptions, which `install`
 * runs first) and, when shaping is configured, the HTB plan with the real marks (planShaping, as
 * `start` runs it, minus the kernel's qdisc support, which only a live start can probe).
 * @throws P2pgwError(P2PGW_ERR_IPTABLES) for rule options iptables would refuse; ShapeError /
 *   P2pgwError for a shaping plan that cannot be built
 */
export function checkEnforcement(c: EffectiveConfig, cl: Classifier, queueCount = 1): void {
  validateRuleOptions(ruleOptionsOf(c, cl, queueCount));
  if (c.shaping) planShaping({ shaping: c.shaping, apps: shapedApps(c, cl), markMask: c.iptables.markMask });
}

export class Enforcement {
  private support: TcSupport | null = null;
  private plan: ShapingPlan | null = null;
  private stats: ShapingClassStats[] = [];
  private statsBusy = false;
  private cfg: EffectiveConfig;
  private classifier: Classifier;

  private constructor(
    readonly backend: Backend,
    cfg: EffectiveConfig,
    classifier: Classifier,
    private readonly queueCount: number,
    private readonly logger: Logger,
  ) {
    this.cfg = cfg;
    this.classifier = classifier;
  }

  /**
   * Detects the iptables backend, installs our chains and, when configured, the shaping tree.
   * On failure everything installed so far is removed again.
   * @throws P2pgwError (IPTABLES, MISSING_FEATURE, TC, CONFIG)
   */
  static async start(cfg: EffectiveConfig, classifier: Classifier, queueCount: number, logger: Logger): Promise<Enforcement> {
    const backend = await detectBackend(cfg.iptables.backend);
    for (const w of backend.warnings) logger.warn({ backend: backend.backend }, w);
    const e = new Enforcement(backend, cfg, classifier, queueCount, logger);
    await install(e.ruleOptions(cfg, classifier));
    try {
      await e.shape(cfg, classifier);
    } catch (err) {
      await remove({ chain: cfg.iptables.chain, backend }).catch(() => undefined);
      throw err;
    }
    return e;
  }

  /** Packets our NFQUEUE rules offered to the queue(s) (src/enforce/queue-counters.ts); null when unreadable. */
  queueRulePackets(): Promise<number | null> {
    return readQueueRulePackets(this.backend, this.cfg.iptables.chain);
  }

  /** Shaping classes of the last refresh, or null when shaping is off. */
  get shaping(): ShapingClassStats[] | null {
    return this.plan ? this.stats : null;
  }

  /** Applies a reloaded config; errors are logged and the previous state stays. */
  async reload(next: EffectiveConfig, classifier: Classifier): Promise<void> {
    try {
      await install(this.ruleOptions(next, classifier));
    } catch (err) {
      this.logger.error({ err: (err as Error).message }, 'reload: reinstalling the iptables rules failed; the previous rules stay');
    }
    try {
      await this.shape(next, classifier);
    } catch (err) {
      this.logger.error({ err: (err as Error).message }, 'reload: shaping could not be applied; the previous shaping stays');
    }
    this.cfg = next;
    this.classifier = classifier;
  }

  /** Refreshes the shaping class statistics (skipped while a refresh is running). */
  async refreshStats(onError: () => void): Promise<void> {
    if (!this.plan || this.statsBusy) return;
    this.statsBusy = true;
    try {
      this.stats = (await Promise.all(this.plan.devices.map((d) => readClassStats(d.dev, { apps: shapedApps(this.cfg, this.classifier) })))).flat();
    } catch {
      onError();
    } finally {
      this.statsBusy = false;
    }
  }

  /** Removes our chains and the shaping tree. Returns false if something could not be removed (logged). */
  async stop(): Promise<boolean> {
    let ok = true;
    try {
      await remove({ chain: this.cfg.iptables.chain, backend: this.backend });
    } catch (err) {
      ok = false;
      this.logger.error({ err: (err as Error).message }, 'could not remove every iptables rule');
    }
    if (this.plan) {
      try {
        await removeShaping({ devs: this.plan.devices.map((d) => d.dev), chain: this.plan.iptables.chain, backend: this.backend });
      } catch (err) {
        ok = false;
        this.logger.error({ err: (err as Error).message }, 'could not remove the shaping setup');
      }
    }
    return ok;
  }

  private ruleOptions(cfg: EffectiveConfig, cl: Classifier) {
    return { ...ruleOptionsOf(cfg, cl, this.queueCount), backend: this.backend };
  }

  /** Plans and applies shaping for `cfg` (or removes it when the config has none). */
  private async shape(cfg: EffectiveConfig, cl: Classifier): Promise<void> {
    if (!cfg.shaping) {
      if (this.plan) await removeShaping({ devs: this.plan.devices.map((d) => d.dev), chain: this.plan.iptables.chain, backend: this.backend });
      this.plan = null;
      return;
    }
    if (!this.support) {
      this.support = await detectQdiscSupport({ backend: this.backend });
      for (const l of describeSupport(this.support)) this.logger.info(`shaping: ${l}`);
    }
    const plan = planShaping({ shaping: cfg.shaping, apps: shapedApps(cfg, cl), markMask: cfg.iptables.markMask }, this.support);
    const gone = (this.plan?.devices ?? []).map((d) => d.dev).filter((dev) => !plan.devices.some((d) => d.dev === dev));
    if (gone.length) await removeShaping({ devs: gone, keepChain: true, backend: this.backend });
    for (const n of [...plan.notices, ...(await applyShaping(plan, { backend: this.backend }))]) this.logger.warn(n);
    this.plan = plan;
  }
}
