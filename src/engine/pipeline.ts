/**
 * The packet path shared by live mode (NFQUEUE) and replay: decode → flow lookup → TCP
 * reassembly → classifier → verdict decision (thesis §3.2–3.4, Figure 3's M1–M6 steps).
 *
 * The pipeline emulates the kernel rule that only queues the first `2 × classify.packets` packets
 * of an unmarked connection (`connbytes 0:2N --connbytes-dir both`), so replay sees exactly what
 * the live daemon would. It never throws on packet data: a packet it cannot judge is accepted and
 * counted (fail open).
 */
import { decodeIp } from '../decode/index.js';
import type { DecodedPacket } from '../decode/types.js';
import { Classifier, type Classification, type FlowClassifier } from '../apps/classifier.js';
import { FlowTable, type FlowEndReason } from '../flow/table.js';
import type { Flow } from '../flow/flow.js';
import { TcpReassembler, type ReassemblyLimits } from '../stream/reassembly.js';
import type { Counters } from '../observe/counters.js';
import type { Dir } from '../apps/types.js';

/** Verdict for one packet. `repeat` = NF_REPEAT with `mark` (the kernel saves it to the connmark). */
export interface PacketDecision {
  verdict: 'accept' | 'repeat';
  mark?: number;
}

export interface PipelineOptions {
  classifyPackets: number;
  unknownMark: number;
  verifyChecksums: boolean;
  flow: { maxFlows: number; tcpIdleSec: number; udpIdleSec: number };
  reassembly: ReassemblyLimits;
}

export interface PipelineEvents {
  /** A flow got its application (or was given up on, `c.app === null`). */
  onClassified?(flow: Flow, c: Classification): void;
  /** A flow ended (idle, evicted, flushed). */
  onFlowEnd?(flow: Flow, why: FlowEndReason): void;
}

interface FlowState {
  fc: FlowClassifier;
  ra: TcpReassembler | null;
  done: Classification | null;
}

const ACCEPT: PacketDecision = Object.freeze({ verdict: 'accept' });

export class Pipeline {
  readonly flows: FlowTable;

  constructor(
    readonly classifier: Classifier,
    private readonly opts: PipelineOptions,
    readonly counters: Counters,
    private readonly events: PipelineEvents = {},
  ) {
    this.flows = new FlowTable(opts.flow, (flow, why) => this.ended(flow, why), counters);
    classifier.onDissectorError = (app) => counters.inc(`dissector_error_${app}`);
  }

  /**
   * Judges one IP packet.
   * @param ip the packet from the IP header on (NFQUEUE payload or a capture frame's IP part)
   * @param ts packet time, seconds
   * @returns the verdict; `accept` for anything that cannot be judged (counted)
   */
  handle(ip: Uint8Array, ts: number): PacketDecision {
    this.counters.inc('packets');
    const res = decodeIp(ip, { verifyChecksums: this.opts.verifyChecksums });
    if (!res.ok) {
      this.counters.inc(res.event);
      if (!res.ignorable) this.counters.inc('accepted_unjudged');
      return ACCEPT;
    }
    try {
      return this.handleDecoded(res.pkt, ts);
    } catch (err) {
      this.counters.inc('pipeline_error');
      this.counters.inc('accepted_unjudged');
      return ACCEPT;
    }
  }

  /** Ends flows idle at `now` (seconds). */
  expire(now: number): void {
    this.flows.expire(now);
  }

  /** Ends every flow (end of capture, daemon stop). */
  flush(): void {
    this.flows.flush();
  }

  private handleDecoded(pkt: DecodedPacket, ts: number): PacketDecision {
    const { flow, dir, created } = this.flows.lookup(pkt, ts);
    flow.account(pkt, dir, ts);
    let st = flow.state as FlowState | null;
    if (created || !st) {
      st = { fc: this.classifier.newFlow(flow.l4, flow.sport, flow.dport), ra: null, done: null };
      flow.state = st;
    }
    if (!flow.classifyDone) {
      if (flow.totalPkts > 2 * this.opts.classifyPackets) {
        this.conclude(flow, st, st.fc.finish(`unclassified: left the classification window (${2 * this.opts.classifyPackets} packets)`));
      } else {
        this.classify(flow, st, pkt, dir);
      }
    }
    return this.decision(flow);
  }

  private classify(flow: Flow, st: FlowState, pkt: DecodedPacket, dir: Dir): void {
    if (flow.l4 === 'udp') {
      if (pkt.payload.length) this.maybeConclude(flow, st, st.fc.feed(dir, pkt.payload));
      return;
    }
    if (!st.ra) {
      const fc = st.fc;
      st.ra = new TcpReassembler(
        {
          onData: (d, bytes) => this.maybeConclude(flow, st!, fc.feed(d, bytes)),
          onGap: () => this.maybeConclude(flow, st!, fc.finish('unclassified: gap in the stream')),
          onEnd: () => {},
        },
        this.opts.reassembly,
        this.counters,
      );
    }
    st.ra.segment(dir, pkt.seq, pkt.flags, pkt.payload);
  }

  private maybeConclude(flow: Flow, st: FlowState, c: Classification | null): void {
    if (c && !flow.classifyDone) this.conclude(flow, st, c);
  }

  private conclude(flow: Flow, st: FlowState, c: Classification): void {
    flow.classifyDone = true;
    st.done = c;
    st.ra = null; // classification needs no more stream bytes
    flow.reason = c.reason;
    if (c.app) {
      flow.app = c.app.desc.name;
      flow.mark = c.app.mark;
      flow.classifiedAfterPkts = flow.totalPkts;
      if (c.app.action === 'block') flow.verdict = flow.l4 === 'tcp' ? 'reset' : 'drop';
      this.counters.inc(`classified_${flow.app}`);
    } else {
      this.counters.inc('unclassified');
    }
    this.events.onClassified?.(flow, c);
  }

  private decision(flow: Flow): PacketDecision {
    if (!flow.classifyDone) return ACCEPT;
    if (flow.mark !== null) return { verdict: 'repeat', mark: flow.mark };
    return this.opts.unknownMark ? { verdict: 'repeat', mark: this.opts.unknownMark } : ACCEPT;
  }

  private ended(flow: Flow, why: FlowEndReason): void {
    const st = flow.state as FlowState | null;
    if (!flow.classifyDone && st) {
      this.conclude(flow, st, st.fc.finish(`unclassified: flow ended (${why}) before a decision`));
    }
    flow.state = null;
    this.events.onFlowEnd?.(flow, why);
  }
}
