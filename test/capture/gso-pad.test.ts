/**
 * src/capture/gso-pad.ts: a replacement for a GSO super-packet is padded with zeros to the
 * original's length, with its IP length and checksums rewritten (decodeIp with verification on
 * accepts it), and keeps its TCP header; other packets are left alone.
 */
import { describe, expect, it } from 'vitest';
import { padGsoReplacement } from '../../src/capture/gso-pad.js';
import { decodeIp, pseudoSumV6, transportChecksum, TCP_ACK, TCP_RST } from '../../src/decode/index.js';
import { rstFrom } from '../../src/content/rst.js';
import { ipv4 } from '../helpers/packets.js';

/** A TCP packet of `total` bytes (IPv4 via the test helper; IPv6 built here), zero payload. */
function tcpPacket(family: 4 | 6, total: number, seq: number, ack: number): Uint8Array {
  if (family === 4) return ipv4({ src: '10.0.0.1', dst: '10.0.0.2', sport: 80, dport: 40000, l4: 'tcp', seq, ack, flags: TCP_ACK, payload: new Uint8Array(total - 40) });
  const p = new Uint8Array(total);
  p[0] = 0x60;
  p[4] = (total - 40) >> 8;
  p[5] = (total - 40) & 0xff;
  p[6] = 6;
  p[7] = 64;
  p[23] = 1; // fd00::1
  p[8] = 0xfd;
  p[24] = 0xfd;
  p[39] = 2; // fd00::2
  const dv = new DataView(p.buffer);
  dv.setUint16(40, 80);
  dv.setUint16(42, 40000);
  dv.setUint32(44, seq);
  dv.setUint32(48, ack);
  p[52] = 0x50;
  p[53] = TCP_ACK;
  const ck = transportChecksum(p, 40, total - 40, pseudoSumV6(p, 8, 24, 6, total - 40), 56);
  dv.setUint16(56, ck);
  return p;
}

describe('padGsoReplacement', () => {
  for (const family of [4, 6] as const) {
    it(`IPv${family}: a kill RST padded to a 60,000-byte super-packet stays a valid RST at the same sequence number`, () => {
      const orig = tcpPacket(family, 60_000, 1234, 99);
      const d = decodeIp(orig);
      expect(d.ok).toBe(true);
      if (!d.ok) return;
      const rst = rstFrom(orig, d.pkt, 1234);
      const padded = padGsoReplacement(rst, orig.length);
      expect(padded.length).toBe(orig.length);
      const r = decodeIp(padded, { verifyChecksums: true });
      expect(r.ok, JSON.stringify(r)).toBe(true);
      if (!r.ok) return;
      expect(r.pkt).toMatchObject({ seq: 1234, ack: 99, flags: TCP_RST | TCP_ACK, sport: 80, dport: 40000, ipLen: orig.length });
      expect(r.pkt.payload.every((b) => b === 0)).toBe(true);
    });
  }

  it('leaves packets that are already long enough, and non-TCP ones, alone', () => {
    const p = tcpPacket(4, 50, 1, 1);
    expect(padGsoReplacement(p, p.length)).toBe(p);
    const udp = p.slice();
    udp[9] = 17;
    expect(padGsoReplacement(udp, 5000)).toBe(udp);
  });
});
