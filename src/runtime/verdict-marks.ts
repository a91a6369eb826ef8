/**
 * Verdict marks under `iptables.mark_mask` (issue 14, item 9g). An NFQUEUE verdict with a mark
 * replaces the packet's whole nfmark, so other tools' bits (mwan3's routing marks, QoS marks) set
 * before our hook would be lost and then saved to the connmark. With a mask, the daemon gives each
 * packet `(queued mark & ~mask) | (our mark & mask)`: its queued nfmark outside the mask, ours inside.
 * The queued mark of a packet judged later (held by content inspection) is kept until its verdict.
 */
export class VerdictMarks {
  private readonly full: boolean;
  /** Packets still without a verdict after their callback: id → queued nfmark. */
  private readonly later = new Map<number, number>();
  private curId = -1;
  private curMark = 0;
  private curOpen = false;

  /** @param mask the nfmark bits that are ours (0xffffffff: all; then marks pass unchanged, nothing is kept) */
  constructor(readonly mask: number) {
    this.full = mask >>> 0 === 0xffffffff;
  }

  /** Packets whose queued mark is kept for a later verdict. */
  get pending(): number {
    return this.later.size;
  }

  /** Call before judging packet `id`, queued with nfmark `queued`. */
  begin(id: number, queued: number): void {
    if (this.full) return;
    this.curId = id;
    this.curMark = queued >>> 0;
    this.curOpen = true;
  }

  /** Call after judging it: when it got no verdict yet (held), its queued mark is kept for later. */
  end(): void {
    if (this.full) return;
    if (this.curOpen) this.later.set(this.curId, this.curMark);
    this.curOpen = false;
  }

  /**
   * Settles packet `id`'s verdict (every verdict, marked or not, must pass here once).
   * @param mark our mark for a `repeat`, or undefined (accept, drop)
   * @returns the nfmark to give: `mark` inside the mask, the packet's queued mark outside it; undefined without `mark`
   */
  settle(id: number, mark: number | undefined): number | undefined {
    if (this.full) return mark;
    let queued: number | undefined;
    if (this.curOpen && id === this.curId) {
      queued = this.curMark;
      this.curOpen = false;
    } else {
      queued = this.later.get(id);
      this.later.delete(id);
    }
    if (mark === undefined) return undefined;
    return (((queued ?? 0) & ~this.mask) | (mark & this.mask)) >>> 0;
  }
}
