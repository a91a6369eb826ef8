/**
 * One bidirectional flow (connection) keyed by its 5-tuple. Direction 0 ("out") is initiator →
 * responder; the initiator is the sender of the first packet seen (the SYN sender when the
 * handshake was captured).
 *
 * Memory (issue 14, item 6): a full table holds 65,536 of these, so per-direction counters are
 * plain number fields (no arrays per flow); `pkts`, `bytes` and `payloadBytes` build their pairs
 * only when read (flow records, status, export), never on the packet path.
 */
import type { DecodedPacket, L4 } from '../decode/types.js';
import { TCP_ACK, TCP_SYN } from '../decode/types.js';
import type { DetectMethod, Dir } from '../core/types.js';

const NO_BYTES = new Uint8Array(0);

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
  private pkts0 = 0;
  private pkts1 = 0;
  private bytes0 = 0;
  private bytes1 = 0;
  private payload0 = 0;
  private payload1 = 0;
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
  /**
   * TCP: the first payload-less segment of each direction seen while the flow had no state (a SYN
   * flood's flows never get any: see noteStart), as seq + 2^32 if it was a SYN; -1 none.
   */
  private start0 = -1;
  private start1 = -1;
  /** The first packet's orientation in the binary key (DecodedPacket.fwd), when it had one. */
  private readonly fwd: boolean | undefined;

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
    this.fwd = pkt.fwd;
  }

  /** Direction of `pkt` in this flow. */
  dirOf(pkt: DecodedPacket): Dir {
    if (pkt.fwd !== undefined && this.fwd !== undefined) return pkt.fwd === this.fwd ? 0 : 1; // no string compare
    return pkt.src === this.src && pkt.sport === this.sport ? 0 : 1;
  }

  /**
   * Notes a payload-less TCP segment (no FIN, no RST) of direction `dir` that the pipeline did not
   * feed to a reassembler because the flow has no state yet; only the first one per direction
   * counts (the later ones change no reassembly state). replayStarts hands them over.
   */
  noteStart(dir: Dir, seq: number, flags: number): void {
    const v = (seq >>> 0) + (flags & TCP_SYN ? 2 ** 32 : 0);
    if (dir === 0) {
      if (this.start0 < 0) this.start0 = v;
    } else if (this.start1 < 0) {
      this.start1 = v;
    }
  }

  /** Feeds the noted starts to a new reassembler (as empty segments, SYN or not), then forgets them. */
  replayStarts(into: { segment(dir: Dir, seq: number, flags: number, payload: Uint8Array): unknown }): void {
    for (const dir of [0, 1] as const) {
      const v = dir === 0 ? this.start0 : this.start1;
      if (v >= 0) into.segment(dir, v % 2 ** 32, v >= 2 ** 32 ? TCP_SYN : 0, NO_BYTES);
    }
    this.start0 = this.start1 = -1;
  }

  /** Packets per direction [out, in] (a new pair per read). */
  get pkts(): readonly [number, number] {
    return [this.pkts0, this.pkts1];
  }

  /** IP bytes per direction [out, in] (a new pair per read). */
  get bytes(): readonly [number, number] {
    return [this.bytes0, this.bytes1];
  }

  /** Payload bytes per direction [out, in] (a new pair per read). */
  get payloadBytes(): readonly [number, number] {
    return [this.payload0, this.payload1];
  }

  /** Accounts one packet (counters, timestamps, handshake state). */
  account(pkt: DecodedPacket, dir: Dir, ts: number): void {
    if (dir === 0) {
      this.pkts0++;
      this.bytes0 += pkt.ipLen;
      this.payload0 += pkt.payload.length;
    } else {
      this.pkts1++;
      this.bytes1 += pkt.ipLen;
      this.payload1 += pkt.payload.length;
    }
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
    return this.pkts0 + this.pkts1;
  }

  /**
   * `answered`: TCP handshake completed (SYN, SYN/ACK, ACK seen); for a TCP flow captured
   * mid-stream (no SYN seen) any packet from the responder; for UDP any reply datagram.
   */
  get answered(): boolean {
    if (this.l4 === 'udp') return this.pkts1 > 0;
    if (this.sawSyn) return (this.hs & 7) === 7;
    return this.pkts1 > 0;
  }

  /** The responder sent application bytes. */
  get respPayload(): boolean {
    return this.payload1 > 0;
  }
}

/**
 * Canonical 5-tuple key, the same for both directions: the decoder's binary key (src/decode/key.ts:
 * no address text, no concatenation per packet), else `l4|addrA|portA|addrB|portB` with the
 * lexicographically smaller endpoint first (hand-built packets).
 */
export function flowKey(pkt: DecodedPacket): string {
  if (pkt.key !== undefined) return pkt.key;
  const a = `${pkt.src}|${pkt.sport}`;
  const b = `${pkt.dst}|${pkt.dport}`;
  return a < b ? `${pkt.l4}|${a}|${b}` : `${pkt.l4}|${b}|${a}`;
}
