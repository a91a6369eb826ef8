/**
 * The earliest pending deadline of the inspect engine (issue 14, item 9c): held packets and
 * pending scans have timeouts (`inspect.hold_timeout_ms`, `inspect.scan_timeout_ms`) that must
 * fire on time, not at the next once-a-second tick (a 1 ms timeout used to stall a connection for
 * up to a second). Live, a timer is armed for the earliest deadline; in replay, where time is the
 * capture's, the pipeline's caller reads `at` and runs the engine's tick when a packet's time
 * reaches it.
 */
export class Deadline {
  /** Earliest deadline armed, ms (Infinity: none). */
  private due = Infinity;
  private timer: NodeJS.Timeout | null = null;

  /**
   * @param fire runs the engine's timeout check at `now()` (it re-arms for what is left)
   * @param real arm a real timer (live mode, where packet times are Date.now()); false: only track `at`
   * @param now the clock of packet times, ms (Date.now in live mode)
   */
  constructor(
    private readonly fire: (nowMs: number) => void,
    private readonly real: boolean,
    private readonly now: () => number = Date.now,
  ) {}

  /** Earliest armed deadline, ms since the epoch (Infinity when nothing is pending). */
  get at(): number {
    return this.due;
  }

  /** Makes sure the check runs at `atMs` (ms, the clock of packet times) or earlier. */
  arm(atMs: number): void {
    if (!(atMs < this.due)) return;
    this.due = atMs;
    if (!this.real) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.due = Infinity;
      this.fire(this.now());
    }, Math.max(0, Math.ceil(atMs - this.now())));
    this.timer.unref();
  }

  /** Forgets the armed deadline (before re-arming for what is still pending). */
  reset(): void {
    this.due = Infinity;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
