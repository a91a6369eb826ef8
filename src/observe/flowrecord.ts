/**
 * Flow records: one JSON object per ended flow, written as JSON Lines. The same schema serves
 * replay (`p2pgw replay --flows`) and the live flow log. Documented in the README ("Flow records").
 */
import type { Flow } from '../flow/flow.js';

export interface FlowRecord {
  /** Capture file the flow came from (replay), or `live`. */
  capture: string;
  /** First and last packet time, seconds since the epoch (microsecond precision). */
  ts_start: number;
  ts_end: number;
  l4: 'tcp' | 'udp';
  /** Initiator address/port (sender of the first packet seen). */
  src: string;
  sport: number;
  /** Responder address/port. */
  dst: string;
  dport: number;
  /** Lowercase application name, or null when unclassified. */
  app: string | null;
  /** Connmark given to the flow (application mark), or null. */
  mark: number | null;
  /** Packets and IP bytes initiator → responder ("out") and back ("in"). */
  pkts_out: number;
  bytes_out: number;
  pkts_in: number;
  bytes_in: number;
  /** TCP handshake completed (or, mid-stream, the responder sent a packet); UDP reply seen. */
  answered: boolean;
  /** The responder sent application bytes. */
  resp_payload: boolean;
  verdict: 'accept' | 'drop' | 'reset';
  reason: string;
  /**
   * How the classification was reached (`signature`, `structure`, `decryption`, `endpoint`,
   * `host-heuristic`, `hostname`), or null when unclassified.
   */
  method: string | null;
  /** For `endpoint`: where the peer endpoint was learned (dht, tracker, udp-tracker, pex, lsd, ed2k-server, ed2k-serverlist, kad, listen-port, flow); for `hostname`: the name. */
  learned_from: string | null;
  /** Packets (both directions) seen when the flow was classified, or null. */
  classified_after_pkts: number | null;
}

const round6 = (x: number): number => Math.round(x * 1e6) / 1e6;

/** Builds the flow record of an ended (or still live) flow. */
export function flowRecord(flow: Flow, capture: string): FlowRecord {
  return {
    capture,
    ts_start: round6(flow.tsStart),
    ts_end: round6(flow.tsEnd),
    l4: flow.l4,
    src: flow.src,
    sport: flow.sport,
    dst: flow.dst,
    dport: flow.dport,
    app: flow.app,
    mark: flow.mark,
    pkts_out: flow.pkts[0],
    bytes_out: flow.bytes[0],
    pkts_in: flow.pkts[1],
    bytes_in: flow.bytes[1],
    answered: flow.answered,
    resp_payload: flow.respPayload,
    verdict: flow.verdict,
    reason: flow.reason,
    method: flow.method,
    learned_from: flow.learnedFrom,
    classified_after_pkts: flow.classifiedAfterPkts,
  };
}
