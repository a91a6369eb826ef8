/**
 * Shapes produced by the packet decoders (src/decode). All offsets and lengths are in bytes.
 * `payload` is a view into the caller's buffer: copy it if it must outlive the packet.
 */
import type { L4 } from '../core/types.js';

export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;

/** TCP flag bits (RFC 9293 §3.1). */
export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;

export type { L4 };

/** A decoded IPv4/IPv6 packet carrying TCP or UDP. */
export interface DecodedPacket {
  /** 4 or 6. */
  family: 4 | 6;
  /** Source and destination addresses in canonical text form (RFC 5952 for IPv6). */
  src: string;
  dst: string;
  /** IP protocol number of the transport header (6 or 17; others are not returned as packets). */
  proto: number;
  l4: L4;
  sport: number;
  dport: number;
  /** Length of the whole IP packet (header included), bytes: what flow records count. */
  ipLen: number;
  /** TCP only (0 for UDP): sequence and acknowledgement numbers (uint32) and flag bits. */
  seq: number;
  ack: number;
  flags: number;
  /** Transport payload. */
  payload: Uint8Array;
  /** True when the packet is a non-first IP fragment or otherwise has no transport header we can use. */
  fragment: boolean;
  /**
   * Binary 5-tuple key, the same for both directions (./key.ts), and whether this packet's source
   * is its first endpoint. Set by the decoder; absent on hand-built packets (flowKey then falls
   * back to a text key).
   */
  key?: string;
  fwd?: boolean;
}

/**
 * Result of decoding: either a packet or a named event (a counted "weird"). Decoders never throw on
 * bad input. `event` names are stable counter names, e.g. `ipv4_truncated`, `tcp_bad_checksum`.
 */
export type DecodeResult =
  | { ok: true; pkt: DecodedPacket }
  | { ok: false; event: string; /** true if the packet is well-formed but not TCP/UDP (e.g. ICMP) */ ignorable?: boolean };
