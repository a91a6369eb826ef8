/**
 * IPv4 header decoding (RFC 791) for decodeIp. Never throws; bad input gives a named event.
 */
import { foldSum, pseudoSumV4, sumWords } from './checksum.js';
import { decodeL4 } from './l4.js';
import { IPPROTO_TCP, IPPROTO_UDP, type DecodeResult } from './types.js';

/**
 * Decodes the IPv4 packet at `buf[0]` (the caller has checked the version nibble is 4) and its
 * TCP/UDP header.
 *
 * - Header length IHL*4 must be >= 20 and at most the total length, else `ipv4_bad_ihl` (so a
 *   total length of 0, as TSO captures show, is `ipv4_bad_ihl` too); options are skipped unread.
 * - Total length bounds the packet: bytes after it (Ethernet padding, FCS) are ignored; a total
 *   length larger than the buffer (or a buffer under 20 bytes) is `ipv4_truncated`.
 * - With `verify`, the header checksum (RFC 1071) must check out, then the TCP/UDP checksum with
 *   the RFC 9293 §3.1 / RFC 768 pseudo-header (a UDP checksum of 0 means "not computed": valid).
 * - A non-first fragment (offset > 0) is `ip_fragment`, ignorable. A first fragment with MF set
 *   decodes as far as the fragment allows, with `fragment: true` and no L4 checksum check.
 * - A protocol other than TCP/UDP is `not_tcp_udp`, ignorable.
 *
 * `ipLen` in the result is the total length field, in bytes.
 * Events: ipv4_truncated, ipv4_bad_ihl, ipv4_bad_header_checksum, ip_fragment, not_tcp_udp, and
 * those of decodeL4.
 */
export function decodeIpv4(buf: Uint8Array, verify: boolean): DecodeResult {
  const len = buf.length;
  if (len < 20) return { ok: false, event: 'ipv4_truncated' };
  const hl = (buf[0] & 0x0f) * 4;
  const total = (buf[2] << 8) | buf[3];
  if (hl < 20 || hl > total) return { ok: false, event: 'ipv4_bad_ihl' };
  if (total > len) return { ok: false, event: 'ipv4_truncated' };
  if (verify && foldSum(sumWords(buf, 0, hl)) !== 0xffff) {
    return { ok: false, event: 'ipv4_bad_header_checksum' };
  }
  const fragOff = ((buf[6] & 0x1f) << 8) | buf[7];
  if (fragOff !== 0) return { ok: false, event: 'ip_fragment', ignorable: true };
  const proto = buf[9];
  if (proto !== IPPROTO_TCP && proto !== IPPROTO_UDP) return { ok: false, event: 'not_tcp_udp', ignorable: true };
  const more = (buf[6] & 0x20) !== 0;
  const pseudoBase = verify && !more ? pseudoSumV4(buf, 12, 16, proto, 0) : -1;
  return decodeL4(buf, 4, 12, proto, hl, total, total, more, pseudoBase);
}
