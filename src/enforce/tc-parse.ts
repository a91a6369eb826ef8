/**
 * Pure parsers for traffic shaping: tc rates and sizes (tc(8) "PARAMETERS"), and the per-class
 * statistics `tc -s class show dev X` prints (text, and the JSON newer iproute2 releases print with
 * `-j`; iproute2 6.1 ignores `-j` for `class show` and prints text). No I/O here; see tc.ts.
 */
import { P2pgwError } from '../core/errors.js';

/**
 * An invalid shaping setting. `code` is P2PGW_ERR_CONFIG; `path` is the config key path
 * (`shaping.wan.rate`, `apps.bittorrent.shape.ceil`) and `reason` the problem without the path, so
 * the config loader can rethrow it as a ConfigError naming the file and line.
 */
export class ShapeError extends P2pgwError {
  constructor(readonly path: string, readonly reason: string) {
    super('P2PGW_ERR_CONFIG', `${path}: ${reason}`);
    this.name = 'ShapeError';
  }
}

/** A rate as written in config: a tc rate string (`2mbit`, `500kbit`, `1.5gbit`, `10mbps`) or a number of bits/s. */
export type RateInput = string | number;

/** Lowest rate accepted, bits/s (1 byte/s: the kernel keeps rates in bytes/s). */
export const MIN_RATE_BPS = 8;
/** Highest rate accepted, bits/s (1 tbit). */
export const MAX_RATE_BPS = 1e12;

const SI: Record<string, number> = { '': 1, k: 1e3, m: 1e6, g: 1e9, t: 1e12, ki: 1024, mi: 1024 ** 2, gi: 1024 ** 3, ti: 1024 ** 4 };

/** Bits/s per unit, as tc(8) defines them (case-insensitive): `bit`/none, `kbit`…, `bps` = bytes/s, `kbps`…, IEC `kibit`, `mibps`…. */
function unitFactor(unit: string): number | undefined {
  const u = unit.toLowerCase();
  if (u === '') return 1;
  const m = /^(|k|m|g|t|ki|mi|gi|ti)(bit|bps)$/.exec(u);
  if (!m) return undefined;
  return SI[m[1]] * (m[2] === 'bps' ? 8 : 1);
}

/**
 * Parses a rate into bits/s (an integer). Strings use tc(8) units: `bit` (or none), `kbit`, `mbit`,
 * `gbit`, `tbit` (SI, ×1000), `bps`, `kbps`, `mbps`, `gbps`, `tbps` (BYTES per second), IEC
 * `kibit`, `mibit`… (×1024); numbers are bits/s. Decimals are allowed (`1.5mbit`).
 * @param path config key path used in the error
 * @throws ShapeError (P2PGW_ERR_CONFIG) on a malformed value, an unknown unit, or a rate outside
 *   8 bit/s – 1 tbit
 */
export function parseRate(input: RateInput, path: string): number {
  let bps: number;
  if (typeof input === 'number') {
    bps = input;
  } else if (typeof input === 'string') {
    const m = /^\s*([0-9]+(?:\.[0-9]+)?(?:e[0-9]+)?)\s*([a-z]*)\s*$/i.exec(input);
    if (!m) throw new ShapeError(path, `${JSON.stringify(input)} is not a rate: write a number and a tc unit, e.g. 2mbit, 500kbit, 1gbit (tc(8) RATES)`);
    const f = unitFactor(m[2]);
    if (f === undefined) {
      throw new ShapeError(
        path,
        `unknown rate unit ${JSON.stringify(m[2])} in ${JSON.stringify(input)}: use bit, kbit, mbit, gbit, tbit (bits/s), ` +
          `bps, kbps, mbps, gbps (BYTES/s) or IEC kibit, mibit, gibit (tc(8) RATES)`,
      );
    }
    bps = Number(m[1]) * f;
  } else {
    throw new ShapeError(path, `expected a rate (e.g. "2mbit" or a number of bits/s), got ${input === null ? 'null' : typeof input}`);
  }
  if (!Number.isFinite(bps) || bps < MIN_RATE_BPS || bps > MAX_RATE_BPS) {
    throw new ShapeError(path, `rate ${JSON.stringify(input)} is out of range (8bit – 1tbit)`);
  }
  return Math.round(bps);
}

/** A rate for tc's command line: exact bits/s with the `bit` unit (`5000000bit`). */
export const tcRate = (bps: number): string => `${Math.round(bps)}bit`;

/** A rate for people: `5mbit`, `1.5mbit`, `640kbit`, `300bit` (SI units, as tc prints them). */
export function formatRate(bps: number): string {
  for (const [u, f] of [['gbit', 1e9], ['mbit', 1e6], ['kbit', 1e3]] as const) {
    if (bps >= f) return `${+(bps / f).toFixed(3)}${u}`;
  }
  return `${bps}bit`;
}

/**
 * Parses a size as tc prints it (`1600b`, `12Kb`, `3Mb`: ×1024, see iproute2's sprint_size) or
 * plain bytes. Returns bytes, or NaN when malformed.
 */
export function parseTcSize(s: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)([kmg]?)b?$/i.exec(s.trim());
  if (!m) return NaN;
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2].toLowerCase() as '' | 'k' | 'm' | 'g'];
  return Math.round(Number(m[1]) * mult);
}

/** Counters and settings of one tc class, from `tc -s class show`. */
export interface ClassStats {
  /** Qdisc kind of the class (`htb`). */
  kind: string;
  /** `1:1`, `1:fffe` (lowercase hex, as tc prints it). */
  classid: string;
  /** Minor number of the classid (for HTB classes set by CLASSIFY, the application's mark). */
  minor: number;
  /** Parent classid, or null for a root class. */
  parent: string | null;
  /** Handle of the leaf qdisc (`8002:`), if any. */
  leaf: string | null;
  /** Configured rate and ceil, bits/s (HTB), when printed. */
  rateBps?: number;
  ceilBps?: number;
  /** Bytes and packets sent through the class (counted at dequeue; GSO packets count once in `packets`). */
  bytes: number;
  packets: number;
  /** Packets dropped on enqueue (leaf queue full). */
  drops: number;
  /** Times the class was over its rate/ceil and had to wait or borrow. */
  overlimits: number;
  requeues: number;
  /** Queued right now, bytes and packets. */
  backlogBytes: number;
  backlogPackets: number;
  /** Rate estimator (only when the kernel runs one for the class), bits/s and packets/s. */
  estRateBps?: number;
  estPps?: number;
  /** HTB extended stats (tc-htb(8)): times the class lent or borrowed bandwidth, giant packets, tokens. */
  lended?: number;
  borrowed?: number;
  giants?: number;
  tokens?: number;
  ctokens?: number;
}

const num = (s: string | undefined): number => (s === undefined ? 0 : Number(s));
const minorOf = (classid: string): number => parseInt(classid.split(':')[1] || '0', 16);

function rateOrUndef(s: string | undefined): number | undefined {
  if (s === undefined) return undefined;
  try {
    return parseRate(s, 'tc output');
  } catch {
    return s === '0bit' ? 0 : undefined;
  }
}

/** Parses text blocks (`class htb 1:1 parent 1:ffff leaf 8002: prio 0 rate 5Mbit …`, then indented stats lines). */
function parseText(text: string): ClassStats[] {
  const out: ClassStats[] = [];
  let cur: ClassStats | null = null;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('class ')) {
      const t = line.split(/\s+/);
      const kv = (k: string): string | undefined => {
        const i = t.indexOf(k, 3);
        return i > 0 ? t[i + 1] : undefined;
      };
      cur = {
        kind: t[1],
        classid: t[2],
        minor: minorOf(t[2]),
        parent: t.includes('root') ? null : kv('parent') ?? null,
        leaf: kv('leaf') ?? null,
        bytes: 0, packets: 0, drops: 0, overlimits: 0, requeues: 0, backlogBytes: 0, backlogPackets: 0,
      };
      const rate = rateOrUndef(kv('rate'));
      const ceil = rateOrUndef(kv('ceil'));
      if (rate !== undefined) cur.rateBps = rate;
      if (ceil !== undefined) cur.ceilBps = ceil;
      out.push(cur);
      continue;
    }
    if (!cur) continue;
    let m: RegExpExecArray | null;
    if ((m = /^Sent (\d+) bytes (\d+) pkts? \(dropped (\d+), overlimits (\d+)(?: requeues (\d+))?\)/.exec(line))) {
      [cur.bytes, cur.packets, cur.drops, cur.overlimits, cur.requeues] = [num(m[1]), num(m[2]), num(m[3]), num(m[4]), num(m[5])];
    }
    if ((m = /^rate (\S+) (\d+)pps/.exec(line))) {
      const r = rateOrUndef(m[1]);
      if (r !== undefined) cur.estRateBps = r;
      cur.estPps = num(m[2]);
    }
    if ((m = /backlog (\S+) (\d+)p/.exec(line))) {
      cur.backlogBytes = parseTcSize(m[1]) || 0;
      cur.backlogPackets = num(m[2]);
    }
    if ((m = /^lended: (\d+) borrowed: (\d+) giants: (\d+)/.exec(line))) {
      [cur.lended, cur.borrowed, cur.giants] = [num(m[1]), num(m[2]), num(m[3])];
    }
    if ((m = /^tokens: (-?\d+) ctokens: (-?\d+)/.exec(line))) {
      [cur.tokens, cur.ctokens] = [num(m[1]), num(m[2])];
    }
  }
  return out;
}

/**
 * JSON (`tc -s -j class show`, iproute2 releases whose print_class opens JSON objects): one object
 * per class with `class` (kind), `handle`, `parent` or `root`, `leaf`, HTB `rate`/`ceil` in BYTES/s
 * (iproute2 prints rates as raw numbers in JSON), and counters either in a nested `stats` object or
 * at top level (`bytes`, `packets`, `drops`, `overlimits`, `requeues`, `backlog`, `qlen`, and HTB's
 * `lended`, `borrowed`, `giants`, `tokens`, `ctokens`).
 */
function parseJson(items: unknown[]): ClassStats[] {
  return items.map((it) => {
    const o = (it ?? {}) as Record<string, unknown>;
    const s = { ...o, ...((o.stats ?? {}) as Record<string, unknown>), ...((o.xstats ?? {}) as Record<string, unknown>) };
    const n = (k: string): number | undefined => (typeof s[k] === 'number' ? (s[k] as number) : undefined);
    const classid = String(o.handle ?? '');
    // print_0xhex prints the leaf's major as "0x8010" in JSON; text shows "8010:".
    const rawLeaf = o.leaf === undefined ? null : String(o.leaf);
    const leaf = rawLeaf === null ? null : /^0x[0-9a-f]+$/i.test(rawLeaf) ? `${parseInt(rawLeaf, 16).toString(16)}:` : rawLeaf;
    const c: ClassStats = {
      kind: String(o.class ?? o.kind ?? ''),
      classid,
      minor: minorOf(classid),
      parent: o.root === true || o.parent === undefined ? null : String(o.parent),
      leaf: leaf && !leaf.includes(':') ? `${leaf}:` : leaf,
      bytes: n('bytes') ?? 0,
      packets: n('packets') ?? 0,
      drops: n('drops') ?? n('dropped') ?? 0,
      overlimits: n('overlimits') ?? 0,
      requeues: n('requeues') ?? 0,
      backlogBytes: n('backlog') ?? 0,
      backlogPackets: n('qlen') ?? 0,
    };
    const opts = (o.options ?? o) as Record<string, unknown>;
    if (typeof opts.rate === 'number') c.rateBps = opts.rate * 8;
    if (typeof opts.ceil === 'number') c.ceilBps = opts.ceil * 8;
    const st = (o.stats ?? {}) as Record<string, unknown>;
    if (typeof st.rate === 'number') c.estRateBps = st.rate * 8;
    if (typeof st.pps === 'number') c.estPps = st.pps;
    for (const k of ['lended', 'borrowed', 'giants', 'tokens', 'ctokens'] as const) {
      const v = n(k);
      if (v !== undefined) c[k] = v;
    }
    return c;
  });
}

/**
 * Parses the output of `tc -s [-j] class show dev X`: JSON when it is a JSON array, else the text
 * format (iproute2 ≤ 6.1 prints text even with `-j`). Classes appear in the kernel's order; empty
 * output gives []. Never throws: unknown lines are skipped.
 */
export function parseClassStats(output: string): ClassStats[] {
  const t = output.trim();
  if (t.startsWith('[')) {
    try {
      const j = JSON.parse(t) as unknown;
      if (Array.isArray(j)) return parseJson(j);
    } catch {
      /* not JSON after all: fall through to text */
    }
  }
  return parseText(output);
}
