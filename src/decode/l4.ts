/**
 * TCP (RFC 9293 §3.1) and UDP (RFC 768) header decoding for decodeIp. Called with the IP layer
 * already checked: `buf[l4Off, l4End)` is the transport segment as the IP header bounds it.
 * Never throws; bad input gives a named event.
 */
import { foldSum, sumWords } from './checksum.js';
import { flowKeyOf } from './key.js';
import { IpPacket } from './packet.js';
import { IPPROTO_TCP, IPPROTO_UDP, type DecodeResult } from './types.js';

/**
 * Decodes the TCP or UDP header of a packet whose IP layer is already decoded.
 *
 * - `buf[l4Off, l4End)`: the transport bytes (offsets in bytes into the IP packet `buf`).
 * - `family`, `ipLen`: copied into the result as the IP layer found them; `srcOff`: where the
 *   source address is (the destination follows it: IPv4 12/16, IPv6 8/24), read into the binary
 *   flow key (./key.ts); `src`/`dst` text is formatted only when read (./packet.ts).
 * - `proto`: 6 (TCP) or 17 (UDP).
 * - `fragment`: true for a first fragment with more to come (RFC 791 MF, RFC 8200 §4.5 M): ports
 *   are decoded when the fragment holds them, lengths are not checked against the whole datagram
 *   and the checksum is not verified.
 * - `pseudoBase`: unfolded pseudo-header sum without the length term (pseudoSumV4/pseudoSumV6
 *   with length 0), or -1 to skip checksum verification. A zero UDP checksum means "not
 *   computed" over IPv4 (valid) and is invalid over IPv6 (RFC 8200 §8.1).
 *
 * Events: tcp_truncated (fewer than 20 bytes), tcp_bad_offset (data offset < 5 or past the
 * segment), udp_truncated (fewer than 8 bytes), udp_bad_length (length field < 8 or larger than
 * the IP payload; a shorter length trims the payload, as Linux does), tcp_bad_checksum,
 * udp_bad_checksum.
 */
export function decodeL4(
  buf: Uint8Array,
  family: 4 | 6,
  srcOff: number,
  proto: number,
  l4Off: number,
  l4End: number,
  ipLen: number,
  fragment: boolean,
  pseudoBase: number,
): DecodeResult {
  const avail = l4End - l4Off;
  if (proto === IPPROTO_TCP) {
    if (avail < 20) {
      // A tiny first fragment (RFC 1858): ports only; callers see `fragment`.
      if (fragment && avail >= 4) return portsOnly(buf, family, srcOff, proto, l4Off, l4End, ipLen);
      return { ok: false, event: 'tcp_truncated' };
    }
    const hlen = (buf[l4Off + 12] >> 4) * 4;
    if (hlen < 20) return { ok: false, event: 'tcp_bad_offset' };
    if (hlen > avail) {
      if (fragment) return portsOnly(buf, family, srcOff, proto, l4Off, l4End, ipLen);
      return { ok: false, event: 'tcp_bad_offset' };
    }
    if (!fragment && pseudoBase >= 0) {
      const s = sumWords(buf, l4Off, l4End, pseudoBase + (avail >>> 16) + (avail & 0xffff));
      if (foldSum(s) !== 0xffff) return { ok: false, event: 'tcp_bad_checksum' };
    }
    const sport = (buf[l4Off] << 8) | buf[l4Off + 1];
    const dport = (buf[l4Off + 2] << 8) | buf[l4Off + 3];
    const { key, fwd } = flowKeyOf(buf, srcOff, family === 4 ? 4 : 16, sport, dport, proto);
    const seq = ((buf[l4Off + 4] << 24) | (buf[l4Off + 5] << 16) | (buf[l4Off + 6] << 8) | buf[l4Off + 7]) >>> 0;
    const ack = ((buf[l4Off + 8] << 24) | (buf[l4Off + 9] << 16) | (buf[l4Off + 10] << 8) | buf[l4Off + 11]) >>> 0;
    const pkt = new IpPacket(buf, srcOff, family, proto, 'tcp', sport, dport, key, fwd, ipLen, seq, ack, buf[l4Off + 13], buf.subarray(l4Off + hlen, l4End), fragment);
    return { ok: true, pkt };
  }
  if (proto === IPPROTO_UDP) {
    if (fragment && avail >= 4 && avail < 8) return portsOnly(buf, family, srcOff, proto, l4Off, l4End, ipLen);
    if (avail < 8) return { ok: false, event: 'udp_truncated' };
    const ulen = (buf[l4Off + 4] << 8) | buf[l4Off + 5];
    let end = l4End;
    if (fragment) {
      // The length covers the whole datagram; the first fragment can only be a prefix of it.
      if (ulen < avail) return { ok: false, event: 'udp_bad_length' };
    } else {
      if (ulen < 8 || ulen > avail) return { ok: false, event: 'udp_bad_length' };
      end = l4Off + ulen;
      if (pseudoBase >= 0) {
        const ck = (buf[l4Off + 6] << 8) | buf[l4Off + 7];
        if (ck === 0) {
          if (family === 6) return { ok: false, event: 'udp_bad_checksum' };
        } else if (foldSum(sumWords(buf, l4Off, end, pseudoBase + ulen)) !== 0xffff) {
          return { ok: false, event: 'udp_bad_checksum' };
        }
      }
    }
    const sport = (buf[l4Off] << 8) | buf[l4Off + 1];
    const dport = (buf[l4Off + 2] << 8) | buf[l4Off + 3];
    const { key, fwd } = flowKeyOf(buf, srcOff, family === 4 ? 4 : 16, sport, dport, proto);
    const pkt = new IpPacket(buf, srcOff, family, proto, 'udp', sport, dport, key, fwd, ipLen, 0, 0, 0, buf.subarray(l4Off + 8, end), fragment);
    return { ok: true, pkt };
  }
  return { ok: false, event: 'not_tcp_udp', ignorable: true };
}

/** A first-fragment result carrying only the ports: the rest of the header is in a later fragment. */
function portsOnly(
  buf: Uint8Array,
  family: 4 | 6,
  srcOff: number,
  proto: number,
  l4Off: number,
  l4End: number,
  ipLen: number,
): DecodeResult {
  const sport = (buf[l4Off] << 8) | buf[l4Off + 1];
  const dport = (buf[l4Off + 2] << 8) | buf[l4Off + 3];
  const { key, fwd } = flowKeyOf(buf, srcOff, family === 4 ? 4 : 16, sport, dport, proto);
  const l4 = proto === IPPROTO_TCP ? 'tcp' : 'udp';
  return { ok: true, pkt: new IpPacket(buf, srcOff, family, proto, l4, sport, dport, key, fwd, ipLen, 0, 0, 0, buf.subarray(l4End, l4End), true) };
}
