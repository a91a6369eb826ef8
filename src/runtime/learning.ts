/**
 * Endpoint learning on the packet path (issue 12): the generic caller of the applications'
 * `learner` hooks (src/apps/types.ts) and the owner of the endpoint table (src/flow/endpoints.ts).
 *
 * - When a flow starts, its responder endpoint (dst, dport, l4) and then its initiator endpoint
 *   (src, sport, l4) are looked up: a hit classifies the flow at its first packet (`method`
 *   `endpoint`, `source` where the endpoint was learned).
 * - When a flow is classified as an application with a learner, the learner reads the payload
 *   seen so far (the classifier's bounded stream prefix, or first datagrams) and then the packets
 *   of the learning window: while the connection has carried at most `learnPackets` packets (both
 *   directions), as the kernel rule `connbytes 0:<learnPackets>` queues them (src/enforce/iptables.ts).
 *   Hints are applied with the flow's addresses: `ip` null = the sender of the bytes, `port` null
 *   = the sender's port, `l4` both = TCP and UDP.
 * - A classified flow of such an application (not itself classified by endpoint) whose learner
 *   says it is a peer connection teaches its responder endpoint and, for UDP (DHT and uTP send
 *   from the listen port), its initiator endpoint too: source `flow`.
 *
 * Counted: the table's events, and `endpoint_learn_<weird>` for what a learner could not read.
 */
import type { Classification } from '../apps/classifier.js';
import type { Dir, EndpointHint, EndpointLearner } from '../apps/types.js';
import type { Counters } from '../core/counters.js';
import type { L4, StreamConsumer } from '../core/types.js';
import { EndpointTable, type EndpointEntry, type EndpointOptions } from '../flow/endpoints.js';
import type { Flow } from '../flow/flow.js';

/** Config `endpoints:` (DEFAULTS.endpoints): the table's options and the learning window. */
export interface EndpointConfig extends EndpointOptions {
  /** Packets (both directions) of a classified connection its learner may read; 0 = none after classification. */
  learnPackets: number;
}

/** The learning state of one flow. */
export interface FlowLearning {
  readonly learner: EndpointLearner;
  /** Stream offset the learner has read up to, per direction (TCP); -1 = direction stopped. */
  readonly pos: [number, number];
}

/** Called with every endpoint this process learned (not adopted): queue workers share it (endpoint-share.ts). */
export type OnLearned = (ip: string, port: number, l4: L4, app: string, source: string, now: number, key?: Uint8Array) => void;

export class EndpointLearning {
  readonly table: EndpointTable;
  /** Set by a queue worker to share what it learns with its siblings; null otherwise. */
  onLearned: OnLearned | null = null;
  private learnPackets: number;
  private readonly hints: EndpointHint[] = [];

  constructor(opts: EndpointConfig, private readonly counters: Counters) {
    this.table = new EndpointTable(opts, counters);
    this.learnPackets = opts.learnPackets;
  }

  /** Applies reloaded options (see EndpointTable.configure). */
  configure(opts: EndpointConfig): void {
    this.table.configure(opts);
    this.learnPackets = opts.learnPackets;
  }

  /** The known endpoint of a new flow: its responder's, else its initiator's; null when neither is known. */
  lookupFlow(flow: Flow): EndpointEntry | null {
    const now = flow.tsEnd;
    return this.table.lookup(flow.dst, flow.dport, flow.l4, now) ?? this.table.lookup(flow.src, flow.sport, flow.l4, now);
  }

  /** True when lookupFlow would find an endpoint for `flow` (counts and moves nothing). */
  knowsFlow(flow: Flow): boolean {
    const now = flow.tsEnd;
    return this.table.has(flow.dst, flow.dport, flow.l4, now) || this.table.has(flow.src, flow.sport, flow.l4, now);
  }

  /**
   * Secrets (EndpointHint.key, e.g. eD2k user hashes) learned for the responder's address of a new
   * flow, any port, for dissectors that decrypt obfuscated handshakes (SearchContext.peerKeys).
   */
  keysFor(flow: Flow): readonly Uint8Array[] {
    return this.table.keysFor(flow.dst, flow.tsEnd);
  }

  /** The classification of a flow started towards or from the known endpoint `e`. */
  static classification(e: EndpointEntry, app: NonNullable<Classification['app']>): Classification {
    return {
      app, rule: `${app.desc.name}.endpoint`, method: 'endpoint', source: e.source,
      reason: `endpoint ${e.ip.includes(':') ? `[${e.ip}]` : e.ip}:${e.port}/${e.l4} learned from ${e.source}`,
    };
  }

  /** Is the flow still inside the learning window? */
  inWindow(flow: Flow): boolean {
    return flow.totalPkts <= this.learnPackets;
  }

  /**
   * Starts learning on a just-classified flow: creates its application's learner (null when the
   * application has none or the table is off), feeds it `prefix` (the classifier's per-direction
   * stream prefix; UDP: earlier datagrams, `prefixDatagrams`), then learns the flow's own endpoints.
   */
  start(flow: Flow, c: Classification, prefix: readonly [Uint8Array, Uint8Array], prefixDatagrams: readonly { dir: Dir; bytes: Uint8Array }[]): FlowLearning | null {
    const make = c.app?.desc.learner;
    if (!make || this.table.capacity === 0) return null;
    const ipv6 = flow.src.includes(':');
    const learner = make({ l4: flow.l4, ipv6, weird: (name) => this.counters.inc(`endpoint_learn_${name}`) });
    const fl: FlowLearning = { learner, pos: [0, 0] };
    try {
      if (flow.l4 === 'tcp') {
        for (const d of [0, 1] as const) if (prefix[d].length) this.stream(flow, fl, d, prefix[d], 0);
      } else {
        for (const p of prefixDatagrams) this.datagram(flow, fl, p.dir, p.bytes);
      }
    } catch {
      this.counters.inc('endpoint_learner_error');
      return null;
    }
    if (c.method !== 'endpoint' && learner.peerFlow) {
      const app = c.app!.desc.name;
      this.learn(flow.dst, flow.dport, flow.l4, app, 'flow', flow.tsEnd);
      if (flow.l4 === 'udp') this.learn(flow.src, flow.sport, 'udp', app, 'flow', flow.tsEnd);
    }
    return fl;
  }

  /**
   * TCP: in-order stream bytes of `dir` starting at stream offset `at`. Bytes the learner has
   * already read are skipped; a hole before `at` stops the direction (`learner.gap`).
   */
  stream(flow: Flow, fl: FlowLearning, dir: Dir, bytes: Uint8Array, at: number): void {
    const pos = fl.pos[dir];
    if (pos < 0) return;
    if (at > pos) {
      fl.pos[dir] = -1;
      fl.learner.gap(dir);
      return;
    }
    const skip = pos - at;
    if (skip >= bytes.length) return;
    fl.pos[dir] = at + bytes.length;
    this.feed(flow, fl, dir, skip ? bytes.subarray(skip) : bytes);
  }

  /** TCP: bytes of `dir` were lost; the learner stops reading that direction. */
  gap(fl: FlowLearning, dir: Dir): void {
    if (fl.pos[dir] < 0) return;
    fl.pos[dir] = -1;
    fl.learner.gap(dir);
  }

  /**
   * An inspected flow's inspector (fed from stream byte 0) that also feeds the flow's learner
   * while the flow is inside the learning window.
   */
  tee(flow: Flow, fl: FlowLearning, inspector: StreamConsumer): StreamConsumer {
    const pos: [number, number] = [0, 0];
    return {
      onData: (d, b) => {
        if (this.inWindow(flow)) this.stream(flow, fl, d, b, pos[d]);
        pos[d] += b.length;
        inspector.onData(d, b);
      },
      onGap: (d, n) => {
        this.gap(fl, d);
        pos[d] += n;
        inspector.onGap(d, n);
      },
      onEnd: (d) => inspector.onEnd(d),
    };
  }

  /** UDP: one datagram of `dir`. */
  datagram(flow: Flow, fl: FlowLearning, dir: Dir, bytes: Uint8Array): void {
    if (bytes.length) this.feed(flow, fl, dir, bytes);
  }

  private feed(flow: Flow, fl: FlowLearning, dir: Dir, bytes: Uint8Array): void {
    const out = this.hints;
    out.length = 0;
    try {
      fl.learner.data(dir, bytes, out);
    } catch {
      // A learner bug must not take the packet path down: stop this flow's learning, count it.
      this.counters.inc('endpoint_learner_error');
      fl.pos[0] = fl.pos[1] = -1;
      return;
    }
    if (out.length === 0) return;
    const app = flow.app;
    if (!app) return;
    const senderIp = dir === 0 ? flow.src : flow.dst;
    const senderPort = dir === 0 ? flow.sport : flow.dport;
    for (const h of out) {
      const ip = h.ip ?? senderIp;
      const port = h.port ?? senderPort;
      const l4s: readonly L4[] = h.l4 === 'both' ? ['tcp', 'udp'] : [h.l4];
      for (const l4 of l4s) this.learn(ip, port, l4, app, h.source, flow.tsEnd, h.key);
    }
    out.length = 0;
  }

  /** Learns into the table and, when it took the endpoint, tells `onLearned`. */
  private learn(ip: string, port: number, l4: L4, app: string, source: string, now: number, key?: Uint8Array): void {
    if (this.table.learn(ip, port, l4, app, source, now, key)) this.onLearned?.(ip, port, l4, app, source, now, key);
  }
}
