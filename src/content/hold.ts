/**
 * The content-management engine of inspected connections (thesis §3.3–3.5, the "Q2" of held
 * packets), without splitting connections: packets stay queued in the kernel until a verdict.
 *
 * Per direction it tracks the next expected sequence number:
 *  - a segment entirely before it is a retransmission: accepted without processing;
 *  - a partial overlap: only the new bytes are processed;
 *  - a segment after a gap is held (no verdict) until the gap fills, then released in order.
 * While a scan of the connection is pending, only that connection's later packets are held.
 * Caps (per flow, total) and timeouts bound what is held; hitting one accepts what is held, gives
 * the stream a gap (`onGap`), stops inspecting it and logs it. Every packet gets exactly one verdict.
 * A kill (keyword hit, virus) turns the offending packet into a RST toward its receiver with the
 * kill connmark (the kernel then resets the sender) and drops everything held.
 */
import type { Logger } from 'pino';
import type { DecodedPacket } from '../decode/types.js';
import { TCP_SYN } from '../decode/types.js';
import type { StreamInspector } from '../apps/types.js';
import { ACCEPT, DROP, type Dir, type Verdict } from '../core/types.js';
import type { Counters } from '../core/counters.js';
import type { TcpReassembler } from '../stream/reassembly.js';
import type { ContentSession, PendingScan } from './session.js';
import type { Scanner } from './scan-pool.js';
import { rstFrom } from './rst.js';
import { ownPacket } from './own.js';
import type { StepTimer } from '../core/steps.js';
import { Deadline } from './deadline.js';

export interface InspectOptions {
  /** Held packets per connection / in total before failing open. */
  maxHeldPerFlow: number;
  maxHeldTotal: number;
  /** How long an out-of-order packet may wait for its gap to fill, ms. */
  holdTimeoutMs: number;
  /** How long a connection may wait for its scan, ms. */
  scanTimeoutMs: number;
  /** Connmark of killed connections (kernel: RST passes, everything else gets REJECT tcp-reset). */
  killMark: number;
  /**
   * Live mode: packet times are Date.now() and a timer is armed for the earliest hold or scan
   * deadline (./deadline.ts). Off (replay, tests): the caller runs `tick` when its clock reaches `dueAt`.
   */
  timers?: boolean;
  /** `inspect.lost_state` (src/runtime/lost-state.ts): `reset` (default) or `pass` a connection whose state was lost. */
  lostState?: 'reset' | 'pass';
}

/** A queued packet of an inspected flow. */
export interface QPkt {
  id: number;
  pkt: DecodedPacket;
  ip: Uint8Array;
  dir: Dir;
  /** Arrival time, ms. */
  t: number;
  /**
   * The sequence number this direction expected when the packet was processed (the receiver's
   * RCV.NXT): a kill's RST must carry exactly it (RFC 5961 §3.2), also for a segment that partly
   * overlapped bytes already delivered.
   */
  rcvNxt?: number;
  /** Set once the packet has its own copy of its bytes (./own.ts): held packets do. */
  owned?: boolean;
}


/** Per-connection state. */
export class InspectFlow {
  readonly ooo: [QPkt[], QPkt[]] = [[], []];
  readonly fifo: QPkt[] = [];
  deferred: QPkt | null = null;
  busy = false;
  busySince = 0;
  /** Scan jobs handed to the scanner and not answered yet (all of them in order, to one worker). */
  inFlight = 0;
  killed = false;
  dead = false;
  readonly stopped: [boolean, boolean] = [false, false];
  /**
   * The "pass" verdict of this connection's packets: NF_REPEAT with the application's mark, so the
   * connmark is set even for packets queued before it was saved (the inspect rule only queues
   * packets whose nfmark is 0, so a repeated packet is not queued again).
   */
  readonly accept: Verdict;

  constructor(
    readonly key: string,
    readonly label: Record<string, unknown>,
    readonly ra: TcpReassembler,
    readonly inspector: StreamInspector,
    readonly session: ContentSession,
    mark: number | null,
  ) {
    this.accept = mark ? { verdict: 'repeat', mark } : ACCEPT;
  }

  get held(): number {
    return this.ooo[0].length + this.ooo[1].length + this.fifo.length + (this.deferred ? 1 : 0);
  }
}

const seqDiff = (a: number, b: number): number => (a - b) | 0;
const dataSeq = (p: DecodedPacket): number => (p.flags & TCP_SYN ? (p.seq + 1) >>> 0 : p.seq >>> 0);

export class InspectEngine {
  /** Packets currently without a verdict (live counter). */
  held = 0;
  /** Highest `held` seen. */
  heldPeak = 0;
  private readonly holding = new Set<InspectFlow>();
  private intercept: { id: number; v: Verdict | null } | null = null;
  private readonly deadline: Deadline;

  constructor(
    private readonly opts: InspectOptions,
    private readonly scanner: Scanner | null,
    private readonly counters: Counters,
    private readonly emit: (id: number, v: Verdict) => void,
    private readonly logger?: Logger,
    private readonly tracer: StepTimer | null = null,
  ) {
    this.deadline = new Deadline((now) => this.tick(now), !!opts.timers);
  }

  /** When the next hold or scan timeout is due, ms in packet time (Infinity: nothing pending); run `tick` then. */
  get dueAt(): number {
    return this.deadline.at;
  }

  /**
   * Starts inspecting a just-classified connection: replays the stream seen so far (`pre`, in
   * arrival order, from byte 0) into the inspector, then judges `cur`, the packet that completed
   * the classification. Returns its verdict, or null when it is held (a scan is pending).
   */
  attach(f: InspectFlow, pre: readonly { dir: Dir; bytes: Uint8Array }[], preLost: [number, number], cur: QPkt): Verdict | null {
    this.counters.inc('inspected_flows');
    for (const c of pre) f.inspector.onData(c.dir, c.bytes);
    for (const dir of [0, 1] as const) if (preLost[dir]) this.gap(f, dir, preLost[dir], 'pre_buffer_cap');
    f.ra.setConsumer({
      onData: (d, b) => !f.stopped[d] && f.inspector.onData(d, b),
      onGap: (d, n) => this.gap(f, d, n, 'reassembly_gap'),
      onEnd: (d) => f.inspector.onEnd(d),
    });
    // `cur`'s verdict is returned to the caller instead of emitted (the caller owns that packet).
    const intercept = { id: cur.id, v: null as Verdict | null };
    this.intercept = intercept;
    try {
      this.after(f, cur);
    } finally {
      this.intercept = null;
    }
    return intercept.v;
  }

  /** Judges (now or later, through `emit`) one packet of an inspected connection. */
  packet(f: InspectFlow, q: QPkt): void {
    if (f.busy) {
      this.hold(f, q, 'fifo');
      return;
    }
    this.process(f, q);
  }

  /**
   * Fails open on held packets and scans whose timeout is reached at `nowMs` (packet time, ms),
   * then arms the deadline for what is still pending. Runs from the deadline's timer (live), when the
   * clock reaches `dueAt` (replay), and from the once-a-second tick.
   */
  tick(nowMs: number): void {
    this.deadline.reset();
    for (const f of [...this.holding]) {
      if (f.busy && nowMs - f.busySince >= this.opts.scanTimeoutMs) {
        this.counters.inc('scan_timeout');
        this.stop(f, 'scan_timeout');
        continue;
      }
      for (const dir of [0, 1] as const) {
        const first = f.ooo[dir][0];
        if (first && nowMs - first.t >= this.opts.holdTimeoutMs) {
          this.counters.inc('hold_timeout');
          this.releaseGap(f, dir, 'hold_timeout');
        }
      }
    }
    for (const f of this.holding) {
      if (f.busy) this.deadline.arm(f.busySince + this.opts.scanTimeoutMs);
      for (const list of f.ooo) if (list.length) this.deadline.arm(list[0].t + this.opts.holdTimeoutMs);
    }
  }

  /**
   * The connection ended (idle, evicted, daemon stop): every held packet is accepted; but when it was
   * `evicted` and `lostState` is `reset`, they are dropped: its next packet finds no state and resets it.
   */
  end(f: InspectFlow, why?: string): void {
    if (f.dead) return;
    if (why === 'evicted' && this.opts.lostState !== 'pass') f.killed = true;
    // Out-of-order packets still held at the end mean data that never arrived: a gap.
    if (!f.killed) for (const dir of [0, 1] as const) if (f.ooo[dir].length) this.releaseGap(f, dir, 'flow_end');
    this.releaseAll(f, f.killed ? DROP : f.accept);
    f.dead = true;
    f.session.close();
  }

  private process(f: InspectFlow, q: QPkt): void {
    const { pkt, dir } = q;
    if (f.killed) return this.verdict(q, DROP);
    if (pkt.l4 !== 'tcp' || f.stopped[dir]) return this.verdict(q, f.accept);
    const exp = f.ra.expectedSeq(dir);
    const len = pkt.payload.length;
    if (exp !== null) q.rcvNxt = exp;
    if (exp !== null && len > 0) {
      const d = seqDiff(dataSeq(pkt), exp);
      if (d + len <= 0) {
        this.counters.hot.inspect_retransmit++;
        return this.verdict(q, f.accept);
      }
      if (d > 0) return this.hold(f, q, 'ooo');
    }
    f.ra.segment(dir, pkt.seq, pkt.flags, pkt.payload);
    this.after(f, q);
  }

  /** Acts on what the session asked for after `q`'s bytes were processed. */
  private after(f: InspectFlow, q: QPkt): void {
    if (f.session.kill) return this.kill(f, q);
    if (f.session.jobs.length && this.scanner) {
      f.busy = true;
      f.busySince = q.t;
      this.deadline.arm(q.t + this.opts.scanTimeoutMs);
      f.deferred = ownPacket(q);
      this.held++;
      if (this.held > this.heldPeak) this.heldPeak = this.held;
      this.holding.add(f);
      this.nextScan(f);
      return;
    }
    this.verdict(q, f.accept);
    this.drainOoo(f, q.dir);
  }

  private drainOoo(f: InspectFlow, dir: Dir): void {
    const list = f.ooo[dir];
    while (list.length && !f.busy && !f.killed && !f.dead) {
      const exp = f.ra.expectedSeq(dir);
      if (exp !== null && seqDiff(dataSeq(list[0].pkt), exp) > 0) break;
      const q = list.shift()!;
      this.unheld(f);
      this.process(f, q);
    }
  }

  private hold(f: InspectFlow, q: QPkt, where: 'ooo' | 'fifo'): void {
    if (f.held >= this.opts.maxHeldPerFlow || this.held >= this.opts.maxHeldTotal) {
      this.counters.inc('hold_cap');
      this.counters.inc('fail_open_accepts');
      this.verdict(q, f.accept);
      if (where === 'ooo') this.releaseGap(f, q.dir, 'hold_cap');
      else this.stop(f, 'hold_cap');
      return;
    }
    q = ownPacket(q); // its buffer may be reused once this call returns (batched NFQUEUE)
    if (where === 'fifo') f.fifo.push(q);
    else {
      const list = f.ooo[q.dir];
      let i = list.length;
      while (i > 0 && seqDiff(dataSeq(list[i - 1].pkt), dataSeq(q.pkt)) > 0) i--;
      list.splice(i, 0, q);
      this.deadline.arm(list[0].t + this.opts.holdTimeoutMs);
    }
    this.held++;
    if (this.held > this.heldPeak) this.heldPeak = this.held;
    this.counters.hot.held_packets++;
    this.holding.add(f);
  }

  private unheld(f: InspectFlow): void {
    this.held--;
    if (f.held === 0) this.holding.delete(f);
  }

  /** Gap in `dir`: accept what is held there, stop inspecting that direction. */
  private releaseGap(f: InspectFlow, dir: Dir, why: string): void {
    const list = f.ooo[dir].splice(0);
    const exp = f.ra.expectedSeq(dir);
    const missing = exp !== null && list.length ? Math.max(0, seqDiff(dataSeq(list[0].pkt), exp)) : 0;
    for (const q of list) {
      this.unheld(f);
      this.verdict(q, f.accept);
    }
    if (list.length) this.counters.inc('fail_open_accepts', list.length);
    this.gap(f, dir, missing, why);
  }

  private gap(f: InspectFlow, dir: Dir, len: number, why: string): void {
    if (f.stopped[dir]) return;
    f.stopped[dir] = true;
    this.counters.inc('inspect_gaps');
    f.inspector.onGap(dir, len);
    this.logger?.warn({ ...f.label, dir: dir === 0 ? 'out' : 'in', len, why }, 'gap: content inspection of this direction stopped');
  }

  /**
   * Fails open on the whole connection: accept everything held, stop inspecting both directions.
   * The session's close drops its queued jobs (and their scanner state) and settles every audit
   * file, including one whose final scan job is still in flight (its late result is ignored).
   */
  private stop(f: InspectFlow, why: string): void {
    f.busy = false;
    f.inFlight = 0; // their late results are ignored (not busy)
    this.counters.inc('fail_open_accepts', f.held);
    this.releaseAll(f, f.accept);
    for (const dir of [0, 1] as const) this.gap(f, dir, 0, why);
    f.session.close();
  }

  private releaseAll(f: InspectFlow, v: Verdict): void {
    const all = [...(f.deferred ? [f.deferred] : []), ...f.fifo.splice(0), ...f.ooo[0].splice(0), ...f.ooo[1].splice(0)];
    f.deferred = null;
    for (const q of all) {
      this.held--;
      this.verdict(q, v);
    }
    this.holding.delete(f);
  }

  /**
   * Hands every queued job to the scanner at once (one worker answers a transfer's jobs in order):
   * a packet that filled several scan buffers (GSO) waits one round trip, not one per buffer. None
   * left: resumes the flow. Stops once the flow is not busy (an in-process scanner may kill it).
   */
  private nextScan(f: InspectFlow): void {
    if (!f.session.jobs.length) return this.resume(f);
    while (f.busy && f.session.jobs.length) {
      const p = f.session.jobs.shift()!;
      f.inFlight++;
      this.scanner!.scan(p.job, (r) => {
        this.tracer?.add('scan_per_buffer', r.ms);
        this.scanned(f, p, r.virus, r.error);
      });
    }
  }

  private scanned(f: InspectFlow, p: PendingScan, virus: string | null, error?: string): void {
    if (f.dead || !f.busy) return;
    f.inFlight--;
    if (error) {
      this.counters.inc('scan_error');
      this.counters.inc('fail_open_accepts');
      this.logger?.error({ ...f.label, error }, 'scan failed; data accepted unscanned');
    }
    f.session.scanned(p, virus);
    if (f.session.kill) {
      const q = f.deferred!;
      f.deferred = null;
      this.held--;
      f.busy = false;
      f.inFlight = 0;
      return this.kill(f, q);
    }
    if (f.inFlight === 0) this.nextScan(f);
  }

  private resume(f: InspectFlow): void {
    f.busy = false;
    const q = f.deferred;
    f.deferred = null;
    if (q) {
      this.unheld(f);
      this.verdict(q, f.accept);
      this.drainOoo(f, q.dir);
    }
    while (!f.busy && !f.killed && f.fifo.length) {
      const next = f.fifo.shift()!;
      this.unheld(f);
      this.process(f, next);
    }
  }

  private kill(f: InspectFlow, q: QPkt): void {
    f.killed = true;
    const k = f.session.kill!;
    this.counters.inc('killed_flows');
    const v: Verdict =
      q.pkt.l4 === 'tcp'
        ? { verdict: 'repeat', mark: this.opts.killMark, packet: rstFrom(q.ip, q.pkt, q.rcvNxt) }
        : { verdict: 'repeat', mark: this.opts.killMark };
    this.verdict(q, v);
    this.releaseAll(f, DROP);
    f.session.close();
    this.logger?.warn({ ...f.label, verdict: 'reset', rule: k.rule, reason: k.reason, ...k.fields }, k.rule.startsWith('virus') ? 'infected' : 'keyword');
  }

  private verdict(q: QPkt, v: Verdict): void {
    if (this.intercept && this.intercept.id === q.id) this.intercept.v = v;
    else this.emit(q.id, v);
  }
}
