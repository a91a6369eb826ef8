/**
 * What the two live modes share (`p2pgw run`: the single-process daemon and queue workers in
 * daemon.ts, the `--queues N` supervisor in supervisor.ts): their options, the boot (config with
 * the command line's log overrides, classifier, logger, root check), the status socket, config
 * reloads, and the signal handling with the common part of the stop sequence.
 */
import type net from 'node:net';
import type { Logger } from 'pino';
import { APPS } from '../apps/registry.js';
import type { Classifier } from '../apps/classifier.js';
import type { RuleSet } from '../apps/rules.js';
import { loadConfig, type EffectiveConfig } from '../config/load.js';
import type { Counters } from '../core/counters.js';
import { P2pgwError } from '../core/errors.js';
import { checkKeywordLists } from '../content/keywords.js';
import { createLogger } from '../observe/log.js';
import { serveStatus } from '../observe/status.js';
import { buildClassifier } from './setup.js';

/** Options of `p2pgw run` (src/cli/run.ts), and of a queue worker (JSON argument of worker-main.ts). */
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
  /** IPFIX collector `HOST:PORT` (overrides `flow_export.collector`). */
  ipfix?: string;
  /** Status socket path (overrides the config). */
  statusSocket?: string;
  /** Record per-step timings (M1–M9) and report them in `stopped`, `status` and SIGUSR1 lines. */
  traceSteps?: boolean;
  /** Number of queues/processes (`--queues N`, 1–64); more than 1 runs the supervisor (run.ts). */
  queues?: number;
  /** Internal: this process is queue worker `index` of a supervisor (no rules of its own). */
  worker?: { index: number };
}

/** A booted live process: its effective config, compiled classifier and logger. */
export interface Boot {
  cfg: EffectiveConfig;
  classifier: Classifier;
  rules: RuleSet;
  /** The process logger; a queue worker's adds `worker: <index>` to every line. */
  logger: Logger;
  /** Flushes and closes the log destination (syslog socket); the last thing a process does. */
  closeLog(): void;
}

/** The NOT_ROOT error text of each mode (unchanged from before the two shared their boot). */
const NOT_ROOT_TEXT = {
  daemon: '`p2pgw run` needs root (CAP_NET_ADMIN) to bind the NFQUEUE and install iptables rules; try `p2pgw replay` or `sudo`',
  supervisor: '`p2pgw run` needs root (CAP_NET_ADMIN)',
} as const;

/**
 * The start of both live modes: loads the config (`opts.config`, else the bundled default),
 * applies `--log-dest` / `--log-level`, compiles the rules into the classifier, creates the logger
 * (a child with `worker: <index>` for a queue worker) and logs its notice, then checks for root.
 * @param role `daemon` (single process or queue worker) or `supervisor`: picks the NOT_ROOT text
 * @throws ConfigError / RulesError / P2pgwError(P2PGW_ERR_PATTERN) on a bad config or rules;
 *   P2pgwError(P2PGW_ERR_NOT_ROOT) when not running as root (the logger is left open then)
 */
export function boot(opts: RunOptions, role: 'daemon' | 'supervisor'): Boot {
  const cfg = loadConfig(opts.config, APPS.map((a) => a.name));
  if (opts.logDest) cfg.log.dest = opts.logDest;
  if (opts.logLevel) cfg.log.level = opts.logLevel;
  const { classifier, rules } = buildClassifier(cfg);
  const { logger: base, notice, close } = createLogger(cfg.log, 'live');
  const logger = opts.worker ? base.child({ worker: opts.worker.index }) : base;
  if (notice) logger.warn(notice);
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new P2pgwError('P2PGW_ERR_NOT_ROOT', NOT_ROOT_TEXT[role]);
  }
  return { cfg, classifier, rules, logger, closeLog: close };
}

/**
 * Loads and compiles a config for a reload (SIGHUP).
 * @param file the config file given at start (undefined: the bundled default)
 * @param current the running config's file, for the error line
 * @returns the new config, its classifier and rules (its keyword lists are checked, not compiled:
 *   the daemon reloads off the main thread with ./reload-config.ts, which compiles them in a worker;
 *   this in-thread variant serves the supervisor); null when the new config or its
 *   rules are invalid: counts `reload_refused` and logs `reload refused: invalid config; the old
 *   config keeps running` with `err` and `config`
 */
export function loadForReload(file: string | undefined, logger: Logger, counters: Counters, current: string) {
  try {
    const next = loadConfig(file, APPS.map((a) => a.name));
    checkKeywordLists(next.keywords.lists);
    return { next, built: buildClassifier(next) };
  } catch (err) {
    counters.inc('reload_refused');
    logger.error({ err: (err as Error).message, config: current }, 'reload refused: invalid config; the old config keeps running');
    return null;
  }
}

/** Config sections that differ between `next` and `cur` and that a reload cannot change in a running process. */
export function restartNeeded(next: EffectiveConfig, cur: EffectiveConfig): string[] {
  return ['queue', 'scan', 'audit', 'iptables', 'status', 'inspect', 'flowExport'].filter(
    (k) => JSON.stringify((next as unknown as Record<string, unknown>)[k]) !== JSON.stringify((cur as unknown as Record<string, unknown>)[k]),
  );
}

/**
 * Serves `doc()` on the status socket `socket` (src/observe/status.ts). A socket that cannot be
 * served is not fatal: logs `status socket unavailable` (warn, with `err` and `socket`) and
 * resolves with null.
 */
export async function openStatus(socket: string, doc: () => Promise<unknown>, logger: Logger): Promise<net.Server | null> {
  return serveStatus(socket, doc).catch((err) => {
    logger.warn({ err: (err as Error).message, socket }, 'status socket unavailable');
    return null;
  });
}

/** The parts of a live process's run and stop that differ between the daemon and the supervisor. */
export interface StopPlan {
  /** The once-a-second timer, cleared as the stop begins. */
  tick: NodeJS.Timeout;
  /** Our iptables rules and shaping (null in a queue worker): removed first, so nothing new is queued. */
  enforcement: { stop(): Promise<boolean> } | null;
  /** Called as a stop begins, before anything else (the supervisor stops respawning workers). */
  begin?(): void;
  /** What runs once the rules are gone (the daemon drains its queue, the supervisor stops its workers). */
  release(): Promise<void>;
  /** Fields of the `stopped` line, read after `release()`. */
  stopped(): Record<string, unknown>;
  /** Runs after the `stopped` line. */
  after?(): void;
  /** SIGHUP: reloads the config. Reloads run one after the other. */
  reload(): Promise<void>;
  /** SIGUSR1; without it SIGUSR1 keeps its default action. */
  usr1?(): void;
}

/** Where a process's signals come from (the process itself; tests pass an EventEmitter). */
export type SignalSource = { on(event: NodeJS.Signals, listener: () => void): unknown };

/**
 * Installs the signal handlers and resolves once the process has stopped. SIGTERM/SIGINT stop it
 * (once): `begin()`, clear the tick, log `stopping` (`signal`), remove our rules
 * (`enforcement.stop()`), `release()`, log `stopped` (fields from `stopped()`), `after()`, and 50 ms
 * later close the log. SIGHUP runs `reload()`, SIGUSR1 `usr1()`.
 * @param signals where the signals come from (default: this process)
 * @returns exit code: 0, or 1 when our rules could not all be removed
 */
export function serveUntilStopped(b: Pick<Boot, 'logger' | 'closeLog'>, plan: StopPlan, signals: SignalSource = process): Promise<number> {
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = async (sig: string): Promise<void> => {
      if (stopping) return;
      stopping = true;
      plan.begin?.();
      clearInterval(plan.tick);
      b.logger.info({ signal: sig }, 'stopping');
      const ok = plan.enforcement ? await plan.enforcement.stop() : true;
      await plan.release();
      b.logger.info(plan.stopped(), 'stopped');
      plan.after?.();
      setTimeout(() => {
        b.closeLog();
        resolve(ok ? 0 : 1);
      }, 50);
    };
    signals.on('SIGTERM', () => void stop('SIGTERM'));
    signals.on('SIGINT', () => void stop('SIGINT'));
    let reloading = Promise.resolve();
    signals.on('SIGHUP', () => {
      reloading = reloading.then(() => plan.reload());
    });
    const usr1 = plan.usr1;
    if (usr1) signals.on('SIGUSR1', () => usr1());
  });
}
