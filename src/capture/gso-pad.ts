/**
 * Replacing a GSO super-packet (NFQA_SKB_GSO) with a shorter TCP packet, e.g. the kill RST of
 * src/content/rst.ts, needs care: the kernel keeps the skb's GSO size and type and marks the new
 * bytes CHECKSUM_NONE (nfqnl_mangle), and at transmission a GSO skb that is not CHECKSUM_PARTIAL is
 * segmented in software, where tcp_gso_segment refuses (and the stack drops) one whose payload is
 * not larger than one segment. So the replacement is padded with zero bytes to the original's
 * length: the kernel then cuts it into segments that all carry the replacement's flags; the first
 * one (sequence number = the receiver's RCV.NXT for the kill RST) does the work, the receiver
 * discards the others (RFC 9293: data in a RST is not delivered). Checksums are recomputed.
 */
import { internetChecksum, pseudoSumV4, pseudoSumV6, transportChecksum } from '../decode/checksum.js';

/**
 * `pkt` padded to `origLen` bytes when it is a TCP packet (IPv4, or IPv6 without extension
 * headers) shorter than that; else `pkt` itself.
 * @param pkt the replacement, from its IP header on, checksums valid
 * @param origLen the length of the GSO packet it replaces, bytes (at most 65535)
 * @returns a new packet: IP total/payload length and IPv4 header checksum updated, TCP payload
 *   extended by zero bytes, TCP checksum recomputed
 */
export function padGsoReplacement(pkt: Uint8Array, origLen: number): Uint8Array {
  if (pkt.length >= origLen || origLen > 0xffff || pkt.length < 20) return pkt;
  const v = pkt[0] >> 4;
  if (v === 4) {
    const ihl = (pkt[0] & 0x0f) * 4;
    if (pkt[9] !== 6 || pkt.length < ihl + 20) return pkt;
    const out = new Uint8Array(origLen);
    out.set(pkt);
    out[2] = origLen >> 8;
    out[3] = origLen & 0xff;
    out[10] = 0;
    out[11] = 0;
    const hc = internetChecksum(out, 0, ihl);
    out[10] = hc >> 8;
    out[11] = hc & 0xff;
    const l4 = origLen - ihl;
    const ck = transportChecksum(out, ihl, l4, pseudoSumV4(out, 12, 16, 6, l4), ihl + 16);
    out[ihl + 16] = ck >> 8;
    out[ihl + 17] = ck & 0xff;
    return out;
  }
  if (v === 6) {
    if (pkt[6] !== 6 || pkt.length < 60) return pkt;
    const out = new Uint8Array(origLen);
    out.set(pkt);
    const l4 = origLen - 40;
    out[4] = l4 >> 8;
    out[5] = l4 & 0xff;
    const ck = transportChecksum(out, 40, l4, pseudoSumV6(out, 8, 24, 6, l4), 56);
    out[56] = ck >> 8;
    out[57] = ck & 0xff;
    return out;
  }
  return pkt;
}
