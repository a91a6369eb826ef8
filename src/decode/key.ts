/**
 * The binary flow key of a decoded packet: protocol, then the two endpoints (address bytes as
 * 16-bit units, port) in canonical order (the smaller endpoint, bytes compared in order, first),
 * as one short string of UTF-16 code units: the same for both directions, built from the packet
 * bytes without formatting addresses (7 code units for IPv4, 19 for IPv6). Opaque: compare it,
 * use it as a Map key; never parse or show it.
 */

/** Key and orientation of one packet: `fwd` is true when its source endpoint comes first in `key`. */
export interface FlowKeyOf {
  key: string;
  fwd: boolean;
}

const u16 = (b: Uint8Array, o: number): number => (b[o] << 8) | b[o + 1];

/**
 * @param buf the IP packet
 * @param srcOff offset of the source address; the destination follows it (`alen` bytes each)
 * @param alen 4 (IPv4) or 16 (IPv6)
 * @param sport, dport, proto transport ports and IP protocol number
 */
export function flowKeyOf(buf: Uint8Array, srcOff: number, alen: 4 | 16, sport: number, dport: number, proto: number): FlowKeyOf {
  const dstOff = srcOff + alen;
  let c = 0;
  for (let i = 0; i < alen && c === 0; i++) c = buf[srcOff + i] - buf[dstOff + i];
  if (c === 0) c = sport - dport;
  const fwd = c <= 0;
  const a = fwd ? srcOff : dstOff;
  const b = fwd ? dstOff : srcOff;
  const pa = fwd ? sport : dport;
  const pb = fwd ? dport : sport;
  if (alen === 4) {
    return { key: String.fromCharCode(proto, u16(buf, a), u16(buf, a + 2), pa, u16(buf, b), u16(buf, b + 2), pb), fwd };
  }
  return {
    key: String.fromCharCode(
      proto, u16(buf, a), u16(buf, a + 2), u16(buf, a + 4), u16(buf, a + 6), u16(buf, a + 8), u16(buf, a + 10), u16(buf, a + 12), u16(buf, a + 14), pa,
      u16(buf, b), u16(buf, b + 2), u16(buf, b + 4), u16(buf, b + 6), u16(buf, b + 8), u16(buf, b + 10), u16(buf, b + 12), u16(buf, b + 14), pb,
    ),
    fwd,
  };
}
