/**
 * A tiny fake of the classifier for dissector unit tests: it accumulates each direction's stream
 * prefix (TCP, capped like classify.bytes) or keeps the first datagram per direction (UDP), finds
 * signature hits by naively scanning for the bundled rules' patterns (anchors, l4, dir and nocase
 * honoured) and builds the SearchContext a dissector sees.
 */
import type { AppDescriptor, Dir, SearchContext, SearchResult, SignatureHit } from '../../src/apps/types.js';
import { NEED_MORE } from '../../src/apps/types.js';
import { loadRules, type SigRule } from '../../src/apps/rules.js';
import type { L4 } from '../../src/decode/types.js';
import type { Flight } from '../../src/core/types.js';

let cached: SigRule[] | null = null;
/** The bundled rules' signatures (loaded once). */
export function bundledSigs(): SigRule[] {
  cached ??= loadRules().sigs;
  return cached;
}

/** Bytes from a latin-1 string, or a copy of bytes. */
export function b(x: string | Uint8Array | number[]): Uint8Array {
  if (typeof x === 'string') return Uint8Array.from(x, (c) => c.charCodeAt(0) & 0xff);
  return Uint8Array.from(x);
}

/** Bytes from hex (spaces allowed). */
export function hx(s: string): Uint8Array {
  const t = s.replace(/\s+/g, '');
  const out = new Uint8Array(t.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(t.slice(2 * i, 2 * i + 2), 16);
  return out;
}

const lower = (c: number): number => (c >= 0x41 && c <= 0x5a ? c + 32 : c);

function matchAt(buf: Uint8Array, off: number, s: SigRule): boolean {
  if (off + s.bytes.length > buf.length) return false;
  for (let i = 0; i < s.bytes.length; i++) {
    const x = buf[off + i];
    const y = s.bytes[i];
    if (s.nocase ? lower(x) !== lower(y) : x !== y) return false;
  }
  return true;
}

export interface FakeOptions {
  /** Prefix cap per direction (classify.bytes). */
  maxBytes?: number;
  sigs?: SigRule[];
  initiatorPort?: number;
  responderPort?: number;
  /** Secrets known for the responder (SearchContext.peerKeys). */
  peerKeys?: readonly Uint8Array[];
}

/** One flow being fed packets; `ctx` is the context for the packet just sent. */
export class FakeFlow {
  readonly streams: [Uint8Array, Uint8Array] = [new Uint8Array(0), new Uint8Array(0)];
  readonly packets: [number, number] = [0, 0];
  readonly hits: SignatureHit[] = [];
  /** TCP flights as the classifier keeps them (at most 8). */
  readonly flights: Flight[] = [];
  private readonly seen = new Set<string>();
  private readonly sigs: SigRule[];
  private readonly maxBytes: number;
  constructor(readonly l4: L4, private readonly opts: FakeOptions = {}) {
    this.sigs = (opts.sigs ?? bundledSigs()).filter((s) => s.l4 === 'any' || s.l4 === l4);
    this.maxBytes = opts.maxBytes ?? 2048;
  }

  private scan(buf: Uint8Array, dir: Dir, pkt: number, key: string): void {
    for (const s of this.sigs) {
      if (s.dir !== null && s.dir !== dir) continue;
      const positions = s.anchor !== null ? [s.anchor] : Array.from({ length: buf.length }, (_, i) => i);
      for (const off of positions) {
        if (!matchAt(buf, off, s)) continue;
        const k = `${key}/${s.id}/${dir}/${off}`;
        if (this.seen.has(k)) continue;
        this.seen.add(k);
        this.hits.push({ app: s.app, sig: s.sig, id: s.id, dir, offset: off, pkt });
      }
    }
  }

  /** Feeds one packet and returns the context a dissector would get for it. */
  send(dir: Dir, data: Uint8Array | string): SearchContext {
    const bytes = typeof data === 'string' ? b(data) : data;
    this.packets[dir]++;
    let payload: Uint8Array;
    if (this.l4 === 'tcp') {
      const old = this.streams[dir];
      const room = Math.max(0, this.maxBytes - old.length);
      payload = bytes.subarray(0, room);
      const next = new Uint8Array(old.length + payload.length);
      next.set(old);
      next.set(payload, old.length);
      this.streams[dir] = next;
      const last = this.flights[this.flights.length - 1];
      if (payload.length && last && last.dir === dir) last.bytes += payload.length;
      else if (payload.length && this.flights.length < 8) this.flights.push({ dir, bytes: payload.length });
      this.scan(next, dir, this.packets[dir], 'tcp');
    } else {
      payload = bytes;
      if (this.streams[dir].length === 0) this.streams[dir] = bytes;
      this.scan(bytes, dir, this.packets[dir], `udp${dir}:${this.packets[dir]}`);
    }
    const hits = this.hits.slice();
    const prefix: [Uint8Array, Uint8Array] = [this.streams[0], this.streams[1]];
    const packets: [number, number] = [this.packets[0], this.packets[1]];
    return {
      l4: this.l4,
      dir,
      payload,
      prefix,
      flights: this.flights.map((f) => ({ ...f })),
      packets,
      initiatorPort: this.opts.initiatorPort ?? 40000,
      responderPort: this.opts.responderPort ?? 40001,
      hits,
      hit: (sig: string) => hits.find((h) => h.sig === sig),
      peerKeys: this.opts.peerKeys ?? [],
    };
  }
}

/** A packet for `run`: direction and bytes. */
export type Pkt = readonly [Dir, Uint8Array | string];

/**
 * Feeds `pkts` through `app` like the classifier does and returns one result per packet, stopping
 * after the first `detected` or `excluded`.
 */
export function run(app: AppDescriptor, l4: L4, pkts: readonly Pkt[], opts?: FakeOptions): SearchResult[] {
  const flow = new FakeFlow(l4, opts);
  const out: SearchResult[] = [];
  for (const [dir, data] of pkts) {
    const ctx = flow.send(dir, data);
    const scoped: SearchContext = { ...ctx, hit: (sig: string) => ctx.hits.find((h) => h.app === app.name && h.sig === sig) };
    const r = app.search(scoped);
    out.push(r);
    if (r !== NEED_MORE) break;
  }
  return out;
}

/** Final result of `run`. */
export function verdict(app: AppDescriptor, l4: L4, pkts: readonly Pkt[], opts?: FakeOptions): SearchResult {
  const r = run(app, l4, pkts, opts);
  return r[r.length - 1];
}

/** Splits `data` into one-byte packets in direction `dir`. */
export function bytewise(dir: Dir, data: Uint8Array | string): Pkt[] {
  const bytes = typeof data === 'string' ? b(data) : data;
  return Array.from(bytes, (x) => [dir, Uint8Array.of(x)] as const);
}
