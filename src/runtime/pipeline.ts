/**
 * The packet path shared by live mode (NFQUEUE) and replay: decode → flow lookup → TCP
 * reassembly → classifier → verdict decision (thesis §3.2–3.4, Figure 3's M1–M6 steps).
 *
 * The pipeline emulates the kernel rule that only queues the first `2 × classify.packets` packets
 * of an unmarked connection (`connbytes 0:2N --connbytes-dir both`), so replay sees exactly what
 * the live daemon would. It never throws on packet data: a packet it cannot judge is accepted and
 * counted (fail open).
 *
 * Endpoint knowledge (./learning.ts): a new flow to or from a known peer endpoint is classified at
 * its first packet; classified flows of applications with a learner feed it their payload, and
 * for `allow` applications the packets of the learning window too (the kernel queues them with a
 * `connbytes 0:<endpoints.learn_packets>` rule); inspected flows feed it from the inspector's stream.
 */
import { decodeIp, NO_VERIFY, VERIFY } from '../decode/index.js';
import type { DecodedPacket } from '../decode/types.js';
import { Classifier, type Classification } from '../apps/classifier.js';
import { FlowTable, type FlowEndReason } from '../flow/table.js';
import type { Flow } from '../flow/flow.js';
import { TcpReassembler, type ReassemblyLimits } from '../stream/reassembly.js';
import type { Counters } from '../core/counters.js';
import { ACCEPT, type Dir, type StreamConsumer, type Verdict } from '../core/types.js';
import { InspectEngine, InspectFlow, type InspectOptions, type QPkt } from '../content/hold.js';
import { ContentSession, type ContentShared } from '../content/session.js';
import type { StepTimer } from '../core/steps.js';
import { judgeLostState, lostStateDecided } from './lost-state.js';
import { EndpointLearning, type EndpointConfig } from './learning.js';
import { HostHeuristics, heuristicLabel, type HostHeuristicsOptions } from '../flow/hosts.js';
import { newFlowState, NO_COUNTS, NO_PRE, statelessPacket, type FlowState } from './flow-state.js';
import { QueuedSlot, RepeatVerdicts } from './decisions.js';

/**
 * Verdict for one packet. `repeat` = NF_REPEAT with `mark` (the kernel saves it to the connmark);
 * `packet` replaces the packet's bytes (a RST built from it).
 */
export type PacketDecision = Verdict;

export interface PipelineOptions {
  classifyPackets: number;
  unknownMark: number;
  verifyChecksums: boolean;
  flow: { maxFlows: number; tcpIdleSec: number; udpIdleSec: number };
  reassembly: ReassemblyLimits;
  /** Step timer (`--trace-steps`); absent/null = off. */
  tracer?: StepTimer | null;
  /** Content inspection of applications whose action is `inspect` (absent: inspect acts as allow). */
  inspect?: InspectOptions & { shared: ContentShared; preBufferBytes: number };
  /** Host heuristics (src/flow/hosts.ts), endpoint knowledge (config `endpoints:`); null or absent: off. */
  hostHeuristics?: Partial<HostHeuristicsOptions> | null;
  endpoints?: EndpointConfig;
}

export interface PipelineEvents {
  /** A flow got its application (or was given up on, `c.app === null`). */
  onClassified?(flow: Flow, c: Classification): void;
  /** A flow ended (idle, evicted, flushed). */
  onFlowEnd?(flow: Flow, why: FlowEndReason): void;
  /** Every decoded packet, after accounting and before classification (pcap export). */
  onPacket?(flow: Flow, ip: Uint8Array, ts: number, dir: Dir): void;
  /** The verdict of a packet for which `handle` returned null (held, then released or dropped). */
  onVerdict?(id: number, v: Verdict): void;
}


export class Pipeline {
  readonly flows: FlowTable;
  /** Content inspection engine (null when no application is inspected). */
  readonly inspect: InspectEngine | null = null;
  /** Endpoint knowledge (null when `endpoints` is absent from the options). */
  readonly endpoints: EndpointLearning | null;
  /** Host heuristics: inside hosts seen doing P2P (null when off). */
  readonly hosts: HostHeuristics | null;
  private preCapture: boolean;
  private autoId = 0x7fffffff;
  private readonly tr: StepTimer | null;

  constructor(
    public classifier: Classifier,
    readonly opts: PipelineOptions,
    readonly counters: Counters,
    private readonly events: PipelineEvents = {},
  ) {
    this.flows = new FlowTable(opts.flow, (flow, why) => this.ended(flow, why), counters, (f) => !!(f.state as FlowState | null)?.insp || lostStateDecided(f));
    classifier.onDissectorError = (app) => counters.inc(`dissector_error_${app}`);
    classifier.onHostnameEvent = (e) => counters.inc(e);
    this.hosts = opts.hostHeuristics ? new HostHeuristics(opts.hostHeuristics, counters) : null;
    this.tr = opts.tracer ?? null;
    classifier.tracer = this.tr;
    this.endpoints = opts.endpoints ? new EndpointLearning(opts.endpoints, counters) : null;
    const ins = opts.inspect;
    this.preCapture = !!ins && classifier.apps.some((a) => a.action === 'inspect');
    if (ins) {
      this.inspect = new InspectEngine(ins, ins.shared.scanner, counters, (id, v) => this.events.onVerdict?.(id, v), ins.shared.logger, this.tr);
    }
  }

  /**
   * Swaps in a new classifier (config reload): flows created from now on use it; flows already
   * classified or being classified keep their state, so established connections are not disturbed.
   */
  setClassifier(classifier: Classifier): void {
    classifier.onDissectorError = this.classifier.onDissectorError;
    classifier.onHostnameEvent = this.classifier.onHostnameEvent;
    classifier.tracer = this.tr;
    this.classifier = classifier;
    this.preCapture = !!this.opts.inspect && classifier.apps.some((a) => a.action === 'inspect');
  }

  /**
   * Judges one IP packet.
   * @param ip the packet from the IP header on (NFQUEUE payload or a capture frame's IP part). Only
   *   read during this call: a held packet is copied by the inspect engine (batched NFQUEUE payloads
   *   live in an arena reused by the next batch; capture frames are views into the file buffer)
   * @param ts packet time, seconds
   * @param id, mark queue packet id and packet mark (live; see ./lost-state.ts); replay omits them
   * @param skb NFQA_SKB_* flags: checksums are verified only with CSUM_NOTVERIFIED (4, the default: captures), not with CSUMNOTREADY (1: GSO)
   * @returns the verdict; `accept` for anything that cannot be judged (counted); null when the
   *   packet is held by content inspection: its verdict comes later through `onVerdict(id, …)`
   */
  handle(ip: Uint8Array, ts: number, id = this.autoId++, mark = 0, skb = 4): PacketDecision | null {
    this.counters.hot.packets++;
    const tr = this.tr;
    const t0 = tr ? performance.now() : 0;
    if (skb & 1) this.counters.hot.checksum_not_ready++;
    const res = decodeIp(ip, this.opts.verifyChecksums && (skb & 5) === 4 ? VERIFY : NO_VERIFY);
    if (tr) tr.add('decode', performance.now() - t0);
    if (!res.ok) {
      this.counters.inc(res.event);
      if (!res.ignorable) {
        this.counters.inc('accepted_unjudged');
        this.counters.inc('fail_open_accepts');
      }
      return ACCEPT;
    }
    try {
      return this.handleDecoded(res.pkt, ts, ip, id, mark);
    } catch (err) {
      this.counters.inc('pipeline_error');
      this.counters.inc('accepted_unjudged');
      this.counters.inc('fail_open_accepts');
      return ACCEPT;
    }
  }

  /** Applies reloaded endpoint options (size, ttl, sources, learning window); no-op when off. */
  setEndpoints(opts: EndpointConfig): void {
    this.endpoints?.configure(opts);
  }

  /** Ends flows idle at `now` (seconds). */
  expire(now: number): void {
    this.flows.expire(now);
  }

  /** Ends every flow (end of capture, daemon stop). */
  flush(): void {
    this.flows.flush();
  }

  /** Fails open on packets held past their timeouts (`now` in seconds). Call about once a second. */
  tick(now: number): void {
    this.inspect?.tick(now * 1000);
  }

  private handleDecoded(pkt: DecodedPacket, ts: number, ip: Uint8Array, id: number, mark: number): PacketDecision | null {
    const tr = this.tr;
    const t0 = tr ? performance.now() : 0;
    const flow = this.flows.lookup(pkt, ts);
    const dir = flow.dirOf(pkt);
    const created = this.flows.created;
    if (tr) tr.add('flow_lookup', performance.now() - t0);
    flow.account(pkt, dir, ts);
    if (created) this.hosts?.observe(flow, ts);
    this.events.onPacket?.(flow, ip, ts, dir);
    const lost = mark ? judgeLostState(this, flow, created, pkt, ip, mark) : null;
    if (lost) return lost;
    let st = flow.state as FlowState | null;
    if (!st) {
      if (statelessPacket(flow, pkt, dir, created, 2 * this.opts.classifyPackets, this.endpoints)) return this.decision(flow);
      st = newFlowState(this.classifier.newFlow(flow.l4, flow.sport, flow.dport));
      flow.state = st;
      // Handshake secrets learned for the responder (eD2k user hashes) let a dissector decrypt.
      if (this.endpoints && flow.l4 === 'tcp') st.fc.peerKeys = this.endpoints.keysFor(flow);
    }
    if (st.insp && this.inspect) {
      const t1 = tr ? performance.now() : 0;
      this.inspect.packet(st.insp, this.slot.fill(id, pkt, ip, dir, ts));
      if (tr) tr.add('inspect', performance.now() - t1);
      return null;
    }
    if (!flow.classifyDone) {
      const win = 2 * this.opts.classifyPackets;
      if (flow.totalPkts <= win) this.classify(flow, st, pkt, dir);
      // A first packet that did not decide the flow by itself: a known endpoint decides it now.
      if (created && this.endpoints && !flow.classifyDone) this.classifyByEndpoint(flow, st);
      // The kernel queues the first 2N packets (connbytes 0:2N, per skb: a GSO super-packet is one):
      // the last of them closes the window, else an undecided flow would never get its mark.
      if (!flow.classifyDone && flow.totalPkts >= win) this.conclude(flow, st, st.fc.finish(`unclassified: left the classification window (${win} packets)`));
    } else if (st.learn && !st.attach) {
      this.learnPacket(flow, st, pkt, dir);
    }
    if (st.attach && this.inspect) return this.startInspection(flow, st, this.slot.fill(id, pkt, ip, dir, ts));
    return this.decision(flow);
  }

  /** Hands a just-classified inspected flow to the engine; `cur` completed the classification. */
  private startInspection(flow: Flow, st: FlowState, cur: QPkt): PacketDecision | null {
    st.attach = false;
    const app = st.done!.app!;
    const ins = this.opts.inspect!;
    const label = { app: flow.app, mark: flow.mark, l4: flow.l4, src: flow.src, sport: flow.sport, dst: flow.dst, dport: flow.dport };
    const session = new ContentSession(ins.shared, { app: app.desc.name, src: flow.src, sport: flow.sport, dst: flow.dst, dport: flow.dport });
    let inspector: StreamConsumer = app.desc.inspect!(session);
    if (st.learn) inspector = this.endpoints!.tee(flow, st.learn, inspector);
    if (!st.ra) st.ra = new TcpReassembler({ onData() {}, onGap() {}, onEnd() {} }, this.opts.reassembly, this.counters);
    st.insp = new InspectFlow(flow.key, label, st.ra, inspector, session, flow.mark);
    const pre = st.pre;
    st.pre = NO_PRE;
    const v = this.inspect!.attach(st.insp, pre, st.preLost, cur);
    if (st.insp.killed) {
      flow.verdict = flow.l4 === 'tcp' ? 'reset' : 'drop';
      flow.reason = session.kill?.reason ?? flow.reason;
    }
    return v;
  }

  private classify(flow: Flow, st: FlowState, pkt: DecodedPacket, dir: Dir): void {
    if (flow.l4 === 'udp') {
      if (pkt.payload.length) {
        st.cur = { dir, bytes: pkt.payload };
        this.maybeConclude(flow, st, st.fc.feed(dir, pkt.payload));
        st.cur = null;
      }
      return;
    }
    if (!st.ra) flow.replayStarts((st.ra = this.reassembler()));
    this.feedFlow = flow;
    this.feedSt = st;
    const tr = this.tr;
    if (tr) {
      tr.nested = 0;
      const t0 = performance.now();
      st.ra.segment(dir, pkt.seq, pkt.flags, pkt.payload);
      tr.add('order_check', performance.now() - t0 - tr.nested);
    } else {
      st.ra.segment(dir, pkt.seq, pkt.flags, pkt.payload);
    }
  }

  /**
   * A TCP reassembler for classification: its in-order bytes go to the classifier until the flow
   * is classified, and to the flow's endpoint learner (from its stream offset on) while it has one.
   * All of them share one consumer (`feed`, no closures per flow: issue 14 item 6), which serves
   * the flow whose segment is being fed (feedFlow, feedSt, set right before each segment call).
   */
  private reassembler(): TcpReassembler {
    return new TcpReassembler(this.feed, this.opts.reassembly, this.counters);
  }

  private feedFlow: Flow | null = null;
  private feedSt: FlowState | null = null;
  private readonly feed: StreamConsumer = {
    onData: (d, bytes) => {
      const flow = this.feedFlow!;
      const st = this.feedSt!;
      if (this.preCapture) this.keepPre(st, d, bytes);
      if (!flow.classifyDone) this.maybeConclude(flow, st, st.fc.feed(d, bytes));
      if (st.learn) this.endpoints!.stream(flow, st.learn, d, bytes, st.delivered[d]);
      if (st.delivered === NO_COUNTS) st.delivered = [0, 0];
      st.delivered[d] += bytes.length;
    },
    onGap: (d) => {
      const flow = this.feedFlow!;
      const st = this.feedSt!;
      if (!flow.classifyDone) this.maybeConclude(flow, st, st.fc.finish('unclassified: gap in the stream'));
      if (st.learn) this.endpoints!.gap(st.learn, d);
    },
    onEnd: () => {},
  };

  /**
   * A packet of a classified flow with an endpoint learner (not inspected): read while the flow is
   * inside the learning window and its application is not blocked (the kernel queues no more of it
   * otherwise); then the learner and the reassembler are dropped.
   */
  private learnPacket(flow: Flow, st: FlowState, pkt: DecodedPacket, dir: Dir): void {
    const ep = this.endpoints!;
    if (st.done?.app?.action === 'block' || !ep.inWindow(flow)) {
      st.learn = null;
      st.ra = null;
      return;
    }
    if (flow.l4 === 'udp') return ep.datagram(flow, st.learn!, dir, pkt.payload);
    if (!st.ra) st.ra = this.reassembler();
    this.feedFlow = flow;
    this.feedSt = st;
    st.ra.segment(dir, pkt.seq, pkt.flags, pkt.payload);
  }

  /**
   * UDP: the datagrams the learner should read at classification: the first one of each direction
   * (the classifier keeps them) and the one being classified when it is not a first one.
   */
  private datagramsSeen(st: FlowState): { dir: Dir; bytes: Uint8Array }[] {
    const out: { dir: Dir; bytes: Uint8Array }[] = [];
    for (const d of [0, 1] as const) if (st.fc.prefix[d].length) out.push({ dir: d, bytes: st.fc.prefix[d] });
    if (st.cur && st.fc.packets[st.cur.dir] > 1) out.push(st.cur);
    return out;
  }

  /**
   * A new flow to or from a known peer endpoint is classified now, at its first packet (the SYN;
   * a first packet whose payload classifies the flow by itself keeps that classification).
   */
  private classifyByEndpoint(flow: Flow, st: FlowState): void {
    const e = this.endpoints!.lookupFlow(flow);
    const app = e ? this.classifier.app(e.app) : undefined;
    if (e && app) this.conclude(flow, st, EndpointLearning.classification(e, app));
  }

  private keepPre(st: FlowState, dir: Dir, bytes: Uint8Array): void {
    const cap = this.opts.inspect!.preBufferBytes;
    if (st.preBytes + bytes.length > cap) {
      if (st.preLost === NO_COUNTS) st.preLost = [0, 0];
      st.preLost[dir] += bytes.length;
      this.counters.inc('inspect_pre_buffer_cap');
      return;
    }
    if (st.pre === NO_PRE) st.pre = [];
    st.pre.push({ dir, bytes: bytes.slice() });
    st.preBytes += bytes.length;
  }

  private maybeConclude(flow: Flow, st: FlowState, c: Classification | null): void {
    if (c && !flow.classifyDone) this.conclude(flow, st, c);
  }

  private conclude(flow: Flow, st: FlowState, c: Classification): void {
    // An inside host seen doing P2P: its otherwise unclassified flows get the generic `p2p` application.
    const p2p = !c.app && this.hosts && heuristicLabel(this.hosts, flow, flow.tsEnd, st.fc.prefix[0]) ? this.classifier.app('p2p') : undefined;
    if (p2p) c = { app: p2p, rule: 'p2p.host-heuristic', reason: 'host heuristic: the inside host is doing P2P', method: 'host-heuristic' };
    flow.classifyDone = true;
    st.done = c;
    flow.reason = c.reason;
    const inspect = c.app?.action === 'inspect' && flow.l4 === 'tcp' && !!this.inspect;
    if (c.app && this.endpoints) {
      flow.app = c.app.desc.name; // the learner's hints are learned for this application
      st.learn = this.endpoints.start(flow, c, st.fc.prefix, this.datagramsSeen(st));
    }
    if (inspect && c.app!.desc.inspect) {
      st.attach = true; // keep st.ra: inspection continues the same stream
    } else {
      if (inspect) this.counters.inc('inspect_unsupported');
      // Classification needs no more stream bytes; the learner may, during the learning window.
      if (!st.learn || c.app!.action === 'block') st.ra = null;
      st.pre = NO_PRE;
    }
    if (c.app) {
      flow.app = c.app.desc.name;
      flow.mark = c.app.mark;
      flow.method = c.method;
      flow.learnedFrom = c.source ?? null;
      flow.classifiedAfterPkts = flow.totalPkts;
      if (c.app.action === 'block') {
        flow.verdict = flow.l4 === 'tcp' ? 'reset' : 'drop';
        this.counters.inc(`blocked_${flow.app}`);
      }
      this.counters.inc(`classified_${flow.app}`);
    } else {
      this.counters.inc('unclassified');
    }
    this.events.onClassified?.(flow, c);
  }

  private decision(flow: Flow): PacketDecision {
    return this.repeats.of(flow.classifyDone, flow.mark, this.opts.unknownMark);
  }

  private readonly repeats = new RepeatVerdicts();
  private readonly slot = new QueuedSlot();

  private ended(flow: Flow, why: FlowEndReason): void {
    this.hosts?.observe(flow, flow.tsEnd);
    const st = flow.state as FlowState | null;
    if (st?.insp && this.inspect) {
      this.inspect.end(st.insp, why);
      if (st.insp.killed) flow.verdict = flow.l4 === 'tcp' ? 'reset' : 'drop';
    }
    if (!flow.classifyDone) {
      const s = st ?? newFlowState(this.classifier.newFlow(flow.l4, flow.sport, flow.dport)); // stateless so far
      this.conclude(flow, s, s.fc.finish(`unclassified: flow ended (${why}) before a decision`));
    }
    flow.state = null;
    this.events.onFlowEnd?.(flow, why);
  }
}
