/**
 * Endpoint knowledge (issue 12): a bounded LRU of peer endpoints `(ip, port, l4) → app, expiry,
 * source`, filled from what classified traffic reveals (DHT replies, tracker replies, PEX, LSD,
 * announced listen ports, the endpoints of classified flows) and looked up when a connection
 * starts, so a connection to or from a known peer is classified at its first packet (the SYN).
 *
 * Application-agnostic: the value is an application name and a source name (`flow`, `dht`,
 * `tracker`, `udp-tracker`, `pex`, `lsd`, `listen-port`, later eDonkey's). Keys are never built as
 * strings: an outer Map by address text (as src/decode/addr.ts writes it) holds an inner Map by
 * `port * 2 + (udp ? 1 : 0)`; recency is a doubly linked list through the entries (head = least
 * recently used). Learning or hitting an entry makes it the most recently used.
 *
 * Counted events (core Counters): `endpoint_learned_<source>` per learned (new or refreshed)
 * endpoint, `endpoint_hits` per lookup that found a live entry, `endpoint_evicted` when the size
 * cap pushes out the least recently used entry, `endpoint_expired` when a lookup finds an entry
 * past its ttl (expired entries are removed lazily, on lookup or eviction).
 */
import type { Counters } from '../core/counters.js';
import type { L4 } from '../core/types.js';

/** One learned endpoint. */
export interface EndpointEntry {
  readonly ip: string;
  readonly port: number;
  readonly l4: L4;
  /** Application name (`bittorrent`, ...). */
  app: string;
  /** Where it was learned (`dht`, `tracker`, `flow`, ...). */
  source: string;
  /** Expiry time, seconds (same clock as the packets' timestamps). */
  expires: number;
  /** A secret of the peer that keys its obfuscated handshakes (eD2k user hash, 16 bytes), if learned. */
  key: Uint8Array | null;
  /** @internal recency list links */
  prev: EndpointEntry | null;
  /** @internal */
  next: EndpointEntry | null;
}

/** Table options (config `endpoints:`; defaults in DEFAULTS.endpoints). */
export interface EndpointOptions {
  /** Most entries kept; 0 = the table is off (nothing learned, nothing found). */
  size: number;
  /** Lifetime of a learned entry, seconds (refreshed when learned again). */
  ttlSec: number;
  /** Sources that may fill the table; a hint from any other source is ignored. */
  sources: readonly string[];
}

/** What `p2pgw status` shows of the table. */
export interface EndpointStats {
  size: number;
  capacity: number;
  hits: number;
  evicted: number;
  expired: number;
  /** Endpoints learned (new or refreshed) per source. */
  learned: Record<string, number>;
  /** Lookup hits per source of the entry found. */
  hits_by_source: Record<string, number>;
}

const slot = (port: number, l4: L4): number => port * 2 + (l4 === 'udp' ? 1 : 0);

/** keysFor's answer for an address without keys (shared: asked once per new TCP flow). */
const NO_KEYS: readonly Uint8Array[] = Object.freeze([]);

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export class EndpointTable {
  private readonly byIp = new Map<string, Map<number, EndpointEntry>>();
  private head: EndpointEntry | null = null;
  private tail: EndpointEntry | null = null;
  private count = 0;
  private opts: EndpointOptions;
  private allowed: Set<string>;
  private hits = 0;
  private evicted = 0;
  private expired = 0;
  private readonly learnedBy = new Map<string, number>();
  private readonly hitsBy = new Map<string, number>();

  constructor(opts: EndpointOptions, private readonly counters?: Counters) {
    this.opts = { ...opts };
    this.allowed = new Set(opts.sources);
  }

  /** Entries held (expired ones included until a lookup or eviction removes them). */
  get size(): number {
    return this.count;
  }

  /** Most entries kept (0 = the table is off). */
  get capacity(): number {
    return this.opts.size;
  }

  /** Whether learning from `source` is enabled (and the table is on). */
  accepts(source: string): boolean {
    return this.opts.size > 0 && this.allowed.has(source);
  }

  /**
   * Applies new options (config reload): a smaller size evicts least recently used entries at once
   * (each counted as `endpoint_evicted`); a new ttl applies to entries learned from now on.
   */
  configure(opts: EndpointOptions): void {
    this.opts = { ...opts };
    this.allowed = new Set(opts.sources);
    while (this.count > opts.size) this.evictOldest();
  }

  /**
   * Learns (or refreshes) endpoint `(ip, port, l4)` of application `app`, found by `source`, at
   * time `now` (seconds): it expires at now + ttl and becomes the most recently used entry. A
   * source not enabled, a port outside 1..65535 or an empty address is ignored (returns false).
   * `secret` (optional, at most 64 bytes kept) is the peer's handshake key material; a later learn without
   * one keeps the known key.
   */
  learn(ip: string, port: number, l4: L4, app: string, source: string, now: number, secret?: Uint8Array): boolean {
    if (!this.put(ip, port, l4, app, source, now, secret)) return false;
    this.learnedBy.set(source, (this.learnedBy.get(source) ?? 0) + 1);
    this.counters?.inc(`endpoint_learned_${source}`);
    return true;
  }

  /**
   * Takes an endpoint another queue worker learned (src/runtime/endpoint-share.ts): as `learn`,
   * with the same checks, but not counted as learned here (the learning worker counted it).
   */
  adopt(ip: string, port: number, l4: L4, app: string, source: string, now: number, secret?: Uint8Array): boolean {
    return this.put(ip, port, l4, app, source, now, secret);
  }

  private put(ip: string, port: number, l4: L4, app: string, source: string, now: number, secret?: Uint8Array): boolean {
    if (!this.accepts(source) || !(port >= 1 && port <= 65535) || ip.length === 0) return false;
    const key = slot(port, l4);
    let inner = this.byIp.get(ip);
    let e = inner?.get(key);
    if (e) {
      this.unlink(e);
    } else {
      if (this.count >= this.opts.size) this.evictOldest();
      e = { ip, port, l4, app, source, expires: 0, key: null, prev: null, next: null };
      if (!inner) this.byIp.set(ip, (inner = new Map()));
      inner.set(key, e);
      this.count++;
    }
    e.app = app;
    e.source = source;
    e.expires = now + this.opts.ttlSec;
    if (secret && secret.length <= 64) e.key = secret.slice();
    this.pushBack(e);
    return true;
  }

  /**
   * The live entry of `(ip, port, l4)` at time `now` (seconds), made most recently used; null when
   * unknown or expired (an expired entry is removed and counted as `endpoint_expired`).
   */
  lookup(ip: string, port: number, l4: L4, now: number): EndpointEntry | null {
    if (this.count === 0) return null;
    const e = this.byIp.get(ip)?.get(slot(port, l4));
    if (!e) return null;
    if (now >= e.expires) {
      this.remove(e);
      this.expired++;
      this.counters?.inc('endpoint_expired');
      return null;
    }
    this.unlink(e);
    this.pushBack(e);
    this.hits++;
    this.hitsBy.set(e.source, (this.hitsBy.get(e.source) ?? 0) + 1);
    this.counters?.inc('endpoint_hits');
    return e;
  }

  /** True when `ip`:`port`/`l4` has a live entry at `now` (seconds); unlike lookup, counts and moves nothing. */
  has(ip: string, port: number, l4: L4, now: number): boolean {
    if (this.count === 0) return false;
    const e = this.byIp.get(ip)?.get(slot(port, l4));
    return !!e && now < e.expires;
  }

  /**
   * The keys of the live entries of address `ip` (any port and transport) at time `now` (seconds),
   * without changing recency; at most 8, distinct. Empty when none.
   */
  keysFor(ip: string, now: number): readonly Uint8Array[] {
    const inner = this.count === 0 ? undefined : this.byIp.get(ip);
    if (!inner) return NO_KEYS;
    const keys: Uint8Array[] = [];
    for (const e of inner.values()) {
      if (!e.key || now >= e.expires || keys.some((k) => sameBytes(k, e.key!))) continue;
      keys.push(e.key);
      if (keys.length === 8) break;
    }
    return keys;
  }

  /** Entries from least to most recently used (tests, debugging). */
  *entries(): IterableIterator<EndpointEntry> {
    for (let e = this.head; e; e = e.next) yield e;
  }

  /** Size, capacity, hits and per-source learned/hit counts (`p2pgw status`). */
  stats(): EndpointStats {
    const obj = (m: Map<string, number>) => Object.fromEntries([...m].sort(([a], [b]) => a.localeCompare(b)));
    return {
      size: this.count, capacity: this.opts.size, hits: this.hits, evicted: this.evicted, expired: this.expired,
      learned: obj(this.learnedBy), hits_by_source: obj(this.hitsBy),
    };
  }

  private evictOldest(): void {
    const e = this.head;
    if (!e) return;
    this.remove(e);
    this.evicted++;
    this.counters?.inc('endpoint_evicted');
  }

  private remove(e: EndpointEntry): void {
    this.unlink(e);
    const inner = this.byIp.get(e.ip);
    if (inner) {
      inner.delete(slot(e.port, e.l4));
      if (inner.size === 0) this.byIp.delete(e.ip);
    }
    this.count--;
  }

  private unlink(e: EndpointEntry): void {
    if (e.prev) e.prev.next = e.next;
    else if (this.head === e) this.head = e.next;
    if (e.next) e.next.prev = e.prev;
    else if (this.tail === e) this.tail = e.prev;
    e.prev = e.next = null;
  }

  private pushBack(e: EndpointEntry): void {
    e.prev = this.tail;
    e.next = null;
    if (this.tail) this.tail.next = e;
    else this.head = e;
    this.tail = e;
  }
}
