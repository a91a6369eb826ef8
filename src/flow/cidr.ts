/**
 * CIDR prefixes (IPv4 and IPv6; RFC 4632, RFC 4291 §2.3): parse `a.b.c.d/n` or `x:y::z/n` (a bare
 * address means a host prefix, /32 or /128) and test whether an address string, as the decoders
 * and flow records hold it (dotted IPv4, RFC 5952 IPv6), lies inside. Used by the host heuristics'
 * "inside" test, the config check of `host_heuristics.local` and `p2pgw analyze --local/--isp`.
 *
 * Addresses are held as BigInt so that both families share one comparison. Parse errors throw
 * P2pgwError('P2PGW_ERR_USAGE', '<option>: <reason>'); `contains` never throws (an unparsable
 * address is simply not contained).
 */
import { P2pgwError } from '../core/errors.js';

/** One parsed prefix. `base` has the host bits cleared; `bits` is the prefix length. */
export interface Cidr {
  /** The text as given (for reports). */
  text: string;
  family: 4 | 6;
  base: bigint;
  bits: number;
}

/** Parses dotted-quad IPv4 into a 32-bit BigInt, or null. */
function parseV4(s: string): bigint | null {
  const parts = s.split('.');
  if (parts.length !== 4) return null;
  let v = 0n;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p)) return null;
    const n = Number(p);
    if (n > 255) return null;
    v = (v << 8n) | BigInt(n);
  }
  return v;
}

/** Parses IPv6 text (with `::` and an optional trailing dotted IPv4) into a 128-bit BigInt, or null. */
function parseV6(s: string): bigint | null {
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  const halves = s.split('::');
  if (halves.length > 2) return null;
  const words = (h: string): number[] | null => {
    if (h === '') return [];
    const out: number[] = [];
    const parts = h.split(':');
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i];
      if (i === parts.length - 1 && p.includes('.')) {
        const v4 = parseV4(p);
        if (v4 === null) return null;
        out.push(Number(v4 >> 16n), Number(v4 & 0xffffn));
      } else if (/^[0-9a-fA-F]{1,4}$/.test(p)) {
        out.push(parseInt(p, 16));
      } else {
        return null;
      }
    }
    return out;
  };
  const head = words(halves[0]);
  const tail = halves.length === 2 ? words(halves[1]) : [];
  if (!head || !tail) return null;
  const fill = 8 - head.length - tail.length;
  if (halves.length === 2 ? fill < 1 : fill !== 0) return null;
  const all = [...head, ...new Array<number>(fill).fill(0), ...tail];
  let v = 0n;
  for (const w of all) v = (v << 16n) | BigInt(w);
  return v;
}

/** Parses an address in either family: `{ family, value }` or null. */
export function parseAddress(addr: string): { family: 4 | 6; value: bigint } | null {
  if (addr.includes(':')) {
    const v = parseV6(addr);
    return v === null ? null : { family: 6, value: v };
  }
  const v = parseV4(addr);
  return v === null ? null : { family: 4, value: v };
}

/**
 * Parses one prefix.
 * @param text `addr/len` or a bare address
 * @param option option name used in error messages (e.g. `--local`)
 * @throws P2pgwError(P2PGW_ERR_USAGE) for a bad address or length
 */
export function parseCidr(text: string, option = 'cidr'): Cidr {
  const t = text.trim();
  const slash = t.indexOf('/');
  const addrText = slash >= 0 ? t.slice(0, slash) : t;
  const a = parseAddress(addrText);
  if (!a) throw new P2pgwError('P2PGW_ERR_USAGE', `${option}: not an IPv4/IPv6 address: ${JSON.stringify(addrText)}`);
  const width = a.family === 4 ? 32 : 128;
  let bits = width;
  if (slash >= 0) {
    const lenText = t.slice(slash + 1);
    if (!/^\d{1,3}$/.test(lenText) || Number(lenText) > width) {
      throw new P2pgwError('P2PGW_ERR_USAGE', `${option}: bad prefix length in ${JSON.stringify(t)} (0..${width})`);
    }
    bits = Number(lenText);
  }
  const mask = bits === 0 ? 0n : ((1n << BigInt(bits)) - 1n) << BigInt(width - bits);
  return { text: t, family: a.family, base: a.value & mask, bits };
}

/** Fast IPv4 parse to an unsigned 32-bit number, or -1. */
function v4Number(s: string): number {
  let v = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 46) {
      if (!digits || part > 255) return -1;
      v = v * 256 + part;
      part = 0;
      digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57 && digits < 3) {
      part = part * 10 + (c - 48);
      digits++;
    } else return -1;
  }
  if (dots !== 3 || !digits || part > 255) return -1;
  return v * 256 + part;
}

/**
 * A membership test over a list of prefixes. IPv4 addresses are tested with plain numbers (no
 * memo, flow sets hold many distinct remote addresses); IPv6 results are memoised per string.
 */
export class CidrSet {
  private readonly memo = new Map<string, boolean>();
  /** IPv4 prefixes as [network, size] in unsigned 32-bit arithmetic. */
  private readonly v4: [number, number][];
  constructor(readonly cidrs: readonly Cidr[]) {
    this.v4 = cidrs.filter((c) => c.family === 4).map((c) => [Number(c.base), 2 ** (32 - c.bits)]);
  }

  /** True when `addr` lies in one of the prefixes. */
  has(addr: string): boolean {
    if (!addr.includes(':')) {
      const n = v4Number(addr);
      if (n < 0) return false;
      for (const [base, size] of this.v4) if (n >= base && n < base + size) return true;
      return false;
    }
    let r = this.memo.get(addr);
    if (r === undefined) {
      r = false;
      const a = parseAddress(addr);
      if (a) {
        for (const c of this.cidrs) {
          if (c.family !== a.family) continue;
          const shift = BigInt(128 - c.bits);
          if (a.value >> shift === c.base >> shift) {
            r = true;
            break;
          }
        }
      }
      if (this.memo.size < 100_000) this.memo.set(addr, r);
    }
    return r;
  }

  /** The prefixes as text, comma-separated. */
  toString(): string {
    return this.cidrs.map((c) => c.text).join(',');
  }
}
