/**
 * Named, counted events (Zeek's "weird"s, Suricata's memcap counters). Every cap that is hit, every
 * packet the daemon cannot judge and every malformed input increments one named counter here, so no
 * data is lost silently. Names are snake_case and stable; they are documented in the README.
 *
 * The counters the packet path increments for (nearly) every packet are plain number fields of
 * `hot` (`counters.hot.packets++`: no string hashing, no map lookup per packet; issue 13 item 3);
 * every other name lives in a map. `get` and `snapshot` show both the same way: a hot counter is
 * listed once it is non-zero, as a map counter is once incremented.
 */

/** The per-packet counters, kept as fields. */
export interface HotCounters {
  /** Packets the pipeline was handed. */
  packets: number;
  /** Packets whose checksum the kernel had not computed yet (NFQA_SKB_CSUMNOTREADY: GSO, offload). */
  checksum_not_ready: number;
  /** Flows created in the flow table. */
  flow_created: number;
  /** Packets of inspected connections held without a verdict (Q2). */
  held_packets: number;
  /** Inspected segments entirely before the expected sequence number (accepted unprocessed). */
  inspect_retransmit: number;
  /** Reassembly: retransmitted segments, and segments that arrived out of order. */
  tcp_retransmit: number;
  tcp_out_of_order: number;
}

const newHot = (): HotCounters => ({
  packets: 0, checksum_not_ready: 0, flow_created: 0, held_packets: 0, inspect_retransmit: 0, tcp_retransmit: 0, tcp_out_of_order: 0,
});

export class Counters {
  private readonly map = new Map<string, number>();
  /** The per-packet counters as plain fields (increment them directly on the packet path). */
  readonly hot: HotCounters = newHot();

  /** Adds `n` (default 1) to the counter `name` (a hot name may also be counted here: `get` sums both). */
  inc(name: string, n = 1): void {
    this.map.set(name, (this.map.get(name) ?? 0) + n);
  }

  /** Current value of `name` (0 if never incremented). */
  get(name: string): number {
    const h = Object.hasOwn(this.hot, name) ? this.hot[name as keyof HotCounters] : 0;
    return h + (this.map.get(name) ?? 0);
  }

  /** A plain sorted object of every counter, for JSON output and tests. */
  snapshot(): Record<string, number> {
    const all = new Map(this.map);
    for (const [k, v] of Object.entries(this.hot)) if (v !== 0) all.set(k, v + (all.get(k) ?? 0));
    return Object.fromEntries([...all.entries()].sort(([a], [b]) => a.localeCompare(b)));
  }
}
