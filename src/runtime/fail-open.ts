/**
 * Counting fail-open (issue 14, item 9d): packets the kernel accepted without the daemon's
 * judgment because the queue or its socket was full (src/capture/nfqstats.ts FailOpenAccount).
 * Once a second the owner of the queue compares /proc's per-queue ids with the packets it received
 * (socket overflow); every `queue.fail_open_poll` seconds the owner of the rules (the daemon, or the
 * supervisor of `--queues N`) also reads our NFQUEUE rules' packet counters (queue full). Growth is
 * counted (`kernel_fail_open_queue_full`, `kernel_fail_open_socket_full`) and logged (warn).
 */
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { Counters } from '../core/counters.js';
import { FailOpenAccount, NFQ_PROC_PATH, parseQueueStats, type QueueStats } from '../capture/nfqstats.js';

export interface FailOpenMeterOptions {
  /** Queue numbers our rules feed (all of them in the supervisor; the daemon's own otherwise). */
  queues: readonly number[];
  /** Seconds between reads of the rule counters (`queue.fail_open_poll`); 0: never. */
  pollSec: number;
  /** Reads our NFQUEUE rules' packet counters (null: this process owns no rules, e.g. a queue worker). */
  rulePackets: (() => Promise<number | null>) | null;
  /** This process's queue: its number, packets received so far and those without a verdict (absent: the supervisor). */
  own?: () => { num: number; received: number; pending: number };
  /** The /proc file's text (tests); default: read NFQ_PROC_PATH. */
  readProc?: () => string | null;
}

export class FailOpenMeter {
  readonly account = new FailOpenAccount();
  private busy = false;
  private lastRulesMs = -Infinity;

  constructor(
    private readonly o: FailOpenMeterOptions,
    private readonly counters: Counters,
    private readonly logger: Pick<Logger, 'warn'>,
  ) {}

  /**
   * Takes one sample (call once a second; a sample still reading the rules is not overlapped).
   * @param nowMs the clock deciding when the rule counters are due, ms
   */
  async sample(nowMs = Date.now()): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      let rulePackets: number | null | undefined;
      if (this.o.rulePackets && this.o.pollSec > 0 && nowMs - this.lastRulesMs >= this.o.pollSec * 1000) {
        this.lastRulesMs = nowMs;
        rulePackets = await this.o.rulePackets().catch(() => null);
      }
      // /proc after the rule counters: packets arriving in between make the estimate low, never high.
      const text = (this.o.readProc ?? readProc)();
      if (text === null) return;
      const all = parseQueueStats(text);
      const queues = new Map<number, QueueStats>();
      for (const n of this.o.queues) {
        const q = all.get(n);
        if (q) queues.set(n, q);
      }
      const g = this.account.update({ queues, rulePackets, own: this.o.own?.() });
      if (g.queueFull) {
        this.counters.inc('kernel_fail_open_queue_full', g.queueFull);
        this.logger.warn({ packets: g.queueFull, total: this.account.queueFull }, 'queue full: the kernel accepted packets without queueing them (fail-open)');
      }
      if (g.socketFull) {
        this.counters.inc('kernel_fail_open_socket_full', g.socketFull);
        this.logger.warn({ packets: g.socketFull, total: this.account.socketFull }, 'queue socket full: the kernel accepted queued packets it could not deliver (fail-open)');
      }
    } finally {
      this.busy = false;
    }
  }
}

function readProc(): string | null {
  try {
    return readFileSync(NFQ_PROC_PATH, 'utf8');
  } catch {
    return null;
  }
}
