/**
 * Bidirectional flow table keyed by 5-tuple with per-protocol idle timeouts and a hard cap on the
 * number of flows. Map insertion order is kept as recency order (each hit re-inserts the flow), so
 * the first entry is always the least recently used: eviction and expiry are O(1) per flow.
 * Hitting the cap evicts the LRU flow and counts `flow_evicted`.
 */
import type { DecodedPacket } from '../decode/types.js';
import type { Counters } from '../core/counters.js';
import type { Dir } from '../core/types.js';
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
  private readonly flows = new Map<string, Flow>();

  constructor(
    private readonly opts: FlowTableOptions,
    private readonly onEnd: (flow: Flow, why: FlowEndReason) => void,
    private readonly counters?: Counters,
  ) {}

  get size(): number {
    return this.flows.size;
  }

  /**
   * Finds or creates the flow of `pkt` at time `ts` (seconds) and moves it to the most recently
   * used position. A flow idle past its timeout is ended first and a new one created (e.g. a UDP
   * 5-tuple reused after 64 s is a new conversation).
   */
  lookup(pkt: DecodedPacket, ts: number): { flow: Flow; dir: Dir; created: boolean } {
    const key = flowKey(pkt);
    let flow = this.flows.get(key);
    if (flow && ts - flow.tsEnd > this.timeout(flow)) {
      this.end(key, flow, 'idle');
      flow = undefined;
    }
    let created = false;
    if (flow) {
      this.flows.delete(key);
    } else {
      if (this.flows.size >= this.opts.maxFlows) this.evictOldest();
      flow = new Flow(key, pkt, ts);
      created = true;
      this.counters?.inc('flow_created');
    }
    this.flows.set(key, flow);
    return { flow, dir: flow.dirOf(pkt), created };
  }

  /** Ends every flow idle at time `now` (seconds). Returns how many ended. */
  expire(now: number): number {
    let n = 0;
    const minTimeout = Math.min(this.opts.tcpIdleSec, this.opts.udpIdleSec);
    for (const [key, flow] of this.flows) {
      const idle = now - flow.tsEnd;
      if (idle > this.timeout(flow)) {
        this.end(key, flow, 'idle');
        n++;
      } else if (idle <= minTimeout) {
        break; // recency order: every later flow was seen more recently
      }
    }
    return n;
  }

  /** Ends every flow (end of capture, daemon stop). */
  flush(): void {
    for (const [key, flow] of [...this.flows]) this.end(key, flow, 'flush');
  }

  /** Iterates live flows (LRU first). */
  values(): IterableIterator<Flow> {
    return this.flows.values();
  }

  private timeout(flow: Flow): number {
    return flow.l4 === 'tcp' ? this.opts.tcpIdleSec : this.opts.udpIdleSec;
  }

  private evictOldest(): void {
    const first = this.flows.entries().next();
    if (first.done) return;
    const [key, flow] = first.value;
    this.counters?.inc('flow_evicted');
    this.end(key, flow, 'evicted');
  }

  private end(key: string, flow: Flow, why: FlowEndReason): void {
    this.flows.delete(key);
    this.onEnd(flow, why);
  }
}
