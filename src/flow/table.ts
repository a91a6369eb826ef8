/**
 * Bidirectional flow table keyed by 5-tuple with per-protocol idle timeouts and a hard cap on the
 * number of flows. Map insertion order is kept as recency order (each hit re-inserts the flow), so
 * the first entry is always the least recently used: eviction and expiry are O(1) per flow.
 * Hitting the cap evicts the LRU flow and counts `flow_evicted`. Flows the owner asks to keep
 * (`keep`: connections being inspected, whose lost state would let the rest of them pass or be
 * reset) live in a second recency map (moved there at their packets, or when eviction reaches them)
 * and are evicted only when every other flow is gone, so a flood of new connections evicts its own
 * flows first.
 */
import { TCP_ACK, TCP_SYN, type DecodedPacket } from '../decode/types.js';
import type { Counters } from '../core/counters.js';
import { Flow, flowKey } from './flow.js';

export interface FlowTableOptions {
  /** Hard cap on live flows. */
  maxFlows: number;
  /** Idle timeouts, seconds. */
  tcpIdleSec: number;
  udpIdleSec: number;
}

/** Why a flow ended: idle timeout, LRU eviction, or the end of input / daemon stop. */
export type FlowEndReason = 'idle' | 'evicted' | 'flush';

export class FlowTable {
  /** Flows evicted first, least recently used first. */
  private readonly flows = new Map<string, Flow>();
  /** Flows `keep` asked to keep (placed at their last packet), least recently used first. */
  private readonly kept = new Map<string, Flow>();

  /**
   * @param keep evaluated at each packet of a flow: true moves the flow into the kept map, which is
   *   evicted from only when the other map is empty (default: nothing is kept)
   */
  constructor(
    private readonly opts: FlowTableOptions,
    private readonly onEnd: (flow: Flow, why: FlowEndReason) => void,
    private readonly counters?: Counters,
    private readonly keep?: (flow: Flow) => boolean,
  ) {}

  /** Whether the last lookup created its flow. */
  created = false;

  get size(): number {
    return this.flows.size + this.kept.size;
  }

  /**
   * Finds or creates the flow of `pkt` at time `ts` (seconds) and moves it to the most recently
   * used position. A flow idle past its timeout is ended first and a new one created (e.g. a UDP
   * 5-tuple reused after 64 s is a new conversation), and so is a TCP flow whose 5-tuple a new
   * connection reuses (a SYN without ACK after the old one was answered: a client reusing its port
   * at once; its SYN must not be taken for a segment of the old stream), ended as `idle`.
   * @returns the flow (the packet's direction in it: `flow.dirOf(pkt)`); `created` tells whether
   *   this call created it (no result object per packet)
   */
  lookup(pkt: DecodedPacket, ts: number): Flow {
    const key = flowKey(pkt);
    let flow = this.flows.get(key) ?? this.kept.get(key);
    const reused = !!flow && pkt.l4 === 'tcp' && (pkt.flags & (TCP_SYN | TCP_ACK)) === TCP_SYN && flow.answered;
    if (flow && (reused || ts - flow.tsEnd > this.timeout(flow))) {
      this.end(key, flow, 'idle');
      flow = undefined;
    }
    this.created = false;
    if (flow) {
      if (!this.flows.delete(key)) this.kept.delete(key);
    } else {
      if (this.size >= this.opts.maxFlows) this.evictOldest();
      flow = new Flow(key, pkt, ts);
      this.created = true;
      if (this.counters) this.counters.hot.flow_created++;
    }
    (this.keep?.(flow) ? this.kept : this.flows).set(key, flow);
    return flow;
  }

  /** Ends every flow idle at time `now` (seconds). Returns how many ended. */
  expire(now: number): number {
    let n = 0;
    const minTimeout = Math.min(this.opts.tcpIdleSec, this.opts.udpIdleSec);
    for (const map of [this.flows, this.kept]) {
      for (const [key, flow] of map) {
        const idle = now - flow.tsEnd;
        if (idle > this.timeout(flow)) {
          this.end(key, flow, 'idle');
          n++;
        } else if (idle <= minTimeout) {
          break; // recency order: every later flow was seen more recently
        }
      }
    }
    return n;
  }

  /** Ends every flow (end of capture, daemon stop). */
  flush(): void {
    for (const [key, flow] of [...this.flows, ...this.kept]) this.end(key, flow, 'flush');
  }

  /** Iterates live flows (LRU first: the evictable ones, then the kept ones). */
  *values(): IterableIterator<Flow> {
    yield* this.flows.values();
    yield* this.kept.values();
  }

  private timeout(flow: Flow): number {
    return flow.l4 === 'tcp' ? this.opts.tcpIdleSec : this.opts.udpIdleSec;
  }

  private evictOldest(): void {
    // A flow may have become one to keep since its last packet (classified and inspected by it).
    for (let f = this.flows.entries().next(); !f.done && this.keep?.(f.value[1]); f = this.flows.entries().next()) {
      this.flows.delete(f.value[0]);
      this.kept.set(f.value[0], f.value[1]);
    }
    const first = (this.flows.size ? this.flows : this.kept).entries().next();
    if (first.done) return;
    const [key, flow] = first.value;
    this.counters?.inc('flow_evicted');
    this.end(key, flow, 'evicted');
  }

  private end(key: string, flow: Flow, why: FlowEndReason): void {
    if (!this.flows.delete(key)) this.kept.delete(key);
    this.onEnd(flow, why);
  }
}
