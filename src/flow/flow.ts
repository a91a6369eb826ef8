/**
 * One bidirectional flow (connection) keyed by its 5-tuple. Direction 0 ("out") is initiator →
 * responder; the initiator is the sender of the first packet seen (the SYN sender when the
 * handshake was captured).
 */
import type { DecodedPacket, L4 } from '../decode/types.js';
import { TCP_ACK, TCP_SYN } from '../decode/types.js';
import type { DetectMethod, Dir } from '../core/types.js';

/** Final verdict of a flow, as in flow records: `reset` = blocked TCP, `drop` = blocked UDP. */
export type FlowVerdict = 'accept' | 'drop' | 'reset';

export class Flow {
  readonly key: string;
  readonly l4: L4;
  readonly src: string;
  readonly sport: number;
  readonly dst: string;
  readonly dport: number;
  readonly tsStart: number;
  tsEnd: number;
  /** Packets and IP bytes per direction. */
  readonly pkts: [number, number] = [0, 0];
  readonly bytes: [number, number] = [0, 0];
  /** Payload bytes per direction. */
  readonly payloadBytes: [number, number] = [0, 0];
  /** TCP handshake progress: bit 1 = SYN out, 2 = SYN/ACK in, 4 = ACK out after SYN/ACK. */
  private hs = 0;
  /** True once the first packet of the flow carried a SYN without ACK (we saw the handshake start). */
  readonly sawSyn: boolean;
  /** Application name once classified, else null. */
  app: string | null = null;
  mark: number | null = null;
  verdict: FlowVerdict = 'accept';
  reason = 'unclassified';
  /** How the classification was reached, once classified. */
  method: DetectMethod | null = null;
  /** Where an `endpoint` classification's knowledge came from (dht, tracker, ...), or the `hostname`. */
  learnedFrom: string | null = null;
  /** Total packets (both directions) when the flow was classified, else null. */
  classifiedAfterPkts: number | null = null;
  /** Set when the classifier has finished (detected, or gave up); further packets skip it. */
  classifyDone = false;
  /** Opaque per-flow state owned by the pipeline (classifier, reassembler). */
  state: unknown = null;

  constructor(key: string, pkt: DecodedPacket, ts: number) {
    this.key = key;
    this.l4 = pkt.l4;
    this.src = pkt.src;
    this.sport = pkt.sport;
    this.dst = pkt.dst;
    this.dport = pkt.dport;
    this.tsStart = ts;
    this.tsEnd = ts;
    this.sawSyn = pkt.l4 === 'tcp' && (pkt.flags & (TCP_SYN | TCP_ACK)) === TCP_SYN;
  }

  /** Direction of `pkt` in this flow. */
  dirOf(pkt: DecodedPacket): Dir {
    return pkt.src === this.src && pkt.sport === this.sport ? 0 : 1;
  }

  /** Accounts one packet (counters, timestamps, handshake state). */
  account(pkt: DecodedPacket, dir: Dir, ts: number): void {
    this.pkts[dir]++;
    this.bytes[dir] += pkt.ipLen;
    this.payloadBytes[dir] += pkt.payload.length;
    if (ts > this.tsEnd) this.tsEnd = ts;
    if (this.l4 === 'tcp') {
      const f = pkt.flags & (TCP_SYN | TCP_ACK);
      if (dir === 0 && f === TCP_SYN) this.hs |= 1;
      else if (dir === 1 && f === (TCP_SYN | TCP_ACK) && this.hs & 1) this.hs |= 2;
      else if (dir === 0 && f === TCP_ACK && this.hs & 2) this.hs |= 4;
    }
  }

  /** Total packets both directions. */
  get totalPkts(): number {
    return this.pkts[0] + this.pkts[1];
  }

  /**
   * `answered`: TCP handshake completed (SYN, SYN/ACK, ACK seen); for a TCP flow captured
   * mid-stream (no SYN seen) any packet from the responder; for UDP any reply datagram.
   */
  get answered(): boolean {
    if (this.l4 === 'udp') return this.pkts[1] > 0;
    if (this.sawSyn) return (this.hs & 7) === 7;
    return this.pkts[1] > 0;
  }

  /** The responder sent application bytes. */
  get respPayload(): boolean {
    return this.payloadBytes[1] > 0;
  }
}

/**
 * Canonical 5-tuple key, the same for both directions: `l4|addrA|portA|addrB|portB` with the
 * lexicographically smaller endpoint first.
 */
export function flowKey(pkt: DecodedPacket): string {
  const a = `${pkt.src}|${pkt.sport}`;
  const b = `${pkt.dst}|${pkt.dport}`;
  return a < b ? `${pkt.l4}|${a}|${b}` : `${pkt.l4}|${b}|${a}`;
}
