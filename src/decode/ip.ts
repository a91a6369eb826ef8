/**
 * Entry point of the packet decoder: an IP packet (no link-layer header) to a DecodedPacket or a
 * named event. See ipv4.ts, ipv6.ts and l4.ts for the rules of each layer.
 */
import { decodeIpv4 } from './ipv4.js';
import { decodeIpv6 } from './ipv6.js';
import type { DecodeResult } from './types.js';

/** Options of decodeIp. */
export interface DecodeOptions {
  /**
   * Verify the IPv4 header checksum and the TCP/UDP checksums (default true). Turn off for
   * captures taken on the sending host and for locally generated packets, whose checksums are
   * often left to the NIC (checksum offload) and read as 0 or as a partial sum.
   */
  verifyChecksums?: boolean;
}

/** Reusable options objects (no allocation per packet): verify checksums, or not. */
export const VERIFY: DecodeOptions = Object.freeze({ verifyChecksums: true });
export const NO_VERIFY: DecodeOptions = Object.freeze({ verifyChecksums: false });

/**
 * Decodes the IP packet starting at `buf[0]`: the version nibble picks IPv4 (RFC 791) or IPv6
 * (RFC 8200), then TCP (RFC 9293) or UDP (RFC 768) is decoded. Bytes past the IP length are
 * ignored. Never throws: bad or unwanted input gives `{ ok: false, event }` with one of the stable
 * counter names ip_truncated (empty buffer), ip_bad_version, ipv4_bad_ihl, ipv4_truncated,
 * ipv4_bad_header_checksum, ipv6_truncated, ipv6_ext_truncated, ipv6_too_many_ext, ip_fragment
 * (ignorable), tcp_truncated, tcp_bad_offset, udp_truncated, udp_bad_length, tcp_bad_checksum,
 * udp_bad_checksum, not_tcp_udp (ignorable). The packet's `payload` is a view into `buf`.
 */
export function decodeIp(buf: Uint8Array, opts?: DecodeOptions): DecodeResult {
  if (buf.length === 0) return { ok: false, event: 'ip_truncated' };
  const verify = opts?.verifyChecksums ?? true;
  const version = buf[0] >> 4;
  if (version === 4) return decodeIpv4(buf, verify);
  if (version === 6) return decodeIpv6(buf, verify);
  return { ok: false, event: 'ip_bad_version' };
}

/** Every event name decodeIp can return, for documentation and for counters that list zeros. */
export const DECODE_EVENTS = Object.freeze([
  'ip_truncated',
  'ip_bad_version',
  'ipv4_bad_ihl',
  'ipv4_truncated',
  'ipv4_bad_header_checksum',
  'ipv6_truncated',
  'ipv6_ext_truncated',
  'ipv6_too_many_ext',
  'ip_fragment',
  'tcp_truncated',
  'tcp_bad_offset',
  'udp_truncated',
  'udp_bad_length',
  'tcp_bad_checksum',
  'udp_bad_checksum',
  'not_tcp_udp',
] as const);
