/**
 * IPFIX transports (RFC 7011 §10): UDP (§10.3) and TCP (§10.4) to one Collector. Neither ever
 * blocks its caller: `send` takes a Message or refuses it when the backlog is full, and the bytes
 * leave as the socket allows.
 *
 * - UDP: one Message per datagram, sent one at a time from a FIFO (the next after the previous
 *   send completed); with `burst`, a pause of 1 ms after every `burst` datagrams (replay sends a
 *   whole capture's records at once: this keeps it to a few MB/s, which a collector's socket buffer
 *   absorbs). The Transport Session lasts as long as the socket.
 * - TCP: one connection; every (re)connection is a new Transport Session (`onSession`: the
 *   exporter resends its Templates first and restarts its sequence numbers). A lost connection is
 *   retried with backoff (1 s doubling to 30 s); Messages not yet written when it drops are lost and
 *   reported through `onLost`.
 */
import dgram from 'node:dgram';
import net from 'node:net';

/** Something that happened on the transport, for the exporter's events and counters. */
export type TransportEvent =
  | { type: 'connected' }
  | { type: 'disconnected'; error: string }
  | { type: 'error'; error: string };

export interface TransportOptions {
  host: string;
  port: number;
  /** Most Messages waiting to be written (offline: unbounded). */
  maxBacklog: number;
  /** UDP: pause 1 ms after this many datagrams (absent: no pause). */
  burst?: number;
  onEvent(ev: TransportEvent): void;
  /** A new Transport Session started (TCP connected): Templates must be sent before anything else. */
  onSession(): void;
  /** The transport can take Messages again (backlog drained, or connected). */
  onWritable(): void;
  /** Messages that were taken but not sent (connection lost, socket error): their record counts. */
  onLost(records: number): void;
}

/** A Message and the number of Data Records in it (for loss accounting). */
export interface Outgoing {
  bytes: Uint8Array;
  records: number;
}

export interface Transport {
  /** Whether `send` may be called now (TCP: connected; UDP: always). */
  readonly ready: boolean;
  /** Messages taken but not yet written. */
  readonly backlog: number;
  /** Whether `send` would take a Message now (ready and the backlog not full). */
  readonly writable: boolean;
  /**
   * Takes a Message. Never blocks.
   * @returns false when not ready or the backlog is full (the Message was not taken)
   */
  send(m: Outgoing): boolean;
  /** Writes what is taken, then closes; resolves when done or after `deadlineMs` (the rest is lost). */
  close(deadlineMs: number): Promise<void>;
}

const errText = (e: unknown): string => (e as NodeJS.ErrnoException)?.code ?? (e as Error)?.message ?? String(e);

/** UDP to host:port (RFC 7011 §10.3); the socket family follows the host (IPv6 literal: udp6). */
export class UdpTransport implements Transport {
  readonly ready = true;
  private readonly socket: dgram.Socket;
  private readonly queue: Outgoing[] = [];
  private inFlight = false;
  /** Datagrams sent since the last pause (`burst`). */
  private sinceGap = 0;
  /** A send was refused for a full backlog: tell the exporter when there is room again. */
  private refused = false;
  private closing: (() => void) | null = null;

  constructor(private readonly o: TransportOptions) {
    this.socket = dgram.createSocket(net.isIPv6(o.host) ? 'udp6' : 'udp4');
    this.socket.on('error', (e) => o.onEvent({ type: 'error', error: errText(e) }));
  }

  get backlog(): number {
    return this.queue.length + (this.inFlight ? 1 : 0);
  }

  get writable(): boolean {
    return !this.closing && this.backlog < this.o.maxBacklog;
  }

  send(m: Outgoing): boolean {
    if (this.closing) return false;
    if (this.backlog >= this.o.maxBacklog) {
      this.refused = true;
      return false;
    }
    this.queue.push(m);
    this.next();
    return true;
  }

  private next(): void {
    if (this.inFlight) return;
    const m = this.queue.shift();
    if (!m) {
      this.closing?.();
      return;
    }
    this.inFlight = true;
    this.socket.send(m.bytes, this.o.port, this.o.host, (err) => {
      this.inFlight = false;
      if (err) {
        this.o.onEvent({ type: 'error', error: errText(err) });
        this.o.onLost(m.records);
      }
      if (this.o.burst && ++this.sinceGap >= this.o.burst) {
        this.sinceGap = 0;
        this.inFlight = true; // the pause holds the FIFO like a send in flight
        setTimeout(() => {
          this.inFlight = false;
          this.next();
        }, 1);
      } else this.next();
      if (this.refused) {
        this.refused = false;
        this.o.onWritable();
      }
    });
  }

  close(deadlineMs: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        const lost = this.queue.splice(0);
        if (lost.length) this.o.onLost(lost.reduce((n, m) => n + m.records, 0));
        this.socket.close();
        resolve();
      };
      const timer = setTimeout(done, deadlineMs);
      this.closing = done;
      if (!this.inFlight && !this.queue.length) done();
    });
  }
}

/** TCP to host:port (RFC 7011 §10.4), reconnecting with backoff. */
export class TcpTransport implements Transport {
  private socket: net.Socket | null = null;
  private connected = false;
  /** Messages written to the socket whose write has not completed. */
  private unflushed = 0;
  private refused = false;
  private retryMs = 1000;
  private retryTimer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(private readonly o: TransportOptions) {
    this.connect();
  }

  get ready(): boolean {
    return this.connected && !this.closed;
  }

  get backlog(): number {
    return this.unflushed;
  }

  get writable(): boolean {
    return this.ready && this.unflushed < this.o.maxBacklog;
  }

  private connect(): void {
    this.retryTimer = null;
    if (this.closed) return;
    const s = net.connect({ host: this.o.host, port: this.o.port });
    this.socket = s;
    s.setNoDelay(true);
    s.on('connect', () => {
      this.connected = true;
      this.retryMs = 1000;
      this.o.onEvent({ type: 'connected' });
      this.o.onSession();
      this.o.onWritable();
    });
    s.on('error', (e) => this.o.onEvent({ type: this.connected ? 'disconnected' : 'error', error: errText(e) }));
    s.on('close', () => {
      this.connected = false;
      this.socket = null;
      if (this.closed) return;
      this.retryTimer = setTimeout(() => this.connect(), this.retryMs);
      this.retryMs = Math.min(this.retryMs * 2, 30000);
    });
  }

  send(m: Outgoing): boolean {
    const s = this.socket;
    if (!this.ready || !s) return false;
    if (this.unflushed >= this.o.maxBacklog) {
      this.refused = true;
      return false;
    }
    this.unflushed++;
    s.write(m.bytes, (err) => {
      this.unflushed--;
      if (err) this.o.onLost(m.records);
      else if (this.refused) {
        this.refused = false;
        this.o.onWritable();
      }
    });
    return true;
  }

  close(deadlineMs: number): Promise<void> {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    const s = this.socket;
    if (!s) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => s.destroy(), deadlineMs);
      s.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      if (this.connected) s.end();
      else s.destroy();
    });
  }
}
