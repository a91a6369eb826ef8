/**
 * Verdicts staged during a batch, and the plan that turns them into netlink verdict commands.
 *
 * The kernel's batch verdict (NFQNL_MSG_VERDICT_BATCH, what libnetfilter_queue's
 * nfq_set_verdict_batch2 sends) judges EVERY packet still queued whose id is not after the given
 * id, oldest first. So a run of identical verdicts may go as one batch command only when no packet
 * with a smaller id is still waiting for a different verdict: packets held by content inspection
 * (Q2) are waiting, so the plan never lets a batch command reach the oldest held id; anything at or
 * after it goes one command per packet. A packet with replacement bytes always goes alone.
 *
 * Ids are the kernel's u32 packet ids, compared modulo 2^32 (they wrap). Nothing here allocates
 * per packet: the arrays grow by doubling and are reused.
 */
import { CMD, CMD_BATCH, CMD_MARK, CMD_PKT } from './nfq-native.js';

/** a comes before b in the kernel's id order (modulo 2^32). */
export const idBefore = (a: number, b: number): boolean => ((a - b) | 0) < 0;

export class VerdictStage {
  /** Staged verdicts. */
  n = 0;
  private ids = new Uint32Array(256);
  private codes = new Uint8Array(256);
  private marks = new Uint32Array(256);
  private flags = new Uint32Array(256);
  private order = new Int32Array(256);
  /** Planned commands (CMD words each), valid after plan(). */
  cmds = new Uint32Array(256 * CMD);
  /** Replacement packets referenced by CMD_PKT commands (index << 8 in the flags word). */
  readonly packets: Uint8Array[] = [];

  /**
   * Stages one verdict.
   * @param code NF_ACCEPT, NF_DROP or NF_REPEAT
   * @param mark nfmark to set, or undefined to leave it
   * @param packet replacement bytes (e.g. a RST), or undefined
   */
  add(id: number, code: number, mark: number | undefined, packet: Uint8Array | undefined): void {
    if (this.n === this.ids.length) this.grow();
    const i = this.n++;
    this.ids[i] = id;
    this.codes[i] = code;
    this.marks[i] = mark ?? 0;
    let f = mark === undefined ? 0 : CMD_MARK;
    if (packet) {
      f |= CMD_PKT | (this.packets.length << 8);
      this.packets.push(packet);
    }
    this.flags[i] = f;
  }

  /** Forgets what was staged (after the commands were sent). */
  reset(): void {
    this.n = 0;
    this.packets.length = 0;
  }

  /**
   * Plans the commands for everything staged, in id order.
   * @param heldId the oldest id still waiting for a verdict that is not staged (a held packet), or
   *   null when there is none: no batch command may reach it
   * @returns the number of commands written to `cmds`
   */
  plan(heldId: number | null): number {
    const n = this.n;
    if (this.cmds.length < n * CMD) this.cmds = new Uint32Array(this.ids.length * CMD);
    this.sort();
    const { ids, codes, marks, flags, order } = this;
    let k = 0;
    let i = 0;
    while (i < n) {
      const a = order[i];
      let j = i;
      if (!(flags[a] & CMD_PKT)) {
        while (j + 1 < n && this.same(a, order[j + 1])) j++;
      }
      // The batch-eligible part of the run: ids before the oldest held one.
      let e = j;
      if (heldId !== null) while (e >= i && !idBefore(ids[order[e]], heldId)) e--;
      let from = i;
      if (e - i >= 1) {
        k = this.put(k, ids[order[e]], codes[a], marks[a], (flags[a] & CMD_MARK) | CMD_BATCH);
        from = e + 1;
      }
      for (let m = from; m <= j; m++) {
        const b = order[m];
        k = this.put(k, ids[b], codes[b], marks[b], flags[b]);
      }
      i = j + 1;
    }
    return k;
  }

  private same(a: number, b: number): boolean {
    const fa = this.flags[a];
    const fb = this.flags[b];
    return !(fb & CMD_PKT) && this.codes[a] === this.codes[b] && (fa & CMD_MARK) === (fb & CMD_MARK) && (!(fa & CMD_MARK) || this.marks[a] === this.marks[b]);
  }

  private put(k: number, id: number, code: number, mark: number, flags: number): number {
    const o = k * CMD;
    this.cmds[o] = id;
    this.cmds[o + 1] = code;
    this.cmds[o + 2] = mark;
    this.cmds[o + 3] = flags;
    return k + 1;
  }

  /** Insertion sort of `order` by id: staged verdicts are nearly always in id order already. */
  private sort(): void {
    const { ids, order } = this;
    for (let i = 0; i < this.n; i++) {
      let j = i;
      const v = ids[i];
      while (j > 0 && idBefore(v, ids[order[j - 1]])) {
        order[j] = order[j - 1];
        j--;
      }
      order[j] = i;
    }
  }

  private grow(): void {
    const len = this.ids.length * 2;
    const g32 = (a: Uint32Array) => {
      const b = new Uint32Array(len);
      b.set(a);
      return b;
    };
    this.ids = g32(this.ids);
    this.marks = g32(this.marks);
    this.flags = g32(this.flags);
    const c = new Uint8Array(len);
    c.set(this.codes);
    this.codes = c;
    this.order = new Int32Array(len);
    this.cmds = new Uint32Array(len * CMD);
  }
}
