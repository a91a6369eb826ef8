/**
 * Link-layer headers of capture files: where the IP header starts in a frame, by LINKTYPE_ value
 * (https://www.tcpdump.org/linktypes.html, draft-ietf-opsawg-pcaplinktype). Nothing here throws
 * or allocates beyond the returned view.
 */

/** One packet of a capture file. */
export interface CaptureRecord {
  /** Capture time, seconds since the Unix epoch (float). */
  ts: number;
  /** LINKTYPE_ value of the frame's interface (-1 if a pcapng packet names no known interface). */
  linktype: number;
  /** The captured frame bytes (a view into the file bytes), link-layer header included. */
  data: Uint8Array;
  /** Length of the frame on the wire, bytes (>= data.length when the capture was snapped). */
  origLen: number;
  /** View of `data` at the IP header, or null if the frame is not IPv4/IPv6 (or unreadable). */
  ip: Uint8Array | null;
  /** pcapng interface id within its section (0 for pcap). */
  interfaceId: number;
}

export const LINKTYPE_NULL = 0;
export const LINKTYPE_ETHERNET = 1;
export const LINKTYPE_RAW_OLD = 12; // DLT_RAW on most BSDs
export const LINKTYPE_RAW_OPENBSD = 14; // DLT_RAW on OpenBSD
export const LINKTYPE_RAW = 101;
export const LINKTYPE_LOOP = 108; // OpenBSD loopback: like NULL, AF in network byte order
export const LINKTYPE_LINUX_SLL = 113;
export const LINKTYPE_IPV4 = 228;
export const LINKTYPE_IPV6 = 229;
export const LINKTYPE_LINUX_SLL2 = 276;

const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_IPV6 = 0x86dd;
const ETHERTYPE_VLAN = 0x8100;
const ETHERTYPE_QINQ = 0x88a8;
const ETHERTYPE_PPPOE_SESSION = 0x8864;
const PPP_IPV4 = 0x0021;
const PPP_IPV6 = 0x0057;
/** Most 802.1Q/802.1ad tags skipped in one frame. */
const MAX_VLAN_TAGS = 2;

/**
 * The IP packet inside a link-layer frame: a view of `frame` starting at the IP header, or null
 * when the frame is not IPv4/IPv6 or too short for its link-layer header.
 *
 * - 1 Ethernet: up to 2 VLAN tags (0x8100, 0x88a8), then 0x0800/0x86dd; PPPoE session frames
 *   (0x8864, RFC 2516) carrying PPP IPv4/IPv6 (0x0021/0x0057) are unwrapped too.
 * - 113 Linux SLL (16-byte header, protocol at 14), 276 Linux SLL2 (20 bytes, protocol at 0);
 *   the protocol is read as an ethertype (VLAN tags allowed).
 * - 12, 14, 101 raw IP: the version nibble must be 4 or 6. 228 raw IPv4, 229 raw IPv6: the
 *   whole frame.
 * - 0 BSD null/loopback and 108 OpenBSD loop: a 4-byte address family in the writer's byte order
 *   (guessed: a value above 0xffff is byte-swapped); 2 is IPv4, 24, 28 and 30 are IPv6.
 *
 * Other link types give null. When the link layer says IP, the view is returned even if empty or
 * malformed, so decodeIp can name the problem (ip_truncated, ip_bad_version). The view is not
 * trimmed: decodeIp bounds the packet by its length fields.
 */
export function ipOfFrame(linktype: number, frame: Uint8Array): Uint8Array | null {
  switch (linktype) {
    case LINKTYPE_ETHERNET:
      return frame.length >= 14 ? ipAfterEthertype(frame, 12) : null;
    case LINKTYPE_LINUX_SLL:
      return frame.length >= 16 ? ipAfterEthertype(frame, 14) : null;
    case LINKTYPE_LINUX_SLL2:
      return frame.length >= 20 ? ipOfEthertype(frame, (frame[0] << 8) | frame[1], 20) : null;
    case LINKTYPE_RAW:
    case LINKTYPE_RAW_OLD:
    case LINKTYPE_RAW_OPENBSD:
      return frame.length > 0 && (frame[0] >> 4 === 4 || frame[0] >> 4 === 6) ? frame : null;
    case LINKTYPE_IPV4:
    case LINKTYPE_IPV6:
      return frame;
    case LINKTYPE_NULL:
    case LINKTYPE_LOOP: {
      if (frame.length < 4) return null;
      let af = ((frame[0] << 24) | (frame[1] << 16) | (frame[2] << 8) | frame[3]) >>> 0;
      if (af > 0xffff) af = (frame[3] << 24) | (frame[2] << 16) | (frame[1] << 8) | frame[0];
      return af === 2 || af === 24 || af === 28 || af === 30 ? frame.subarray(4) : null;
    }
    default:
      return null;
  }
}

/** The ethertype at `frame[typeOff]` and what follows it (VLAN tags, PPPoE, IP). */
function ipAfterEthertype(frame: Uint8Array, typeOff: number): Uint8Array | null {
  return ipOfEthertype(frame, (frame[typeOff] << 8) | frame[typeOff + 1], typeOff + 2);
}

/** IP view for ethertype `type` whose payload starts at `frame[off]`. */
function ipOfEthertype(frame: Uint8Array, type: number, off: number): Uint8Array | null {
  let t = type;
  let o = off;
  let n = 0;
  while ((t === ETHERTYPE_VLAN || t === ETHERTYPE_QINQ) && n < MAX_VLAN_TAGS) {
    if (o + 4 > frame.length) return null;
    t = (frame[o + 2] << 8) | frame[o + 3];
    o += 4;
    n++;
  }
  if (t === ETHERTYPE_IPV4 || t === ETHERTYPE_IPV6) return frame.subarray(o);
  if (t === ETHERTYPE_PPPOE_SESSION) {
    // RFC 2516 §4: ver/type, code 0, session id, length; then the PPP protocol (RFC 1661).
    if (o + 8 > frame.length || frame[o] !== 0x11 || frame[o + 1] !== 0) return null;
    const ppp = (frame[o + 6] << 8) | frame[o + 7];
    if (ppp === PPP_IPV4 || ppp === PPP_IPV6) return frame.subarray(o + 8);
  }
  return null;
}
