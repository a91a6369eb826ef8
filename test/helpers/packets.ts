/**
 * Builds IPv4 TCP/UDP packets with valid checksums for tests (RFC 791, 9293, 768), and writes them
 * as a classic pcap (LINKTYPE_RAW = 101) so replay can read crafted captures.
 * The checksum is computed here independently of src/decode.
 */
import { pcapFileHeader, pcapRecord } from '../../src/observe/pcapexport.js';

export interface Pkt {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  l4: 'tcp' | 'udp';
  seq?: number;
  ack?: number;
  flags?: number;
  payload?: Uint8Array | string;
  ts?: number;
}

const ip4 = (a: string) => a.split('.').map(Number);

function csum(bytes: number[]): number {
  let s = 0;
  for (let i = 0; i < bytes.length; i += 2) s += (bytes[i] << 8) | (bytes[i + 1] ?? 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

/** One IPv4 packet as bytes. */
export function ipv4(p: Pkt): Uint8Array {
  const payload = typeof p.payload === 'string' ? [...Buffer.from(p.payload, 'latin1')] : [...(p.payload ?? [])];
  const proto = p.l4 === 'tcp' ? 6 : 17;
  let l4: number[];
  if (p.l4 === 'tcp') {
    const seq = p.seq ?? 0, ack = p.ack ?? 0;
    l4 = [p.sport >> 8, p.sport & 255, p.dport >> 8, p.dport & 255,
      seq >>> 24, (seq >>> 16) & 255, (seq >>> 8) & 255, seq & 255,
      ack >>> 24, (ack >>> 16) & 255, (ack >>> 8) & 255, ack & 255,
      0x50, p.flags ?? 0x18, 0xff, 0xff, 0, 0, 0, 0, ...payload];
  } else {
    const len = 8 + payload.length;
    l4 = [p.sport >> 8, p.sport & 255, p.dport >> 8, p.dport & 255, len >> 8, len & 255, 0, 0, ...payload];
  }
  const pseudo = [...ip4(p.src), ...ip4(p.dst), 0, proto, l4.length >> 8, l4.length & 255];
  let c = csum([...pseudo, ...l4]);
  if (p.l4 === 'udp' && c === 0) c = 0xffff;
  const ck = p.l4 === 'tcp' ? 16 : 6;
  l4[ck] = c >> 8;
  l4[ck + 1] = c & 255;
  const total = 20 + l4.length;
  const h = [0x45, 0, total >> 8, total & 255, 0, 0, 0x40, 0, 64, proto, 0, 0, ...ip4(p.src), ...ip4(p.dst)];
  const hc = csum(h);
  h[10] = hc >> 8;
  h[11] = hc & 255;
  return Uint8Array.from([...h, ...l4]);
}

/** A classic little-endian pcap (µs timestamps, LINKTYPE_RAW) of the given packets. */
export function pcapOf(pkts: Pkt[]): Uint8Array {
  const parts: Buffer[] = [pcapFileHeader(65535)];
  pkts.forEach((p, i) => parts.push(pcapRecord(ipv4(p), p.ts ?? 1000 + i * 0.001, 65535)));
  return new Uint8Array(Buffer.concat(parts));
}

/** Splits a TCP conversation into packets: SYN, SYN/ACK, ACK, then `msgs` as data segments. */
export function tcpSession(c: string, cp: number, s: string, sp: number, msgs: { dir: 0 | 1; data: string | Uint8Array }[], mss = 1460): Pkt[] {
  let cs = 1000, ss = 5000;
  const out: Pkt[] = [
    { src: c, dst: s, sport: cp, dport: sp, l4: 'tcp', seq: cs, flags: 0x02 },
    { src: s, dst: c, sport: sp, dport: cp, l4: 'tcp', seq: ss, ack: cs + 1, flags: 0x12 },
    { src: c, dst: s, sport: cp, dport: sp, l4: 'tcp', seq: cs + 1, ack: ss + 1, flags: 0x10 },
  ];
  cs++;
  ss++;
  for (const m of msgs) {
    const bytes = typeof m.data === 'string' ? Buffer.from(m.data, 'latin1') : Buffer.from(m.data);
    for (let o = 0; o < bytes.length; o += mss) {
      const chunk = bytes.subarray(o, o + mss);
      if (m.dir === 0) {
        out.push({ src: c, dst: s, sport: cp, dport: sp, l4: 'tcp', seq: cs, ack: ss, flags: 0x18, payload: chunk });
        cs += chunk.length;
      } else {
        out.push({ src: s, dst: c, sport: sp, dport: cp, l4: 'tcp', seq: ss, ack: cs, flags: 0x18, payload: chunk });
        ss += chunk.length;
      }
    }
  }
  return out;
}
