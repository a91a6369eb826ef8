/**
 * The traffic sink's user-space side: one TCP and one UDP listener that receive the unsolicited
 * requests DNATed to them (src/collect/nat.ts), never answer, and turn each into a `SinkRequest`
 * classified with the gateway's own classifier.
 *
 * - TCP: every connection is accepted and read; nothing is ever written. It is closed after
 *   `idleMs` without data (Tc, default 30 s), or when the peer closes. The first `keepBytes`
 *   (2 KiB) are kept; later bytes are read and counted, not kept.
 * - UDP: datagrams from one peer address/port (one conntrack entry) form one request until
 *   `idleMs` passes without another; the datagrams' first `keepBytes` in total are kept.
 * - Original destination: looked up in conntrack when the request starts (src/collect/conntrack.ts).
 * - Classification, when the request ends: `classifier.newFlow(l4, peer port, original dport)`
 *   fed the kept bytes as the initiator's direction (TCP: one stream chunk; UDP: one call per
 *   datagram), then `finish()`ed: no reply is ever seen, so a detection still pending on the
 *   reply (registry priority) counts, and a classifier still undecided gives unknown.
 *
 * Bounds: at most `maxConnections` open TCP connections (more are dropped by Node and counted,
 * `sink_tcp_dropped`) and `maxUdpRequests` open UDP requests (the oldest is ended early,
 * `sink_udp_ended_early`). Counters: sink_requests_tcp, sink_requests_udp, sink_tcp_error,
 * sink_udp_error, plus the resolver's.
 */
import net from 'node:net';
import dgram from 'node:dgram';
import type { Classification, Classifier } from '../apps/classifier.js';
import type { Counters } from '../core/counters.js';
import { DEFAULTS } from '../core/defaults.js';
import type { L4, Tuple } from './conntrack.js';

/** One unsolicited request as the sink saw it. */
export interface SinkRequest {
  /** Start (connection accepted / first datagram) and end, seconds since the epoch. */
  ts: number;
  tsEnd: number;
  l4: L4;
  /** The requester. */
  src: string;
  sport: number;
  /** Where the requester sent it before DNAT (from conntrack); null when conntrack had no entry. */
  dst: string | null;
  dport: number | null;
  /** Payload bytes received (all of them) and datagrams (UDP) or reads (TCP). */
  bytes: number;
  chunks: number;
  /** The first `keepBytes` of the request (UDP: of its datagrams, concatenated). */
  head: Uint8Array;
  /** Application by payload, the deciding rule and the classifier's reason. */
  app: string | null;
  rule: string | null;
  reason: string;
}

/** Something that finds the original destination of a peer's connection to our listener. */
export interface OrigDstLookup {
  lookup(l4: L4, peer: string, port: number): Promise<Tuple | null>;
}

export interface SinkOptions {
  /** IPv4 address both listeners bind to (the DNAT target). */
  listenAddr: string;
  /** Listener ports; 0 picks a free one (see `ports` after start). */
  tcpPort: number;
  udpPort: number;
  /** Tc: a request ends after this long without data, ms. */
  idleMs: number;
  /** Bytes kept per request (default DEFAULTS.sink.keepBytes, 2048). */
  keepBytes?: number;
  /** Open TCP connections at most (default DEFAULTS.sink.maxConnections, 4096). */
  maxConnections?: number;
  /** Open UDP requests at most (default DEFAULTS.sink.maxUdpRequests, 65536). */
  maxUdpRequests?: number;
  classifier: Classifier;
  resolver: OrigDstLookup;
  counters: Counters;
  /** Called once per ended request. */
  onRequest?(r: SinkRequest): void;
  /** Clock, ms since the epoch (default Date.now). */
  now?(): number;
}

interface Open {
  l4: L4;
  ts: number;
  last: number;
  src: string;
  sport: number;
  chunks: Uint8Array[];
  kept: number;
  bytes: number;
  n: number;
  orig: Promise<Tuple | null>;
}

/** IPv4-mapped IPv6 (`::ffff:a.b.c.d`) → `a.b.c.d`. */
const plain = (a: string): string => (a.startsWith('::ffff:') ? a.slice(7) : a);

export class Sink {
  private tcp: net.Server | null = null;
  private udp: dgram.Socket | null = null;
  private readonly sockets = new Set<net.Socket>();
  private readonly udpOpen = new Map<string, Open>();
  private readonly ending = new Set<Promise<void>>();
  private sweep: NodeJS.Timeout | null = null;
  private readonly now: () => number;
  /** Ports actually bound (after `start`). */
  readonly ports = { tcp: 0, udp: 0 };

  constructor(private readonly o: SinkOptions) {
    this.now = o.now ?? Date.now;
  }

  /** Binds both listeners. Rejects (e.g. EADDRINUSE, EADDRNOTAVAIL) with the socket error. */
  async start(): Promise<void> {
    const tcp = net.createServer({ allowHalfOpen: false }, (s) => this.onTcp(s));
    tcp.maxConnections = this.o.maxConnections ?? DEFAULTS.sink.maxConnections;
    tcp.on('drop', () => this.o.counters.inc('sink_tcp_dropped'));
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen({ host: this.o.listenAddr, port: this.o.tcpPort, backlog: 1024 }, () => (tcp.off('error', reject), resolve()));
    });
    this.tcp = tcp;
    this.ports.tcp = (tcp.address() as net.AddressInfo).port;
    const udp = dgram.createSocket({ type: 'udp4' });
    udp.on('message', (m, r) => this.onDatagram(m, r));
    try {
      await new Promise<void>((resolve, reject) => {
        udp.once('error', reject);
        udp.bind({ address: this.o.listenAddr, port: this.o.udpPort }, () => (udp.off('error', reject), resolve()));
      });
    } catch (err) {
      tcp.close();
      this.tcp = null;
      throw err;
    }
    udp.on('error', () => this.o.counters.inc('sink_udp_error'));
    try {
      udp.setRecvBufferSize(4 * 1024 * 1024);
    } catch {
      /* capped by net.core.rmem_max: the default buffer still works */
    }
    this.udp = udp;
    this.ports.udp = udp.address().port;
    const every = Math.max(50, Math.min(1000, Math.floor(this.o.idleMs / 4)));
    this.sweep = setInterval(() => this.sweepUdp(), every);
  }

  /** Requests in progress (TCP connections + UDP peers). */
  get open(): number {
    return this.sockets.size + this.udpOpen.size;
  }

  /** Stops listening, ends every open request and waits until each was reported. Idempotent. */
  async stop(): Promise<void> {
    if (this.sweep) clearInterval(this.sweep);
    this.sweep = null;
    const closed = this.tcp ? new Promise<void>((r) => this.tcp!.close(() => r())) : Promise.resolve();
    // A destroyed socket reports 'close' on a later tick; its request is ended in that handler.
    const gone = [...this.sockets].map((s) => new Promise<void>((r) => s.once('close', () => r())));
    for (const s of this.sockets) s.destroy();
    for (const key of [...this.udpOpen.keys()]) this.endUdp(key);
    this.udp?.close();
    this.udp = null;
    await Promise.all([closed, ...gone]);
    this.tcp = null;
    while (this.ending.size) await Promise.all([...this.ending]);
  }

  private begin(l4: L4, src: string, sport: number): Open {
    const t = this.now();
    this.o.counters.inc(`sink_requests_${l4}`);
    return { l4, ts: t, last: t, src, sport, chunks: [], kept: 0, bytes: 0, n: 0, orig: this.o.resolver.lookup(l4, src, sport) };
  }

  private take(r: Open, data: Uint8Array): void {
    r.bytes += data.length;
    r.n++;
    r.last = this.now();
    const room = (this.o.keepBytes ?? DEFAULTS.sink.keepBytes) - r.kept;
    if (room <= 0) return;
    const part = data.subarray(0, room);
    r.chunks.push(Uint8Array.from(part));
    r.kept += part.length;
  }

  private onTcp(s: net.Socket): void {
    const src = plain(s.remoteAddress ?? '');
    const sport = s.remotePort ?? 0;
    if (!src || !sport) {
      s.destroy(); // already gone
      return;
    }
    this.sockets.add(s);
    const r = this.begin('tcp', src, sport);
    s.setTimeout(this.o.idleMs, () => s.destroy());
    s.on('data', (d: Buffer) => this.take(r, d));
    s.on('error', () => this.o.counters.inc('sink_tcp_error'));
    s.once('close', () => {
      this.sockets.delete(s);
      this.end(r);
    });
  }

  private onDatagram(m: Buffer, rinfo: dgram.RemoteInfo): void {
    const key = `${rinfo.address}|${rinfo.port}`;
    let r = this.udpOpen.get(key);
    if (!r) {
      r = this.begin('udp', rinfo.address, rinfo.port);
      this.udpOpen.set(key, r);
      if (this.udpOpen.size > (this.o.maxUdpRequests ?? DEFAULTS.sink.maxUdpRequests)) {
        this.o.counters.inc('sink_udp_ended_early');
        this.endUdp(this.udpOpen.keys().next().value!);
      }
    }
    this.take(r, m);
  }

  private sweepUdp(): void {
    const limit = this.now() - this.o.idleMs;
    for (const [key, r] of this.udpOpen) if (r.last <= limit) this.endUdp(key);
  }

  private endUdp(key: string): void {
    const r = this.udpOpen.get(key);
    if (!r) return;
    this.udpOpen.delete(key);
    this.end(r);
  }

  /** Waits for the original destination, classifies and reports `r`. */
  private end(r: Open): void {
    const tsEnd = this.now();
    const p = r.orig
      .then((orig) => {
        const head = r.chunks.length === 1 ? r.chunks[0] : Buffer.concat(r.chunks);
        const fc = this.o.classifier.newFlow(r.l4, r.sport, orig?.dport ?? 0);
        let c: Classification | null = null;
        for (const chunk of r.l4 === 'tcp' ? [head] : r.chunks) {
          if (chunk.length === 0) continue;
          c = fc.feed(0, chunk);
          if (c) break;
        }
        // The request is all there will be: end the flow; a pending detection (one whose
        // higher-priority dissectors still wanted the reply) wins over "unclassified".
        c ??= fc.finish(r.bytes === 0 ? 'unclassified: no payload' : 'unclassified: no decision from the request alone');
        const req: SinkRequest = {
          ts: r.ts / 1000,
          tsEnd: tsEnd / 1000,
          l4: r.l4,
          src: r.src,
          sport: r.sport,
          dst: orig?.dst ?? null,
          dport: orig?.dport ?? null,
          bytes: r.bytes,
          chunks: r.n,
          head: Uint8Array.from(head),
          app: c.app?.desc.name ?? null,
          rule: c.app ? c.rule : null,
          reason: c.reason,
        };
        this.o.onRequest?.(req);
      })
      .catch(() => this.o.counters.inc('sink_request_error'))
      .finally(() => this.ending.delete(p));
    this.ending.add(p);
  }
}
