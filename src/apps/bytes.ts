/**
 * The one byte-helper module of the apps layer. It re-exports the primitives of
 * src/core/bytes.ts (integer readers and builders, Latin-1/UTF-8 text ↔ octets, concatenation)
 * and adds what only dissectors, inspectors and the scripted lab sessions need: hex text, IPv4
 * address octets, a seeded pseudo-random byte source and a bencode encoder/decoder (BEP 3).
 * Nothing here touches the network; every function is pure and deterministic.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { ascii, concat } from '../core/bytes.js';

export { ascii, be16, be32, concat, concatList, latin1, le16, le32, u16be, u16le, u32be, u32le, u8, utf8 } from '../core/bytes.js';

/** IPv4 dotted text to its 4 octets in network order (eDonkey and Gnutella write addresses this way). */
export function ipv4Bytes(a: string): Uint8Array {
  return Uint8Array.from(a.split('.').map(Number));
}

/** Lowercase hex of `b` (two digits per octet, no separators). */
export function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

/**
 * `n` pseudo-random bytes determined only by `seed` (and `label`): AES-128-CTR keystream with the
 * key sha256(`p2pgw-lab:<label>:<seed>`)[0..16) and a zero IV. Fast (hundreds of MB/s) and stable
 * across Node versions, so a scenario file may store `{seed, len}` instead of the bytes.
 */
export function prngBytes(seed: number, n: number, label = 'bulk'): Uint8Array {
  const key = createHash('sha256').update(`p2pgw-lab:${label}:${seed}`).digest().subarray(0, 16);
  const c = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  const out = c.update(Buffer.alloc(n));
  c.final();
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}

/** A bencode value (BEP 3): integers, byte strings, lists and dictionaries. */
export type Bencodable = number | string | Uint8Array | Bencodable[] | { [key: string]: Bencodable };

/**
 * Bencode (BEP 3 "The BitTorrent Protocol Specification", section "bencoding"): `i<n>e`,
 * `<len>:<bytes>`, `l...e`, `d...e` with keys as byte strings sorted in raw byte order.
 * Strings are encoded as Latin-1 so `\xNN` escapes stay single bytes.
 */
export function bencode(v: Bencodable): Uint8Array {
  const parts: Uint8Array[] = [];
  const walk = (x: Bencodable): void => {
    if (typeof x === 'number') {
      if (!Number.isInteger(x)) throw new TypeError(`bencode: not an integer: ${x}`);
      parts.push(ascii(`i${x}e`));
    } else if (typeof x === 'string') {
      const b = ascii(x);
      parts.push(ascii(`${b.length}:`), b);
    } else if (x instanceof Uint8Array) {
      parts.push(ascii(`${x.length}:`), x);
    } else if (Array.isArray(x)) {
      parts.push(ascii('l'));
      x.forEach(walk);
      parts.push(ascii('e'));
    } else {
      parts.push(ascii('d'));
      const keys = Object.keys(x).sort((a, b) => Buffer.compare(Buffer.from(a, 'latin1'), Buffer.from(b, 'latin1')));
      for (const k of keys) {
        walk(k);
        walk(x[k]);
      }
      parts.push(ascii('e'));
    }
  };
  walk(v);
  return concat(...parts);
}

/** A decoded bencode value: byte strings come back as Uint8Array, dictionaries as plain objects. */
export type Bdecoded = number | Uint8Array | Bdecoded[] | { [key: string]: Bdecoded };

/**
 * Strict bencode decoder (BEP 3): rejects trailing bytes, leading zeros, `-0`, unsorted or duplicate
 * dictionary keys. Throws `Error` with the byte offset on malformed input. Dictionary keys are
 * returned as Latin-1 strings.
 */
export function bdecode(b: Uint8Array): Bdecoded {
  let i = 0;
  const fail = (why: string): never => {
    throw new Error(`bdecode: ${why} at offset ${i}`);
  };
  const digits = (end: number): string => {
    const start = i;
    while (i < b.length && b[i] !== end) i++;
    if (i >= b.length) fail('unterminated number');
    const s = Buffer.from(b.subarray(start, i)).toString('latin1');
    i++;
    return s;
  };
  const str = (): Uint8Array => {
    const s = digits(0x3a);
    if (!/^(0|[1-9][0-9]*)$/.test(s)) fail(`bad string length ${JSON.stringify(s)}`);
    const n = Number(s);
    if (i + n > b.length) fail('string past end');
    const out = b.slice(i, i + n);
    i += n;
    return out;
  };
  const val = (): Bdecoded => {
    if (i >= b.length) fail('unexpected end');
    const c = b[i];
    if (c === 0x69) {
      i++;
      const s = digits(0x65);
      if (!/^(0|-?[1-9][0-9]*)$/.test(s)) fail(`bad integer ${JSON.stringify(s)}`);
      return Number(s);
    }
    if (c === 0x6c) {
      i++;
      const out: Bdecoded[] = [];
      while (b[i] !== 0x65) out.push(val());
      i++;
      return out;
    }
    if (c === 0x64) {
      i++;
      const out: { [key: string]: Bdecoded } = {};
      let prev: Buffer | null = null;
      while (b[i] !== 0x65) {
        const k = Buffer.from(str());
        if (prev && Buffer.compare(prev, k) >= 0) fail('dictionary keys not sorted/unique');
        prev = k;
        out[k.toString('latin1')] = val();
      }
      i++;
      return out;
    }
    if (c >= 0x30 && c <= 0x39) return str();
    return fail(`unexpected byte 0x${c.toString(16)}`);
  };
  const v = val();
  if (i !== b.length) fail('trailing bytes');
  return v;
}
