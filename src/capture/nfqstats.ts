/**
 * Kernel-side NFQUEUE statistics from /proc/net/netfilter/nfnetlink_queue (per network namespace).
 * The nfqueue binding sets NETLINK_NO_ENOBUFS, so socket overruns are invisible to the daemon; the
 * kernel still counts them here (`user_dropped`), next to packets dropped because the queue was full
 * (`queue_dropped`, only when fail-open is off). The daemon polls this and reports the deltas.
 *
 * One line per bound queue, columns (kernel seq_printf "%5u %6u %5u %1u %5u %5u %5u %8u %2d"):
 *   queue_number peer_portid queue_total copy_mode copy_range queue_dropped user_dropped id_sequence 1
 */
import { readFileSync } from 'node:fs';

export const NFQ_PROC_PATH = '/proc/net/netfilter/nfnetlink_queue';

export interface QueueStats {
  /** Netlink port id of the process bound to the queue. */
  portId: number;
  /** Packets waiting for a verdict right now. */
  queueTotal: number;
  /** 0 none, 1 meta, 2 packet. */
  copyMode: number;
  copyRange: number;
  /** Packets dropped because the queue was full (maxlen reached, fail-open off). */
  queueDropped: number;
  /** Packets dropped because the netlink socket buffer was full (ENOBUFS, hidden from the binding). */
  userDropped: number;
  /** Last packet id handed out (packets ever queued, modulo 2^32). */
  idSequence: number;
}

/** Parses the whole file into queue number → stats. Malformed lines are skipped. */
export function parseQueueStats(text: string): Map<number, QueueStats> {
  const out = new Map<number, QueueStats>();
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8 || !f.slice(0, 8).every((x) => /^\d+$/.test(x))) continue;
    const n = f.slice(0, 8).map(Number);
    out.set(n[0], {
      portId: n[1],
      queueTotal: n[2],
      copyMode: n[3],
      copyRange: n[4],
      queueDropped: n[5],
      userDropped: n[6],
      idSequence: n[7],
    });
  }
  return out;
}

/**
 * Stats of queue `num`, from `text` or else the proc file of the current network namespace. Null
 * when nobody is bound to that queue or the file does not exist (nfnetlink_queue not loaded).
 */
export function readQueueStats(num: number, text?: string): QueueStats | null {
  let body = text;
  if (body === undefined) {
    try {
      body = readFileSync(NFQ_PROC_PATH, 'utf8');
    } catch {
      return null;
    }
  }
  return parseQueueStats(body).get(num) ?? null;
}

/** One sample of what FailOpenAccount compares. */
export interface FailOpenSample {
  /** /proc stats of the queues our rules feed (queue number → stats; parseQueueStats). */
  queues: ReadonlyMap<number, QueueStats>;
  /** Packets offered by our NFQUEUE rules (src/enforce/queue-counters.ts); null/absent: not known (a queue worker). */
  rulePackets?: number | null;
  /** The queue this process reads: packets it received so far, and those still without a verdict. */
  own?: { num: number; received: number; pending: number };
}

/**
 * Packets the kernel accepted without the daemon's judgment because of fail-open (issue 14, item
 * 9d), which /proc/net/netfilter/nfnetlink_queue does not count (the kernel increments
 * `queue_dropped` and `user_dropped` only when fail-open is off):
 *  - `queueFull`: offered by our rules (iptables counters) but never given a queue id: the queue
 *    was at `queue.maxlen` (or, with `--queue-bypass`, nobody was bound). rules − ids − queue_dropped.
 *  - `socketFull`: given an id but never delivered to this process: the netlink socket was full
 *    (the binding hides ENOBUFS). ids − received − (queue_total − pending) − user_dropped.
 * Both are cumulative since the first sample and never decrease; a reading that goes backwards (our
 * rules reinstalled, a queue rebound) rebases instead of counting. Because the rule counters are
 * read before /proc, packets that arrive in between make the estimate low, never high.
 */
export class FailOpenAccount {
  /** Packets accepted unqueued (queue full or no reader), so far. */
  queueFull = 0;
  /** Packets accepted undelivered (socket overflow), so far. */
  socketFull = 0;
  /**
   * Per queue: last raw id_sequence and queue_dropped, the netlink port (a new port = a new queue
   * instance, counting from 0 again), and ids and drops since the first sample. A queue that leaves
   * /proc (its process died) keeps its totals: what it took is still history.
   */
  private readonly ids = new Map<number, { raw: number; rawDropped: number; portId: number; total: number; dropped: number }>();
  private qBase: number | null = null;
  private sBase: number | null = null;
  private lastRules = -1;

  /**
   * Takes a sample.
   * @returns how much `queueFull` and `socketFull` grew with it (0 or more)
   */
  update(s: FailOpenSample): { queueFull: number; socketFull: number } {
    let rebased = false;
    for (const [num, q] of s.queues) {
      const prev = this.ids.get(num);
      // A new port, or ids that went backwards (more than half the 32-bit range): a new queue instance.
      if (!prev || prev.portId !== q.portId || ((q.idSequence - prev.raw) >>> 0) > 0x7fffffff) {
        this.ids.set(num, { raw: q.idSequence, rawDropped: q.queueDropped, portId: q.portId, total: prev?.total ?? 0, dropped: prev?.dropped ?? 0 });
        if (prev) rebased = true;
        continue;
      }
      prev.total += (q.idSequence - prev.raw) >>> 0;
      prev.raw = q.idSequence;
      prev.dropped += Math.max(0, q.queueDropped - prev.rawDropped);
      prev.rawDropped = q.queueDropped;
    }
    const ids = [...this.ids.values()].reduce((n, v) => n + v.total, 0);
    const qDropped = [...this.ids.values()].reduce((n, v) => n + v.dropped, 0);
    const grew = { queueFull: 0, socketFull: 0 };
    if (s.rulePackets !== undefined && s.rulePackets !== null) {
      const f = s.rulePackets - ids - qDropped;
      if (this.qBase === null || rebased || s.rulePackets < this.lastRules) this.qBase = f - this.queueFull;
      grew.queueFull = Math.max(0, f - this.qBase - this.queueFull);
      this.queueFull += grew.queueFull;
      this.lastRules = s.rulePackets;
    }
    const own = s.own && s.queues.get(s.own.num);
    const ownIds = s.own ? this.ids.get(s.own.num) : undefined;
    if (s.own && own && ownIds) {
      const g = ownIds.total - s.own.received - (own.queueTotal - s.own.pending) - own.userDropped;
      if (this.sBase === null || rebased) this.sBase = g - this.socketFull;
      grew.socketFull = Math.max(0, g - this.sBase - this.socketFull);
      this.socketFull += grew.socketFull;
    }
    return grew;
  }
}
