/**
 * `p2pgw run` (src/cli/run.ts): picks the live mode. One queue runs the daemon in this process
 * (daemon.ts); `--queues N` with N > 1 runs the supervisor (supervisor.ts), which starts N queue
 * workers (worker-main.ts) and owns the rules.
 */
import type { RunOptions } from './boot.js';

/**
 * Runs the gateway until SIGTERM/SIGINT.
 * @param opts the options of `p2pgw run`; `queues` (default 1) picks the mode
 * @returns the process exit code: 0, or 1 when our rules could not all be removed
 * @throws what runDaemon / runSupervisor throw (ConfigError, RulesError, P2pgwError NOT_ROOT,
 *   NFQUEUE, IPTABLES, MISSING_FEATURE, TC)
 */
export async function runGateway(opts: RunOptions): Promise<number> {
  if ((opts.queues ?? 1) > 1 && !opts.worker) {
    const { runSupervisor } = await import('./supervisor.js');
    return runSupervisor(opts);
  }
  const { runDaemon } = await import('./daemon.js');
  return runDaemon(opts);
}
