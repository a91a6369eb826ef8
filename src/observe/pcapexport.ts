/**
 * Labelled capture export (`--export-pcap DIR`): the packets of classified flows, one capture file
 * per application (`<dir>/<app>.pcap`), so every trace comes labelled by the classifier.
 *
 * File format: classic pcap (pcap-savefile(5); draft-ietf-opsawg-pcap): a 24-byte header
 * (magic 0xa1b2c3d4 little-endian = microsecond timestamps, version 2.4, thiszone 0, sigfigs 0,
 * snaplen, network = LINKTYPE_RAW 101), then per packet a 16-byte record header (ts_sec, ts_usec,
 * incl_len, orig_len) and the packet from its IP header on. LINKTYPE_RAW (tcpdump.org/linktypes.html)
 * carries IPv4 and IPv6 in one file: the version nibble of each packet tells which.
 *
 * Packets of a flow are held in memory until the flow is classified (bounded per flow and in
 * total; overflow is counted, never grows memory), then written in order, and later packets are
 * written at once. A flow given up on (`classified(key, null)`) loses its buffered packets. In live
 * mode only the first packets of a connection reach user space (the kernel stops queueing once the
 * connection is marked), so the live export holds those; replay exports every packet.
 *
 * Bounds: each file at most `maxFileBytes`, all files of ours at most `maxTotalBytes` (counting
 * files found at start). A packet that would pass a bound is dropped and counted; whole records
 * only. Records are batched (`flushBytes`) and written with one write(2) each batch; a short or
 * failed write is cut back with ftruncate(2), so the file always ends on a record boundary.
 * An existing `<app>.pcap` with our header (same magic and link type, snaplen >= ours) is appended
 * to; one with another header is left alone
 * and that application is not exported (counted).
 *
 * Counters: pcap_export_packets, pcap_export_bytes, pcap_export_flow_buffer_full,
 * pcap_export_buffer_full, pcap_export_unclassified_dropped, pcap_export_file_cap,
 * pcap_export_total_cap, pcap_export_write_error, pcap_export_bad_existing_file,
 * pcap_export_flows_evicted, pcap_export_truncated (packets longer than snaplen).
 */
import fs from 'node:fs';
import path from 'node:path';
import { LINKTYPE_RAW } from '../capture/linktype.js';
import { DEFAULTS } from '../core/defaults.js';
import { P2pgwError } from '../core/errors.js';
import type { Counters } from '../core/counters.js';

export interface PcapExportOptions {
  /** Output directory; created (mode 0700) if missing. */
  dir: string;
  /** Largest size of one application's file, bytes, header included (>= 1024). */
  maxFileBytes: number;
  /** Largest total size of all `*.pcap` files of ours in `dir`, bytes (>= maxFileBytes). */
  maxTotalBytes: number;
  /** Packets held per unclassified flow (default DEFAULTS.exportPcap.bufferPacketsPerFlow, 64). */
  maxBufferedPacketsPerFlow?: number;
  /** Bytes held over all unclassified flows (default DEFAULTS.exportPcap.bufferBytes, 8 MiB). */
  maxBufferedBytes?: number;
  /** Flows tracked at once; the oldest is forgotten beyond this (default 262144). */
  maxFlows?: number;
  /** Bytes kept of each packet (default 65535). */
  snaplen?: number;
  /** Pending bytes per file that trigger a write (default 64 KiB). */
  flushBytes?: number;
}

/** Size of the pcap file header and of a record header, bytes. */
export const PCAP_FILE_HEADER_LEN = 24;
export const PCAP_RECORD_HEADER_LEN = 16;
const PCAP_MAGIC_US = 0xa1b2c3d4;

/** The 24-byte pcap file header (little-endian, microseconds, LINKTYPE_RAW). */
export function pcapFileHeader(snaplen: number, linktype = LINKTYPE_RAW): Buffer {
  const h = Buffer.alloc(PCAP_FILE_HEADER_LEN);
  h.writeUInt32LE(PCAP_MAGIC_US, 0);
  h.writeUInt16LE(2, 4);
  h.writeUInt16LE(4, 6);
  h.writeInt32LE(0, 8); // thiszone
  h.writeUInt32LE(0, 12); // sigfigs
  h.writeUInt32LE(snaplen, 16);
  h.writeUInt32LE(linktype, 20);
  return h;
}

/** One record: header + the first `snaplen` bytes of `pkt`; `ts` in seconds since the epoch. */
export function pcapRecord(pkt: Uint8Array, ts: number, snaplen: number): Buffer {
  const incl = Math.min(pkt.length, snaplen);
  const r = Buffer.alloc(PCAP_RECORD_HEADER_LEN + incl);
  let sec = Math.floor(ts);
  let usec = Math.round((ts - sec) * 1e6);
  if (usec >= 1e6) {
    sec += 1;
    usec -= 1e6;
  }
  r.writeUInt32LE(sec >>> 0, 0);
  r.writeUInt32LE(usec, 4);
  r.writeUInt32LE(incl, 8);
  r.writeUInt32LE(pkt.length, 12);
  r.set(pkt.subarray(0, incl), PCAP_RECORD_HEADER_LEN);
  return r;
}

/**
 * `pkt` cut to the length its IP header states (IPv4 total length, IPv6 40 + payload length), so
 * link-layer padding of replayed Ethernet frames (60-byte minimum) is not exported as packet bytes.
 * Unchanged when the header is short, names no length (IPv6 jumbogram) or claims more than there is.
 */
export function trimToIpLength(pkt: Uint8Array): Uint8Array {
  const v = pkt.length > 0 ? pkt[0] >> 4 : 0;
  let len = 0;
  if (v === 4 && pkt.length >= 20) len = (pkt[2] << 8) | pkt[3];
  else if (v === 6 && pkt.length >= 40) len = ((pkt[4] << 8) | pkt[5]) > 0 ? 40 + ((pkt[4] << 8) | pkt[5]) : 0;
  return len >= 20 && len < pkt.length ? pkt.subarray(0, len) : pkt;
}

/** File name of an application's capture: lowercase `[a-z0-9_.-]`, e.g. `bittorrent.pcap`. */
export function pcapFileName(app: string): string {
  const safe = app.toLowerCase().replace(/[^a-z0-9_.-]/g, '_').replace(/^\.+/, '_');
  return `${safe || '_'}.pcap`;
}

interface FlowState {
  /** undefined: not classified yet; string: export to that app; null: not exported. */
  app: string | null | undefined;
  pkts: Uint8Array[];
  ts: number[];
  bytes: number;
}

interface Writer {
  file: string;
  fd: number | null;
  /** Bytes on disk. */
  size: number;
  pending: Buffer[];
  pendingBytes: number;
  /** Set when the file cannot be used (bad existing header, open failed). */
  disabled: boolean;
}

export class PcapExporter {
  private readonly flows = new Map<string, FlowState>();
  private readonly writers = new Map<string, Writer>();
  private buffered = 0;
  /** Bytes of our files on disk plus pending (the total cap applies to this). */
  private total = 0;
  private readonly snaplen: number;
  private closed = false;

  /**
   * Creates `dir` and counts the `*.pcap` files already in it toward the total cap.
   * @throws P2pgwError(P2PGW_ERR_CONFIG) on invalid sizes or an unusable directory
   */
  constructor(
    private readonly opts: PcapExportOptions,
    private readonly counters?: Counters,
  ) {
    const bad = (m: string): never => {
      throw new P2pgwError('P2PGW_ERR_CONFIG', `pcap export: ${m}`);
    };
    if (!Number.isSafeInteger(opts.maxFileBytes) || opts.maxFileBytes < 1024) bad(`max file bytes must be an integer >= 1024 (got ${opts.maxFileBytes})`);
    if (!Number.isSafeInteger(opts.maxTotalBytes) || opts.maxTotalBytes < opts.maxFileBytes) bad(`max total bytes must be >= max file bytes (got ${opts.maxTotalBytes})`);
    this.snaplen = opts.snaplen ?? 65535;
    if (!Number.isInteger(this.snaplen) || this.snaplen < 64 || this.snaplen > 262144) bad(`snaplen must be 64..262144 (got ${this.snaplen})`);
    try {
      fs.mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
      for (const name of fs.readdirSync(opts.dir)) {
        if (!/^[a-z0-9_][a-z0-9_.-]*\.pcap$/.test(name)) continue;
        const st = fs.statSync(path.join(opts.dir, name), { throwIfNoEntry: false });
        if (st?.isFile()) this.total += st.size;
      }
    } catch (err) {
      throw new P2pgwError('P2PGW_ERR_CONFIG', `pcap export directory ${opts.dir}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Bytes held for unclassified flows. */
  get bufferedBytes(): number {
    return this.buffered;
  }

  /** Bytes of our capture files (on disk and pending). */
  get totalBytes(): number {
    return this.total;
  }

  /**
   * One packet of flow `flowKey` (from the IP header on, copied when kept, cut to the IP length; `ts`
   * in seconds since the epoch). Call it for
   * every packet of the flow, in order, before or after `classified` for that packet: the order
   * of the file follows the order of the calls. Never throws.
   */
  packet(flowKey: string, packet: Uint8Array, ts: number): void {
    if (this.closed) return;
    const ip = trimToIpLength(packet);
    let st = this.flows.get(flowKey);
    if (!st) {
      st = { app: undefined, pkts: [], ts: [], bytes: 0 };
      this.flows.set(flowKey, st);
      if (this.flows.size > (this.opts.maxFlows ?? 262144)) this.evictOldest();
    }
    if (st.app === null) return;
    if (st.app !== undefined) {
      this.append(st.app, ip, ts);
      return;
    }
    if (st.pkts.length >= (this.opts.maxBufferedPacketsPerFlow ?? DEFAULTS.exportPcap.bufferPacketsPerFlow)) {
      this.counters?.inc('pcap_export_flow_buffer_full');
      return;
    }
    const keep = Math.min(ip.length, this.snaplen);
    if (this.buffered + keep > (this.opts.maxBufferedBytes ?? DEFAULTS.exportPcap.bufferBytes)) {
      this.counters?.inc('pcap_export_buffer_full');
      return;
    }
    // A copy: NFQUEUE payloads and capture views are reused/freed after the callback.
    const copy = new Uint8Array(ip.length);
    copy.set(ip);
    st.pkts.push(copy);
    st.ts.push(ts);
    st.bytes += keep;
    this.buffered += keep;
  }

  /**
   * The flow got its application (`app`), or was given up on (null: its buffered packets are
   * dropped and later ones ignored). Buffered packets are written to `<dir>/<app>.pcap` now.
   */
  classified(flowKey: string, app: string | null): void {
    if (this.closed) return;
    let st = this.flows.get(flowKey);
    if (!st) {
      st = { app: undefined, pkts: [], ts: [], bytes: 0 };
      this.flows.set(flowKey, st);
    }
    if (st.app !== undefined) return;
    st.app = app;
    if (app === null) {
      if (st.pkts.length) this.counters?.inc('pcap_export_unclassified_dropped', st.pkts.length);
    } else {
      for (let i = 0; i < st.pkts.length; i++) this.append(app, st.pkts[i], st.ts[i]);
    }
    this.release(st);
  }

  /** The flow ended: forget it (buffered packets of a flow never classified are dropped, counted). */
  flowEnded(flowKey: string): void {
    const st = this.flows.get(flowKey);
    if (!st) return;
    if (st.app === undefined && st.pkts.length) this.counters?.inc('pcap_export_unclassified_dropped', st.pkts.length);
    this.release(st);
    this.flows.delete(flowKey);
  }

  /** Writes every pending record (call it periodically in live mode, e.g. once a second). */
  flush(): void {
    for (const w of this.writers.values()) this.flushWriter(w);
  }

  /** Flushes and closes every file; buffered packets of unclassified flows are dropped. Idempotent. */
  close(): void {
    if (this.closed) return;
    for (const key of [...this.flows.keys()]) this.flowEnded(key);
    this.flush();
    for (const w of this.writers.values()) {
      if (w.fd !== null) {
        try {
          fs.closeSync(w.fd);
        } catch {
          /* nothing left to do */
        }
      }
      w.fd = null;
    }
    this.closed = true;
  }

  private release(st: FlowState): void {
    this.buffered -= st.bytes;
    st.pkts = [];
    st.ts = [];
    st.bytes = 0;
  }

  private evictOldest(): void {
    const oldest = this.flows.keys().next().value;
    if (oldest === undefined) return;
    this.counters?.inc('pcap_export_flows_evicted');
    this.flowEnded(oldest);
  }

  /** Queues one record for `app`'s file, checking both caps first. */
  private append(app: string, ip: Uint8Array, ts: number): void {
    const w = this.writer(app);
    if (w.disabled) return;
    const incl = Math.min(ip.length, this.snaplen);
    const needsHeader = w.size === 0 && w.pendingBytes === 0;
    const len = PCAP_RECORD_HEADER_LEN + incl + (needsHeader ? PCAP_FILE_HEADER_LEN : 0);
    if (w.size + w.pendingBytes + len > this.opts.maxFileBytes) {
      this.counters?.inc('pcap_export_file_cap');
      return;
    }
    if (this.total + len > this.opts.maxTotalBytes) {
      this.counters?.inc('pcap_export_total_cap');
      return;
    }
    if (needsHeader) w.pending.push(pcapFileHeader(this.snaplen));
    if (ip.length > this.snaplen) this.counters?.inc('pcap_export_truncated');
    const rec = pcapRecord(ip, ts, this.snaplen);
    w.pending.push(rec);
    w.pendingBytes += len;
    this.total += len;
    this.counters?.inc('pcap_export_packets');
    this.counters?.inc('pcap_export_bytes', len);
    if (w.pendingBytes >= (this.opts.flushBytes ?? 64 * 1024)) this.flushWriter(w);
  }

  /** The writer of `app`, opening (or validating an existing) file on first use. */
  private writer(app: string): Writer {
    const name = pcapFileName(app);
    let w = this.writers.get(name);
    if (w) return w;
    const file = path.join(this.opts.dir, name);
    w = { file, fd: null, size: 0, pending: [], pendingBytes: 0, disabled: false };
    this.writers.set(name, w);
    try {
      const st = fs.statSync(file, { throwIfNoEntry: false });
      if (st && st.size > 0) {
        const head = Buffer.alloc(PCAP_FILE_HEADER_LEN);
        const fd = fs.openSync(file, 'r');
        const n = fs.readSync(fd, head, 0, head.length, 0);
        fs.closeSync(fd);
        const ours = n === head.length && head.readUInt32LE(0) === PCAP_MAGIC_US && head.readUInt16LE(4) === 2 && head.readUInt32LE(20) === LINKTYPE_RAW && head.readUInt32LE(16) >= this.snaplen;
        if (!ours) {
          this.counters?.inc('pcap_export_bad_existing_file');
          w.disabled = true;
          return w;
        }
        w.size = st.size; // already counted in `total` by the constructor
      }
    } catch {
      this.counters?.inc('pcap_export_write_error');
      w.disabled = true;
    }
    return w;
  }

  private flushWriter(w: Writer): void {
    if (w.pendingBytes === 0 || w.disabled) return;
    const buf = Buffer.concat(w.pending);
    w.pending = [];
    w.pendingBytes = 0;
    let n = 0;
    try {
      if (w.fd === null) w.fd = fs.openSync(w.file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_APPEND, 0o600);
      n = fs.writeSync(w.fd, buf);
    } catch {
      /* counted below */
    }
    if (n === buf.length) {
      w.size += n;
      return;
    }
    this.counters?.inc('pcap_export_write_error');
    this.total -= buf.length;
    if (w.fd !== null) {
      try {
        fs.ftruncateSync(w.fd, w.size);
      } catch {
        w.disabled = true; // cannot restore a record boundary: stop writing this file
      }
    }
  }
}
