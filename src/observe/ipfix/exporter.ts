/**
 * The IPFIX Exporting Process (RFC 7011): takes flow records from the meter into a bounded queue,
 * packs them into Messages (Data Sets by Template, at most `maxMessageOctets`), and hands the
 * Messages to a UDP or TCP transport. Nothing here ever waits on the network: `push` is O(1) and
 * drops (counted) when the queue is full; packing runs on `flush` (the outputs' tick, and right
 * after pushes) and only as far as the transport takes Messages.
 *
 * Templates (RFC 7011 §8): the Template Set (256, 257), the Options Template Set (258, 259) and the
 * application table (their Options Data Records) open every Transport Session. Over UDP they are
 * sent again every `templateRefreshSec` seconds (§8.4) and the table whenever an application is
 * added; over TCP once per connection (§8.3: a reconnection is a new session). Sequence Numbers
 * count the Data Records sent before each Message in the session (§3.1), options records included.
 *
 * Offline mode (replay) never drops: the queue and the transport backlog are unbounded, and
 * `close` sends everything (within its deadline).
 *
 * Counters: ipfix_records (flow records sent), ipfix_messages, ipfix_octets, ipfix_template_sends,
 * ipfix_dropped (every record not sent) with its reason in ipfix_dropped_queue_full,
 * ipfix_dropped_lost (taken by the transport, then lost), ipfix_dropped_closed (still queued at
 * close), ipfix_dropped_encode (a record that could not be encoded), and ipfix_transport_error.
 */
import type { Counters } from '../../core/counters.js';
import { P2pgwError } from '../../core/errors.js';
import { MESSAGE_HEADER_OCTETS, SET_HEADER_OCTETS, SET_OPTIONS_TEMPLATE, SET_TEMPLATE, message, set, templateRecord } from './encode.js';
import { TEMPLATES, TEMPLATE_ID, appTableRecords, flowDataRecord, type AppEntry, type ExportRecord } from './template.js';
import { TcpTransport, UdpTransport, type Outgoing, type Transport, type TransportOptions } from './transport.js';

/** A named event of the exporter, for log lines. */
export type IpfixEvent =
  | { type: 'connected'; collector: string }
  | { type: 'disconnected'; collector: string; error: string }
  | { type: 'transport_error'; collector: string; error: string }
  | { type: 'dropping'; collector: string; reason: DropReason }
  | { type: 'recovered'; collector: string; dropped: number };

export type DropReason = 'queue_full' | 'lost' | 'closed' | 'encode';

export interface IpfixExporterOptions {
  host: string;
  port: number;
  transport: 'udp' | 'tcp';
  /** Observation Domain ID of every Message. */
  domain: number;
  /** UDP: resend Templates and the application table this often, seconds. */
  templateRefreshSec: number;
  /** Most records queued (live); a full queue drops new records. */
  maxQueue: number;
  /** Replay: never drop (unbounded queue and backlog); default false. */
  offline?: boolean;
  /** Largest Message, octets: default 1400 over UDP (fits a 1500-octet path), 8192 over TCP. */
  maxMessageOctets?: number;
  /** Wall clock, ms (export time, template refresh); default Date.now. */
  now?: () => number;
  onEvent?: (ev: IpfixEvent) => void;
  /** Tests: builds the transport. */
  transportFactory?: (o: TransportOptions) => Transport;
}

/**
 * One record of a Set to pack: its Set ID, its octets, whether it is a Data Record, and whether it
 * gets a Set of its own (nfdump 1.7.1 reads one Options Template Record per Options Template Set,
 * and steps through the records of an NBAR options Data Set by their size without the scope).
 */
interface Item {
  setId: number;
  bytes: Uint8Array;
  data: boolean;
  alone?: boolean;
}

/** Builds one Message from records, grouping consecutive records of one Set ID into a Set. */
export class MessageBuilder {
  private sets: Uint8Array[] = [];
  private cur: Item[] = [];
  private size = MESSAGE_HEADER_OCTETS;
  private records = 0;

  /** @param max largest Message, octets */
  constructor(private readonly max: number) {}

  get empty(): boolean {
    return this.size === MESSAGE_HEADER_OCTETS;
  }

  /**
   * Adds a record if it fits.
   * @returns false when the Message is full (the record was not added)
   * @throws P2pgwError(P2PGW_ERR_IPFIX) for a record too large for any Message of `max` octets
   */
  add(it: Item): boolean {
    const sameSet = this.cur.length > 0 && this.cur[0].setId === it.setId && !it.alone && !this.cur[0].alone;
    const need = it.bytes.length + (sameSet ? 0 : SET_HEADER_OCTETS);
    if (this.size + need > this.max) {
      if (this.empty) throw new P2pgwError('P2PGW_ERR_IPFIX', `IPFIX: a ${it.bytes.length}-octet record does not fit a ${this.max}-octet Message`);
      return false;
    }
    if (!sameSet) this.closeSet();
    this.cur.push(it);
    this.size += need;
    if (it.data) this.records++;
    return true;
  }

  /** The Message (RFC 7011 §3.1 header with `sequence`) and its Data Record count. */
  build(h: { exportTime: number; domain: number; sequence: number }): Outgoing {
    this.closeSet();
    return { bytes: message(h, this.sets), records: this.records };
  }

  private closeSet(): void {
    if (this.cur.length) this.sets.push(set(this.cur[0].setId, this.cur.map((i) => i.bytes)));
    this.cur = [];
  }
}

/**
 * Packs records into Messages of at most `max` octets, in order (see MessageBuilder); Sequence
 * Numbers start at `h.seq` and grow by the Data Records of each Message.
 * @returns the Messages and the next Sequence Number
 * @throws P2pgwError(P2PGW_ERR_IPFIX) for a record that cannot fit any Message
 */
export function packMessages(items: readonly Item[], max: number, h: { exportTime: number; domain: number; seq: number }): { messages: Outgoing[]; seq: number } {
  const messages: Outgoing[] = [];
  let seq = h.seq;
  let b = new MessageBuilder(max);
  const close = (): void => {
    if (b.empty) return;
    const m = b.build({ exportTime: h.exportTime, domain: h.domain, sequence: seq });
    messages.push(m);
    seq = (seq + m.records) >>> 0;
    b = new MessageBuilder(max);
  };
  for (const it of items) {
    if (!b.add(it)) {
      close();
      b.add(it);
    }
  }
  close();
  return { messages, seq };
}

/** Offline (replay) UDP pacing: a 1 ms pause after this many Messages (about 8 per ms, ≤ 11 MB/s). */
export const OFFLINE_BURST = 8;

/**
 * One Exporting Process to one Collector (see the module comment): `push` records, `announce`
 * applications, `flush` from the outputs' tick, `close` at the end. Counts into `counters`.
 */
export class IpfixExporter {
  private readonly transport: Transport;
  private readonly queue: ExportRecord[] = [];
  private head = 0;
  private seq = 0;
  private needTemplates = true;
  private lastTemplatesMs = -Infinity;
  private apps = new Map<number, AppEntry>();
  private appsDirty = false;
  private dropping: { reason: DropReason; count: number } | null = null;
  private flushScheduled = false;
  private closing: Promise<void> | null = null;
  private wake: (() => void) | null = null;
  private readonly now: () => number;
  private readonly max: number;
  /** `host:port` as given, for events. */
  readonly collector: string;

  /**
   * Opens the transport (UDP socket, or TCP connection attempts in the background).
   * @throws P2pgwError(P2PGW_ERR_IPFIX) when the socket cannot be created
   */
  constructor(
    private readonly o: IpfixExporterOptions,
    private readonly counters: Counters,
  ) {
    this.now = o.now ?? Date.now;
    this.max = o.maxMessageOctets ?? (o.transport === 'udp' ? 1400 : 8192);
    this.collector = `${o.host.includes(':') ? `[${o.host}]` : o.host}:${o.port}`;
    const topts: TransportOptions = {
      host: o.host,
      port: o.port,
      maxBacklog: o.offline ? Infinity : 64,
      burst: o.offline ? OFFLINE_BURST : undefined,
      onEvent: (ev) => {
        if (ev.type === 'connected') this.o.onEvent?.({ type: 'connected', collector: this.collector });
        else {
          this.counters.inc('ipfix_transport_error');
          this.o.onEvent?.({ type: ev.type === 'disconnected' ? 'disconnected' : 'transport_error', collector: this.collector, error: ev.error });
        }
        this.wake?.();
      },
      onSession: () => {
        this.needTemplates = true;
        this.seq = 0;
      },
      onWritable: () => {
        this.wake?.();
        this.schedule();
      },
      onLost: (n) => this.drop('lost', n),
    };
    try {
      this.transport = o.transportFactory ? o.transportFactory(topts) : o.transport === 'udp' ? new UdpTransport(topts) : new TcpTransport(topts);
    } catch (err) {
      throw new P2pgwError('P2PGW_ERR_IPFIX', `IPFIX: cannot open a ${o.transport} socket to ${this.collector}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Records waiting in the queue. */
  get queued(): number {
    return this.queue.length - this.head;
  }

  /**
   * Queues a flow record; O(1), never blocks. A full queue (live) or a closed exporter drops it.
   * @returns whether the record was queued
   */
  push(r: ExportRecord): boolean {
    if (this.closing) return this.drop('closed', 1), false;
    if (!this.o.offline && this.queued >= this.o.maxQueue) return this.drop('queue_full', 1), false;
    if (this.dropping) {
      this.o.onEvent?.({ type: 'recovered', collector: this.collector, dropped: this.dropping.count });
      this.dropping = null;
    }
    this.queue.push(r);
    if (this.o.offline && this.queued * 64 >= this.max) this.flush();
    else this.schedule();
    return true;
  }

  /** Sets or adds entries of the application table (sent with the Templates; added ones at the next flush). */
  announce(apps: readonly AppEntry[]): void {
    for (const a of apps) {
      const old = this.apps.get(a.selector);
      if (old && old.name === a.name && old.description === a.description) continue;
      this.apps.set(a.selector, { ...a });
      this.appsDirty = true;
    }
  }

  /** The application table's name for `selector`, if it has one. */
  nameOf(selector: number): string | undefined {
    return this.apps.get(selector)?.name;
  }

  /** Packs queued records into Messages as far as the transport takes them; never blocks. */
  flush(): void {
    this.flushScheduled = false;
    const t = this.transport;
    if (!t.ready) return;
    const nowMs = this.now();
    if (this.o.transport === 'udp' && nowMs - this.lastTemplatesMs >= this.o.templateRefreshSec * 1000) this.needTemplates = true;
    if ((this.needTemplates || this.appsDirty) && t.writable) this.sendTemplates(nowMs);
    while (this.queued > 0 && t.writable && !this.needTemplates) {
      const b = new MessageBuilder(this.max);
      let i = this.head;
      for (; i < this.queue.length; i++) {
        let rec: { templateId: number; bytes: Uint8Array };
        try {
          rec = flowDataRecord(this.queue[i]);
        } catch {
          this.drop('encode', 1);
          continue;
        }
        if (!b.add({ setId: rec.templateId, bytes: rec.bytes, data: true })) break;
      }
      this.head = i;
      if (b.empty) continue;
      const m = b.build({ exportTime: nowMs / 1000, domain: this.o.domain, sequence: this.seq });
      t.send(m);
      this.sent(m, m.records);
      this.seq = (this.seq + m.records) >>> 0;
    }
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
  }

  /**
   * Flushes what is queued, waits (at most `deadlineMs`) for the transport to take and write it,
   * then closes the transport. Records still queued then are dropped (ipfix_dropped_closed).
   * Idempotent. Never rejects.
   */
  close(deadlineMs = 5000): Promise<void> {
    if (this.closing) return this.closing;
    this.closing = (async () => {
      const end = Date.now() + deadlineMs; // a real deadline, whatever the export clock
      const left = (): number => end - Date.now();
      while ((this.queued > 0 || this.appsDirty || (this.needTemplates && this.transport.ready)) && left() > 0) {
        this.flush();
        if (this.queued === 0 && !this.appsDirty && !this.needTemplates) break;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(() => resolve(), Math.max(1, Math.min(100, left())));
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wake = null;
      }
      if (this.queued > 0) this.drop('closed', this.queued);
      this.head = this.queue.length;
      await this.transport.close(Math.max(0, left()));
    })();
    return this.closing;
  }

  private sendTemplates(nowMs: number): void {
    const apps = [...this.apps.values()].sort((a, b) => a.selector - b.selector);
    const table = appTableRecords(apps, this.o.domain);
    const items: Item[] = [];
    if (this.needTemplates) {
      items.push({ setId: SET_TEMPLATE, bytes: templateRecord(TEMPLATES.flowV4), data: false });
      items.push({ setId: SET_TEMPLATE, bytes: templateRecord(TEMPLATES.flowV6), data: false });
      items.push({ setId: SET_OPTIONS_TEMPLATE, bytes: templateRecord(TEMPLATES.apps), data: false, alone: true });
      items.push({ setId: SET_OPTIONS_TEMPLATE, bytes: templateRecord(TEMPLATES.appsFixed), data: false, alone: true });
    }
    for (const b of table.apps) items.push({ setId: TEMPLATE_ID.apps, bytes: b, data: true });
    // One record per Set: nfdump 1.7.1 steps through NBAR options records without their scope octets.
    for (const b of table.appsFixed) items.push({ setId: TEMPLATE_ID.appsFixed, bytes: b, data: true, alone: true });
    const { messages } = packMessages(items, this.max, { exportTime: nowMs / 1000, domain: this.o.domain, seq: this.seq });
    for (const m of messages) {
      if (!this.transport.send(m)) return; // sent again, whole, at the next flush
      this.sent(m, 0);
      this.seq = (this.seq + m.records) >>> 0;
    }
    if (this.needTemplates) this.counters.inc('ipfix_template_sends');
    this.needTemplates = false;
    this.appsDirty = false;
    this.lastTemplatesMs = nowMs;
  }

  private sent(m: Outgoing, flowRecords: number): void {
    this.counters.inc('ipfix_messages');
    this.counters.inc('ipfix_octets', m.bytes.length);
    if (flowRecords) this.counters.inc('ipfix_records', flowRecords);
  }

  private drop(reason: DropReason, n: number): void {
    this.counters.inc('ipfix_dropped', n);
    this.counters.inc(`ipfix_dropped_${reason}`, n);
    if (!this.dropping) {
      this.dropping = { reason, count: 0 };
      this.o.onEvent?.({ type: 'dropping', collector: this.collector, reason });
    }
    this.dropping.count += n;
  }

  private schedule(): void {
    if (this.flushScheduled || this.closing) return;
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }
}
