/**
 * The pipeline's per-flow state (./pipeline.ts). Memory (issue 14, item 6): a full flow table holds
 * 65,536 of these, most never carrying a byte (a SYN flood), so its lists start as shared, frozen
 * empties (NO_PRE, NO_COUNTS) that a flow replaces with its own on its first write, and a flow
 * gets no state at all while it carries no byte (statelessPacket).
 */
import type { Classification, FlowClassifier } from '../apps/classifier.js';
import type { InspectFlow } from '../content/hold.js';
import type { Dir } from '../core/types.js';
import type { TcpReassembler } from '../stream/reassembly.js';
import type { DecodedPacket } from '../decode/types.js';
import { TCP_FIN, TCP_RST } from '../decode/types.js';
import type { Flow } from '../flow/flow.js';
import type { EndpointLearning, FlowLearning } from './learning.js';

export interface FlowState {
  fc: FlowClassifier;
  ra: TcpReassembler | null;
  done: Classification | null;
  /** Stream bytes seen before classification, in arrival order (for inspected applications). */
  pre: { dir: Dir; bytes: Uint8Array }[];
  preBytes: number;
  preLost: [number, number];
  insp: InspectFlow | null;
  /** Set by conclude() when the flow must start inspection with the current packet. */
  attach: boolean;
  /** Endpoint learning of a classified flow (null: none, or its window is over). */
  learn: FlowLearning | null;
  /** TCP stream bytes delivered per direction so far (the learner's stream offsets). */
  delivered: [number, number];
  /** UDP: the datagram being classified (while the classifier runs on it), for the learner. */
  cur: { dir: Dir; bytes: Uint8Array } | null;
}

/** FlowState.pre of a flow that buffered nothing (shared; replace before pushing). */
export const NO_PRE: { dir: Dir; bytes: Uint8Array }[] = Object.freeze([]) as unknown as { dir: Dir; bytes: Uint8Array }[];
/** FlowState.preLost / delivered of a flow that counted nothing (shared; replace before writing). */
export const NO_COUNTS = Object.freeze([0, 0]) as unknown as [number, number];

/** The state of a new flow whose classifier state is `fc`. */
export function newFlowState(fc: FlowClassifier): FlowState {
  return { fc, ra: null, done: null, pre: NO_PRE, preBytes: 0, preLost: NO_COUNTS, insp: null, attach: false, learn: null, delivered: NO_COUNTS, cur: null };
}

/**
 * True when `pkt` (direction `dir`) of a flow that has no state yet needs none: a payload-less TCP
 * segment (no FIN, no RST) inside the classification window (`window` packets) of a flow that no
 * known endpoint decides. It is noted on the flow (Flow.noteStart, replayed into the reassembler
 * the state gets later) and judged like any undecided packet. A SYN flood's flows so cost a Flow,
 * not a classifier and a reassembler each (issue 14, item 6).
 */
export function statelessPacket(flow: Flow, pkt: DecodedPacket, dir: Dir, created: boolean, window: number, endpoints: EndpointLearning | null): boolean {
  if (flow.l4 !== 'tcp' || pkt.payload.length || pkt.flags & (TCP_FIN | TCP_RST) || flow.classifyDone) return false;
  if (flow.totalPkts >= window || (created && endpoints?.knowsFlow(flow))) return false;
  flow.noteStart(dir, pkt.seq, pkt.flags);
  return true;
}
