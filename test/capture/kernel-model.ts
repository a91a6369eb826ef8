/**
 * A model of the kernel's NFQUEUE verdict handling (net/netfilter/nfnetlink_queue.c), for tests of
 * the batch boundary: queued packets in id order; NFQNL_MSG_VERDICT judges one id (ENOENT when it
 * is not queued); NFQNL_MSG_VERDICT_BATCH judges every queued id not after the given one, oldest
 * first (nfqnl_recv_verdict_batch). Ids compare modulo 2^32 (nfq_id_after).
 */
import { CMD, CMD_BATCH, CMD_MARK, CMD_PKT } from '../../src/capture/nfq-native.js';

export interface Judged {
  id: number;
  verdict: number;
  /** The mark set by the verdict, or undefined (left as queued). */
  mark: number | undefined;
  /** Replacement bytes, when the verdict carried some. */
  packet: Uint8Array | undefined;
  /** How: a single or a batch message. */
  via: 'single' | 'batch';
}

const after = (a: number, b: number): boolean => ((b - a) | 0) < 0;

export class KernelQueue {
  /** Ids still queued (no verdict yet), oldest first. */
  queued: number[] = [];
  /** Every verdict applied, in order. */
  readonly judged: Judged[] = [];
  /** Verdict messages for ids that were not queued (the kernel answers ENOENT). */
  readonly errors: number[] = [];

  enqueue(id: number): void {
    this.queued.push(id);
  }

  /** Applies `n` commands as the kernel would, in order. */
  apply(cmds: Uint32Array, n: number, packets: (Uint8Array | undefined)[] | null): void {
    for (let i = 0; i < n; i++) {
      const o = i * CMD;
      const [id, verdict, mark, flags] = [cmds[o], cmds[o + 1], cmds[o + 2], cmds[o + 3]];
      const m = flags & CMD_MARK ? mark : undefined;
      if (flags & CMD_BATCH) {
        const take: number[] = [];
        while (this.queued.length && !after(this.queued[0], id)) take.push(this.queued.shift()!);
        if (!take.length) this.errors.push(id);
        for (const t of take) this.judged.push({ id: t, verdict, mark: m, packet: undefined, via: 'batch' });
      } else {
        const at = this.queued.indexOf(id);
        if (at < 0) {
          this.errors.push(id);
          continue;
        }
        this.queued.splice(at, 1);
        const pkt = flags & CMD_PKT ? packets?.[flags >>> 8] : undefined;
        this.judged.push({ id, verdict, mark: m, packet: pkt, via: 'single' });
      }
    }
  }
}
