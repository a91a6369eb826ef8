/**
 * The primitive byte helpers every layer shares: fixed-width integer readers and builders in
 * either byte order, Latin-1 text ↔ octets, and concatenation. Pure functions, no I/O, no
 * allocation beyond their result. Layers at or above src/apps reach these through
 * src/apps/bytes.ts, which re-exports them beside the apps-level helpers.
 *
 * Readers do not check bounds: the caller makes sure `b.length >= off + width` (an out-of-range
 * octet reads as `undefined`, which the bit operators turn into 0).
 */

/** Big-endian (network order, RFC 1700 "Data Notations") uint16 at `b[off]`. */
export function u16be(b: Uint8Array, off: number): number {
  return (b[off] << 8) | b[off + 1];
}

/** Big-endian (network order) uint32 at `b[off]`, as an unsigned number 0..2^32-1. */
export function u32be(b: Uint8Array, off: number): number {
  return ((b[off] << 24) | (b[off + 1] << 16) | (b[off + 2] << 8) | b[off + 3]) >>> 0;
}

/** Little-endian uint16 at `b[off]` (eD2k and Kad ports). */
export function u16le(b: Uint8Array, off: number): number {
  return b[off] | (b[off + 1] << 8);
}

/** Little-endian uint32 at `b[off]`, as an unsigned number 0..2^32-1. */
export function u32le(b: Uint8Array, off: number): number {
  return (b[off] | (b[off + 1] << 8) | (b[off + 2] << 16) | (b[off + 3] << 24)) >>> 0;
}

/** Literal octets: `u8(0x13, 0x00)`; each value is taken modulo 256. */
export function u8(...bytes: number[]): Uint8Array {
  return Uint8Array.from(bytes);
}

/** Unsigned 16-bit `v` as 2 octets, big-endian (network order). */
export function be16(v: number): Uint8Array {
  return u8((v >>> 8) & 0xff, v & 0xff);
}

/** Unsigned 32-bit `v` as 4 octets, big-endian (network order). */
export function be32(v: number): Uint8Array {
  return u8((v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
}

/** Unsigned 16-bit `v` as 2 octets, little-endian. */
export function le16(v: number): Uint8Array {
  return u8(v & 0xff, (v >>> 8) & 0xff);
}

/** Unsigned 32-bit `v` as 4 octets, little-endian. */
export function le32(v: number): Uint8Array {
  return u8(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff);
}

/**
 * Octets of a Latin-1 string: each UTF-16 code unit becomes one octet (its low 8 bits). RFC 9112
 * §2.2: HTTP-style start and field lines are octets, not text. Inverse of {@link latin1}.
 */
export function ascii(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i) & 0xff;
  return out;
}

/**
 * Latin-1 view of octets: each octet becomes one UTF-16 code unit (lossless; RFC 9110 §5.5
 * obs-text). Inverse of {@link ascii}.
 */
export function latin1(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.length).toString('latin1');
}

/** Octets of a string as UTF-8 (RFC 3629). */
export function utf8(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

/**
 * Concatenation of a list of byte arrays into a new array (the parts are copied). Takes a list,
 * not arguments, so callers may join any number of parts (a line fed one octet at a time).
 */
export function concatList(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** `concatList` of the arguments: `concat(header, body)`. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  return concatList(parts);
}
