/**
 * The Metering Process side of IPFIX export, NetFlow-probe style: turns the flows of the flow table
 * into flow records with delta counts, so long connections report while they run.
 *
 * - Active timeout: a flow whose current record started `activeTimeoutSec` or more ago is
 *   reported at its next packet (flowEndReason 2, activeTimeout) and a new record starts.
 * - Idle timeout: a flow with unreported packets and none for `idleTimeoutSec` is reported by
 *   `sweep(now)` (flowEndReason 1, idleTimeout) once its classification is decided; a later
 *   packet of the same flow starts a new record. A flow still being classified waits for its
 *   decision (a later packet, the give-up, or the table ending it, when the host heuristics may
 *   still label it), so idle records carry the application. The flow table's own idle timeouts
 *   (`flow.tcp_idle`, `flow.udp_idle`) only end flows.
 * - When the flow table ends a flow, what is still unreported goes out with the reason it ended:
 *   idle → 1 (idleTimeout), evicted by the flow cap → 5 (lackOfResources), end of capture or
 *   daemon stop → 4 (forcedEnd).
 *
 * Each record carries the packets and octets since the previous record of the flow (delta counts,
 * RFC 7012 octetDeltaCount/packetDeltaCount), per direction, and the flow's classification at the
 * time it is reported. Times are the flow's packet times (capture time in replay), so `sweep` and
 * `packet` must be given times on the same clock.
 */
import type { Flow } from '../../flow/flow.js';
import type { FlowEndReason } from '../../flow/table.js';
import { END_REASON, selectorOf, type EndReason, type ExportRecord } from './template.js';

export interface MeterOptions {
  /** Report a running flow at least this often, seconds. */
  activeTimeoutSec: number;
  /** Report a flow after this long without packets, seconds. */
  idleTimeoutSec: number;
}

/** Packets and octets already reported for a flow, per direction. */
interface Sent {
  pkts: [number, number];
  bytes: [number, number];
}

/** A flow with packets not yet reported: when its current record started. */
interface Pending {
  flow: Flow;
  startTs: number;
}

const REASON_OF_END: Readonly<Record<FlowEndReason, EndReason>> = {
  idle: END_REASON.idleTimeout,
  evicted: END_REASON.lackOfResources,
  flush: END_REASON.forcedEnd,
};

/** Active/idle timeouts and delta counts over the flow table's flows (see the module comment). */
export class FlowMeter {
  /** Flows with unreported packets by flow key, least recently seen first (re-inserted per packet). */
  private readonly pending = new Map<string, Pending>();
  /** What was reported so far, per flow object (a flow re-created for the same key starts at zero). */
  private readonly sent = new WeakMap<Flow, Sent>();

  /**
   * @param opts timeouts in seconds (both ≥ 1)
   * @param emit receives every record; it must not throw (the exporter's push counts drops)
   */
  constructor(
    private readonly opts: MeterOptions,
    private readonly emit: (r: ExportRecord) => void,
  ) {}

  /** Flows with unreported packets. */
  get size(): number {
    return this.pending.size;
  }

  /**
   * Notes a packet of `flow` (already accounted in the flow's counters) seen at `ts` seconds, and
   * reports the flow when its current record has run for the active timeout.
   */
  packet(flow: Flow, ts: number): void {
    let p = this.pending.get(flow.key);
    if (p && p.flow !== flow) {
      // The table replaced the flow without ending it through us: report the old one first.
      this.report(p, END_REASON.forcedEnd);
      p = undefined;
    }
    if (p) this.pending.delete(flow.key);
    else p = { flow, startTs: ts };
    this.pending.set(flow.key, p);
    if (ts - p.startTs >= this.opts.activeTimeoutSec) {
      this.report(p, END_REASON.activeTimeout);
      this.pending.delete(flow.key);
    }
  }

  /**
   * Reports every classified (or given-up) flow idle for the idle timeout at `now` seconds (call
   * about once a second). Flows still being classified are passed over, not reported.
   */
  sweep(now: number): void {
    for (const [key, p] of this.pending) {
      if (now - p.flow.tsEnd < this.opts.idleTimeoutSec) break; // later entries were seen more recently
      if (!p.flow.classifyDone) continue;
      this.report(p, END_REASON.idleTimeout);
      this.pending.delete(key);
    }
  }

  /** The flow table ended `flow` (`why`): reports what is still unreported of it. */
  ended(flow: Flow, why: FlowEndReason): void {
    const p = this.pending.get(flow.key);
    if (!p || p.flow !== flow) return;
    this.report(p, REASON_OF_END[why]);
    this.pending.delete(flow.key);
  }

  /** Reports every flow with unreported packets (forcedEnd), e.g. before the exporter closes. */
  flushAll(): void {
    for (const p of this.pending.values()) this.report(p, END_REASON.forcedEnd);
    this.pending.clear();
  }

  private report(p: Pending, endReason: EndReason): void {
    const f = p.flow;
    const s = this.sent.get(f) ?? { pkts: [0, 0], bytes: [0, 0] };
    const packets: [number, number] = [f.pkts[0] - s.pkts[0], f.pkts[1] - s.pkts[1]];
    if (packets[0] + packets[1] === 0) return;
    const octets: [number, number] = [f.bytes[0] - s.bytes[0], f.bytes[1] - s.bytes[1]];
    this.sent.set(f, { pkts: [f.pkts[0], f.pkts[1]], bytes: [f.bytes[0], f.bytes[1]] });
    this.emit({
      l4: f.l4,
      src: f.src,
      dst: f.dst,
      sport: f.sport,
      dport: f.dport,
      initiator: f.l4 === 'udp' || f.sawSyn,
      startMs: p.startTs * 1000,
      endMs: f.tsEnd * 1000,
      octets,
      packets,
      endReason,
      selector: selectorOf(f.app !== null && f.mark !== null ? f.mark : 0),
      app: f.app,
      method: f.app !== null ? (f.method ?? '') : '',
      verdict: f.verdict,
    });
  }
}
