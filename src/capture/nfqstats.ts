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
