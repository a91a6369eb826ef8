/**
 * The Internet checksum (RFC 1071) and the TCP/UDP pseudo-header sums for IPv4 (RFC 9293 §3.1,
 * RFC 768) and IPv6 (RFC 8200 §8.1).
 *
 * Sums are kept unfolded as plain numbers while adding (a packet of at most 64 KiB adds at most
 * 32 768 words of at most 0xffff, far below 2^53), then folded to 16 bits with end-around carry.
 * No function here allocates or throws; callers pass offsets already checked against the buffer.
 */

/**
 * Adds the bytes `buf[start, end)` as big-endian 16-bit words to `acc` (RFC 1071 §4.1). An odd
 * trailing byte is padded on the right with a zero byte. Returns the unfolded sum.
 * Offsets in bytes; the caller guarantees `0 <= start <= end <= buf.length`.
 */
export function sumWords(buf: Uint8Array, start: number, end: number, acc = 0): number {
  let s = acc;
  let i = start;
  const even = end - ((end - start) & 1);
  // Four words per turn keeps the loop short; the remainder is handled below.
  for (; i + 8 <= even; i += 8) {
    s +=
      ((buf[i] << 8) | buf[i + 1]) +
      ((buf[i + 2] << 8) | buf[i + 3]) +
      ((buf[i + 4] << 8) | buf[i + 5]) +
      ((buf[i + 6] << 8) | buf[i + 7]);
  }
  for (; i < even; i += 2) s += (buf[i] << 8) | buf[i + 1];
  if (even < end) s += buf[even] << 8;
  return s;
}

/** Folds an unfolded ones'-complement sum to 16 bits with end-around carry (RFC 1071 §4.1). */
export function foldSum(sum: number): number {
  let s = sum;
  while (s > 0xffff) s = (s % 0x10000) + Math.floor(s / 0x10000);
  return s;
}

/**
 * The Internet checksum of `buf[start, end)` (RFC 1071): the ones' complement of the folded sum,
 * 0..0xffff. Over a header whose checksum field is already filled in, a correct header gives 0.
 */
export function internetChecksum(buf: Uint8Array, start = 0, end = buf.length): number {
  return ~foldSum(sumWords(buf, start, end)) & 0xffff;
}

/**
 * Unfolded sum of the IPv4 pseudo-header (RFC 9293 §3.1, RFC 768): source and destination
 * address (4 bytes each, read from `buf` at `srcOff`/`dstOff`), zero, protocol, and the transport
 * length `l4Len` in bytes (TCP: header plus data; UDP: the UDP length field).
 */
export function pseudoSumV4(buf: Uint8Array, srcOff: number, dstOff: number, proto: number, l4Len: number): number {
  return sumWords(buf, srcOff, srcOff + 4, sumWords(buf, dstOff, dstOff + 4, proto + l4Len));
}

/**
 * Unfolded sum of the IPv6 pseudo-header (RFC 8200 §8.1): source and destination address
 * (16 bytes each, read at `srcOff`/`dstOff`; the destination is the final one when a Routing
 * header is present), the 32-bit upper-layer length `l4Len` in bytes, and the next-header value.
 */
export function pseudoSumV6(buf: Uint8Array, srcOff: number, dstOff: number, nextHeader: number, l4Len: number): number {
  const lenSum = (l4Len >>> 16) + (l4Len & 0xffff);
  return sumWords(buf, srcOff, srcOff + 16, sumWords(buf, dstOff, dstOff + 16, nextHeader + lenSum));
}

/**
 * True when the TCP or UDP segment `buf[l4Off, l4Off + l4Len)`, whose checksum field is filled
 * in, checks out against the pseudo-header sum `pseudo` (from pseudoSumV4/pseudoSumV6): the folded
 * sum of both is 0xffff. The UDP "no checksum" value 0 is not special here: callers handle it.
 */
export function transportChecksumOk(buf: Uint8Array, l4Off: number, l4Len: number, pseudo: number): boolean {
  return foldSum(sumWords(buf, l4Off, l4Off + l4Len, pseudo)) === 0xffff;
}

/**
 * The checksum value to store in a TCP/UDP header (for writers and tests): the ones' complement of
 * the folded sum of `pseudo` and the segment, computed with the checksum field at `ckOff` taken
 * as zero whatever it holds. For UDP a result of 0 must be sent as 0xffff (RFC 768); this function
 * returns 0xffff in that case when `udp` is true.
 */
export function transportChecksum(buf: Uint8Array, l4Off: number, l4Len: number, pseudo: number, ckOff: number, udp = false): number {
  const stored = (buf[ckOff] << 8) | buf[ckOff + 1];
  const s = foldSum(sumWords(buf, l4Off, l4Off + l4Len, pseudo) + 0xffff - stored);
  const ck = ~s & 0xffff;
  return udp && ck === 0 ? 0xffff : ck;
}
