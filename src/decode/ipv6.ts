/**
 * IPv6 header and extension-header decoding (RFC 8200) for decodeIp. Never throws; bad input
 * gives a named event.
 */
import { pseudoSumV6 } from './checksum.js';
import { decodeL4 } from './l4.js';
import { IPPROTO_TCP, IPPROTO_UDP, type DecodeResult } from './types.js';

/** Most extension headers walked before giving up with `ipv6_too_many_ext`. */
export const IPV6_MAX_EXT_HEADERS = 8;

const HOP_BY_HOP = 0;
const ROUTING = 43;
const FRAGMENT = 44;
const AH = 51;
const DEST_OPTS = 60;

/**
 * Decodes the IPv6 packet at `buf[0]` (the caller has checked the version nibble is 6) and its
 * TCP/UDP header.
 *
 * - The fixed header is 40 bytes; payload length bounds the packet (bytes after it are ignored);
 *   a payload running past the buffer is `ipv6_truncated`.
 * - Extension headers are walked (RFC 8200 §4): hop-by-hop (0), routing (43), fragment (44),
 *   destination options (60) and AH (51, RFC 4302 length in 4-byte units); at most
 *   IPV6_MAX_EXT_HEADERS of them, the next one is `ipv6_too_many_ext`. A header running past the
 *   payload is `ipv6_ext_truncated`. ESP (50), No Next Header (59) and any other protocol are
 *   `not_tcp_udp`, ignorable.
 * - Fragment header: offset > 0 is `ip_fragment`, ignorable; offset 0 with M set decodes what the
 *   fragment holds with `fragment: true` and no L4 checksum check; an atomic fragment (offset 0,
 *   M clear, RFC 6946) decodes as a whole packet.
 * - With `verify`, the TCP/UDP checksum is checked with the RFC 8200 §8.1 pseudo-header, whose
 *   destination is the final one of a routing header (types 0 and 2: the last address; type 4,
 *   RFC 8754: segment list[0]) when segments remain. A zero UDP checksum is invalid.
 *
 * `ipLen` in the result is 40 + payload length, in bytes.
 * Events: ipv6_truncated, ipv6_ext_truncated, ipv6_too_many_ext, ip_fragment, not_tcp_udp, and
 * those of decodeL4.
 */
export function decodeIpv6(buf: Uint8Array, verify: boolean): DecodeResult {
  if (buf.length < 40) return { ok: false, event: 'ipv6_truncated' };
  const end = 40 + ((buf[4] << 8) | buf[5]);
  if (end > buf.length) return { ok: false, event: 'ipv6_truncated' };
  let nh = buf[6];
  let off = 40;
  let count = 0;
  let fragment = false;
  let dstOff = 24;
  for (;;) {
    if (nh === IPPROTO_TCP || nh === IPPROTO_UDP) break;
    if (nh !== HOP_BY_HOP && nh !== ROUTING && nh !== FRAGMENT && nh !== DEST_OPTS && nh !== AH) {
      return { ok: false, event: 'not_tcp_udp', ignorable: true };
    }
    if (count === IPV6_MAX_EXT_HEADERS) return { ok: false, event: 'ipv6_too_many_ext' };
    count++;
    if (off + 8 > end) return { ok: false, event: 'ipv6_ext_truncated' };
    let hlen: number;
    if (nh === FRAGMENT) {
      hlen = 8;
      const fragOff = (buf[off + 2] << 5) | (buf[off + 3] >> 3);
      if (fragOff !== 0) return { ok: false, event: 'ip_fragment', ignorable: true };
      if ((buf[off + 3] & 1) !== 0) fragment = true;
    } else if (nh === AH) {
      hlen = (buf[off + 1] + 2) * 4;
    } else {
      hlen = (buf[off + 1] + 1) * 8;
    }
    if (off + hlen > end) return { ok: false, event: 'ipv6_ext_truncated' };
    if (nh === ROUTING && buf[off + 3] !== 0) dstOff = finalDestination(buf, off, hlen, dstOff);
    nh = buf[off];
    off += hlen;
  }
  const pseudoBase = verify && !fragment ? pseudoSumV6(buf, 8, dstOff, nh, 0) : -1;
  return decodeL4(buf, 6, 8, nh, off, end, end, fragment, pseudoBase);
}

/**
 * Offset of the final destination address in a routing header at `buf[off, off + hlen)` whose
 * segments-left field is non-zero (RFC 8200 §8.1); `fallback` (the header's destination) for
 * routing types whose layout is unknown or a header too short to hold an address.
 */
function finalDestination(buf: Uint8Array, off: number, hlen: number, fallback: number): number {
  const type = buf[off + 2];
  if (hlen < 24) return fallback;
  if (type === 0 || type === 2) return off + 8 + Math.floor((hlen - 8) / 16) * 16 - 16;
  if (type === 4) return off + 8;
  return fallback;
}
