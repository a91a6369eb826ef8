/**
 * Rewrites a queued TCP packet into a RST toward its receiver (RFC 9293 §3.10.7.4, RFC 5961 §3.2:
 * a RST whose sequence number is exactly the receiver's next expected one is accepted at once). The
 * daemon returns it with the offending packet's id, so the data is never delivered and the
 * receiver's end of the connection is reset at once; the kernel's REJECT on the kill connmark
 * resets the sender on its next packet. Together: "drop the packet, reset both ends".
 */
import type { DecodedPacket } from '../decode/types.js';
import { TCP_ACK, TCP_RST } from '../decode/types.js';
import { internetChecksum, pseudoSumV4, pseudoSumV6, transportChecksum } from '../decode/checksum.js';

/**
 * Builds the RST packet (no options, no payload) from the IP packet `ip` that `pkt` was decoded from.
 * @param seq sequence number to carry: the receiver's RCV.NXT (default pkt.seq). RFC 5961 §3.2:
 *   only a RST whose sequence number is exactly RCV.NXT resets at once; others draw a challenge ACK
 * @returns IPv4 (20 + 20 bytes) or IPv6 (40 + 20 bytes) packet; addresses and ports as in `ip`,
 *   seq as above, ack = pkt.ack, flags RST|ACK, valid checksums
 */
export function rstFrom(ip: Uint8Array, pkt: DecodedPacket, seq: number = pkt.seq): Uint8Array {
  const v6 = pkt.family === 6;
  const ipLen = v6 ? 40 : 20;
  const out = new Uint8Array(ipLen + 20);
  if (v6) {
    out[0] = 0x60;
    out[4] = 0;
    out[5] = 20; // payload length
    out[6] = 6; // next header: TCP (extension headers are not copied)
    out[7] = ip[7]; // hop limit
    out.set(ip.subarray(8, 40), 8);
  } else {
    out[0] = 0x45;
    out[2] = 0;
    out[3] = 40;
    out[6] = 0x40; // DF
    out[8] = ip[8]; // TTL
    out[9] = 6;
    out.set(ip.subarray(12, 20), 12);
    const hc = internetChecksum(out, 0, 20);
    out[10] = hc >> 8;
    out[11] = hc & 0xff;
  }
  const t = ipLen;
  out[t] = pkt.sport >> 8;
  out[t + 1] = pkt.sport & 0xff;
  out[t + 2] = pkt.dport >> 8;
  out[t + 3] = pkt.dport & 0xff;
  const w32 = (o: number, v: number) => {
    out[o] = v >>> 24;
    out[o + 1] = (v >>> 16) & 0xff;
    out[o + 2] = (v >>> 8) & 0xff;
    out[o + 3] = v & 0xff;
  };
  w32(t + 4, seq >>> 0);
  w32(t + 8, pkt.ack >>> 0);
  out[t + 12] = 0x50;
  out[t + 13] = TCP_RST | TCP_ACK;
  const pseudo = v6 ? pseudoSumV6(out, 8, 24, 6, 20) : pseudoSumV4(out, 12, 16, 6, 20);
  const ck = transportChecksum(out, t, 20, pseudo, t + 16);
  out[t + 16] = ck >> 8;
  out[t + 17] = ck & 0xff;
  return out;
}
