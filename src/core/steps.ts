/**
 * Per-packet step timings (`p2pgw run --trace-steps`), the thesis' measurement points M1–M9
 * (§5, Figure 7): decode, flow lookup, order check (reassembly), dissector, matcher, inspect
 * (inspected connections: order check + stream parsing + keywords), verdict, scan per buffer, and
 * the whole packet (callback entry to verdict given), and batch_verdict (one sample per packet of a
 * batch: the batch's arrival in JavaScript to the sendmsg that carries its verdict, an upper bound
 * of the time a packet that is not held waits in user space) and batch_send (per sendmsg of
 * verdicts, in which the kernel re-injects and forwards the packets). When tracing is off nothing here runs: the
 * pipeline holds `null` and each hook is a single null check.
 *
 * Each step keeps its most recent `window` samples (µs) in a ring; summaries give count, mean and
 * p50/p99 over that window.
 */
export const STEP_NAMES = ['decode', 'flow_lookup', 'order_check', 'dissector', 'matcher', 'inspect', 'verdict', 'scan_per_buffer', 'packet', 'batch_verdict', 'batch_send'] as const;
export type StepName = (typeof STEP_NAMES)[number];

export interface StepSummary {
  count: number;
  mean_us: number;
  p50_us: number;
  p99_us: number;
}

class Ring {
  readonly buf: Float64Array;
  n = 0;
  sum = 0;
  constructor(size: number) {
    this.buf = new Float64Array(size);
  }
  add(v: number): void {
    this.buf[this.n % this.buf.length] = v;
    this.n++;
    this.sum += v;
  }
}

export class StepTimer {
  private readonly rings = new Map<StepName, Ring>();
  /** Time spent in nested steps during the current outer step, ms (see Pipeline.classify). */
  nested = 0;

  constructor(private readonly window = 100_000) {}

  /** Records `ms` milliseconds for `step`. */
  add(step: StepName, ms: number): void {
    let r = this.rings.get(step);
    if (!r) this.rings.set(step, (r = new Ring(this.window)));
    r.add(ms * 1000);
  }

  /** Summaries of every step seen so far. */
  summary(): Partial<Record<StepName, StepSummary>> {
    const out: Partial<Record<StepName, StepSummary>> = {};
    for (const name of STEP_NAMES) {
      const r = this.rings.get(name);
      if (!r || r.n === 0) continue;
      const k = Math.min(r.n, r.buf.length);
      const sorted = r.buf.slice(0, k).sort();
      const q = (p: number) => Math.round(sorted[Math.min(k - 1, Math.floor(p * k))] * 100) / 100;
      out[name] = { count: r.n, mean_us: Math.round((r.sum / r.n) * 100) / 100, p50_us: q(0.5), p99_us: q(0.99) };
    }
    return out;
  }
}
