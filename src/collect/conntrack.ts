/**
 * The original destination of a DNATed connection, from the kernel's connection tracking.
 *
 * A socket that accepted a DNATed connection sees only the rewritten destination (our listener).
 * C programs ask the kernel with getsockopt(SO_ORIGINAL_DST) (linux/netfilter_ipv4.h; IPv6:
 * IP6T_SO_ORIGINAL_DST); Node has no binding for it, so we read the conntrack table instead, as
 * conntrack(8) lists it: every entry has the original tuple (what the sender sent: src, dst, sport,
 * dport) and the reply tuple (what the reply will carry). After DNAT to our listener the reply
 * tuple is `src=<listener addr> sport=<listener port> dst=<peer addr> dport=<peer port>`, and the
 * peer address/port are what our socket sees as its remote end (also when NAT had to remap the
 * source port on a clash), so the reply tuple is the key and the original tuple the answer.
 *
 * Two sources, same line format (key=value pairs, original tuple first):
 * - `conntrack -L -f ipv4 -p tcp|udp --reply-src <listener addr> --reply-port-src <listener port>`
 *   (conntrack-tools; one listing answers a whole batch of lookups), or
 * - /proc/net/nf_conntrack (kernels with CONFIG_NF_CONNTRACK_PROCFS; lines prefixed `ipv4 2`).
 *
 * Lookups are batched per protocol and retried a few times (an entry may be listed a moment after
 * the socket sees the connection); one never found resolves to null and is counted
 * (`sink_orig_dst_unknown`). A failing listing is counted (`sink_conntrack_error`).
 */
import { readFile } from 'node:fs/promises';
import { accessSync, constants as fsConstants } from 'node:fs';
import { P2pgwError } from '../core/errors.js';
import { run, which } from '../enforce/backend.js';
import type { Counters } from '../core/counters.js';

export type L4 = 'tcp' | 'udp';

/** One direction's addresses and ports. */
export interface Tuple {
  src: string;
  dst: string;
  sport: number;
  dport: number;
}

/** A parsed conntrack entry: protocol, original and reply tuple. */
export interface ConntrackEntry {
  l4: L4;
  orig: Tuple;
  reply: Tuple;
}

/** Where the listeners are (the DNAT target), per protocol. */
export interface ListenerAddr {
  addr: string;
  tcpPort: number;
  udpPort: number;
}

/**
 * Parses one line of `conntrack -L` or /proc/net/nf_conntrack. Null for anything else (headers,
 * the "N flow entries" summary, other protocols, lines missing a tuple field).
 */
export function parseConntrackLine(line: string): ConntrackEntry | null {
  const words = line.trim().split(/\s+/);
  const l4 = words.find((w) => w === 'tcp' || w === 'udp') as L4 | undefined;
  if (!l4) return null;
  const vals: Record<string, string[]> = { src: [], dst: [], sport: [], dport: [] };
  for (const w of words) {
    const eq = w.indexOf('=');
    if (eq < 0) continue;
    const k = w.slice(0, eq);
    if (k in vals) vals[k].push(w.slice(eq + 1));
  }
  if (Object.values(vals).some((v) => v.length < 2)) return null;
  const tuple = (i: number): Tuple => ({ src: vals.src[i], dst: vals.dst[i], sport: Number(vals.sport[i]), dport: Number(vals.dport[i]) });
  const orig = tuple(0);
  const reply = tuple(1);
  if ([orig.sport, orig.dport, reply.sport, reply.dport].some((p) => !Number.isInteger(p))) return null;
  return { l4, orig, reply };
}

/** Every entry of a listing. */
export function parseConntrack(text: string): ConntrackEntry[] {
  const out: ConntrackEntry[] = [];
  for (const line of text.split('\n')) {
    const e = parseConntrackLine(line);
    if (e) out.push(e);
  }
  return out;
}

/** Lists conntrack entries of one protocol as text (lines in the format above). */
export type ConntrackLister = (l4: L4) => Promise<string>;

const PROC_CONNTRACK = '/proc/net/nf_conntrack';

/** Lister running conntrack(8), filtered to entries whose reply comes from our listener. */
export function conntrackToolLister(tool: string, listen: ListenerAddr): ConntrackLister {
  return async (l4) => {
    const port = l4 === 'tcp' ? listen.tcpPort : listen.udpPort;
    const r = await run([tool, '-L', '-f', 'ipv4', '-p', l4, '--reply-src', listen.addr, '--reply-port-src', String(port)], { timeoutMs: 10_000 });
    if (r.code !== 0) throw new P2pgwError('P2PGW_ERR_MISSING_FEATURE', `${r.cmd} failed (exit ${r.code}): ${r.stderr.trim()}`);
    return r.stdout;
  };
}

/** Lister reading /proc/net/nf_conntrack (all entries; the resolver filters). */
export function procLister(file = PROC_CONNTRACK): ConntrackLister {
  return () => readFile(file, 'utf8');
}

/**
 * Picks a lister: conntrack(8) when it runs, else /proc/net/nf_conntrack when readable.
 * @throws P2pgwError(P2PGW_ERR_MISSING_FEATURE) naming both and how to get them
 */
export async function detectLister(listen: ListenerAddr): Promise<{ list: ConntrackLister; how: string }> {
  const tool = which('conntrack');
  let why = 'conntrack(8) not found';
  if (tool) {
    const r = await run([tool, '-L', '-f', 'ipv4', '-p', 'tcp', '--reply-src', listen.addr, '--reply-port-src', String(listen.tcpPort)], { timeoutMs: 10_000 });
    if (r.code === 0) return { list: conntrackToolLister(tool, listen), how: tool };
    why = `${r.cmd} failed: ${r.stderr.trim()}`;
  }
  try {
    accessSync(PROC_CONNTRACK, fsConstants.R_OK);
    return { list: procLister(), how: PROC_CONNTRACK };
  } catch {
    throw new P2pgwError(
      'P2PGW_ERR_MISSING_FEATURE',
      `the sink reads original destination ports from conntrack, but ${why} and ${PROC_CONNTRACK} is not readable; ` +
        'install conntrack-tools (Debian/Ubuntu: `apt-get install conntrack`; OpenWrt: `opkg install conntrack`) ' +
        'or use a kernel with CONFIG_NF_CONNTRACK_PROCFS',
    );
  }
}

interface Pending {
  resolve(t: Tuple | null): void;
  attempts: number;
}

export interface ResolverOptions {
  /** Listings tried per lookup before giving up (default 5). */
  attempts?: number;
  /** Pause between listings for lookups not found yet, ms (default 100). */
  retryMs?: number;
}

/** Batched original-destination lookups (see the file comment). */
export class OrigDstResolver {
  private readonly pending: Record<L4, Map<string, Pending[]>> = { tcp: new Map(), udp: new Map() };
  private readonly timers: Record<L4, NodeJS.Timeout | null> = { tcp: null, udp: null };
  private readonly running: Record<L4, boolean> = { tcp: false, udp: false };

  constructor(
    private readonly list: ConntrackLister,
    private readonly listen: ListenerAddr,
    private readonly opts: ResolverOptions = {},
    private readonly counters?: Counters,
  ) {}

  /**
   * The original tuple of the connection our listener for `l4` has with `peer:port`, i.e. where
   * the peer really sent it (`dst`, `dport`); null when conntrack has no such entry.
   */
  lookup(l4: L4, peer: string, port: number): Promise<Tuple | null> {
    return new Promise((resolve) => {
      const key = `${peer}|${port}`;
      const list = this.pending[l4].get(key) ?? [];
      list.push({ resolve, attempts: 0 });
      this.pending[l4].set(key, list);
      this.schedule(l4, 0);
    });
  }

  /** Resolves every open lookup with null and stops the timers. */
  close(): void {
    for (const l4 of ['tcp', 'udp'] as const) {
      if (this.timers[l4]) clearTimeout(this.timers[l4]!);
      this.timers[l4] = null;
      for (const list of this.pending[l4].values()) for (const p of list) p.resolve(null);
      this.pending[l4].clear();
    }
  }

  private schedule(l4: L4, ms: number): void {
    if (this.timers[l4] || this.running[l4]) return;
    this.timers[l4] = setTimeout(() => {
      this.timers[l4] = null;
      void this.batch(l4);
    }, ms);
  }

  private async batch(l4: L4): Promise<void> {
    this.running[l4] = true;
    const port = l4 === 'tcp' ? this.listen.tcpPort : this.listen.udpPort;
    const asked = [...this.pending[l4].keys()];
    const found = new Map<string, Tuple>();
    try {
      for (const e of parseConntrack(await this.list(l4))) {
        if (e.l4 !== l4 || e.reply.src !== this.listen.addr || e.reply.sport !== port) continue;
        found.set(`${e.reply.dst}|${e.reply.dport}`, e.orig);
      }
    } catch {
      this.counters?.inc('sink_conntrack_error');
    }
    const max = this.opts.attempts ?? 5;
    for (const key of asked) {
      const list = this.pending[l4].get(key);
      if (!list) continue;
      const orig = found.get(key);
      const keep = list.filter((p) => {
        if (orig) p.resolve(orig);
        else if (++p.attempts >= max) {
          this.counters?.inc('sink_orig_dst_unknown');
          p.resolve(null);
        } else return true;
        return false;
      });
      if (keep.length) this.pending[l4].set(key, keep);
      else this.pending[l4].delete(key);
    }
    this.running[l4] = false;
    if (this.pending[l4].size) {
      const fresh = [...this.pending[l4].values()].some((l) => l.some((p) => p.attempts === 0));
      this.schedule(l4, fresh ? 0 : (this.opts.retryMs ?? 100));
    }
  }
}
