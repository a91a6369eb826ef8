/**
 * Deterministic packet fuzzer for replay tests (issue 14: "200,000 fuzzed packets replay in CI").
 * A seeded PRNG (mulberry32) picks, per packet, one of:
 *  - a real packet (the IP part of a frame of the shared captures) with bits flipped, mostly in its
 *    headers, sometimes also cut short;
 *  - an IPv4 TCP/UDP packet with lying headers: IHL, total length, fragment fields, protocol, TCP data
 *    offset, UDP length drawn at random;
 *  - an IPv6 packet behind a chain of 0–12 extension headers (hop-by-hop, routing, fragment,
 *    destination options, AH, mobility, HIP, shim6) of random lengths, some truncated, with a lying
 *    payload length now and then;
 *  - a valid packet truncated at a random length (0 included);
 *  - random bytes (version nibble 4, 6 or anything).
 * Written as a classic pcap with LINKTYPE_RAW (101): every record is one IP packet.
 */
import fs from 'node:fs';
import { readCaptureFile } from '../../src/capture/pcap.js';
import { pcapFileHeader, pcapRecord } from '../../src/observe/pcapexport.js';
import { rng } from './rng.js';

/** The IP parts of every frame of `files` that has one (copies). */
export function realPackets(files: readonly string[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const f of files) for (const r of readCaptureFile(f)) if (r.ip && r.ip.length >= 20) out.push(r.ip.slice());
  return out;
}

/** What `fuzzPackets` made, by generator. */
export type FuzzKind = 'bitflip' | 'ipv4-lying' | 'ipv6-ext' | 'truncated' | 'random';

const EXT = [0, 43, 44, 60, 51, 135, 139, 140] as const;

export class Fuzzer {
  readonly made: Record<FuzzKind, number> = { bitflip: 0, 'ipv4-lying': 0, 'ipv6-ext': 0, truncated: 0, random: 0 };
  private readonly r: () => number;

  constructor(seed: number, private readonly real: readonly Uint8Array[]) {
    this.r = rng(seed);
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.r() * n);
  }

  private bytes(n: number): Uint8Array {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }

  /** One fuzzed IP packet. */
  next(): Uint8Array {
    const x = this.r();
    if (x < 0.35 && this.real.length) return this.count('bitflip', this.bitflip());
    if (x < 0.55) return this.count('ipv4-lying', this.ipv4Lying());
    if (x < 0.75) return this.count('ipv6-ext', this.ipv6Ext());
    if (x < 0.9) return this.count('truncated', this.truncated());
    return this.count('random', this.random());
  }

  private count(k: FuzzKind, p: Uint8Array): Uint8Array {
    this.made[k]++;
    return p;
  }

  private bitflip(): Uint8Array {
    const p = this.real[this.int(this.real.length)].slice();
    const flips = 1 + this.int(8);
    for (let i = 0; i < flips; i++) {
      const off = this.r() < 0.7 ? this.int(Math.min(p.length, 64)) : this.int(p.length);
      p[off] ^= 1 << this.int(8);
    }
    return this.r() < 0.15 ? p.subarray(0, this.int(p.length + 1)) : p;
  }

  /** A TCP (20–60 byte header) or UDP header with payload, fields drawn at random where they may lie. */
  private l4(proto: number, payloadLen: number): Uint8Array {
    const tcp = proto === 6;
    const hl = tcp ? 20 + 4 * this.int(11) : 8;
    const b = this.bytes(hl + payloadLen);
    if (tcp) b[12] = (this.r() < 0.6 ? hl / 4 : this.int(16)) << 4;
    else {
      const ulen = this.r() < 0.6 ? b.length : this.int(0x10000);
      b[4] = ulen >> 8;
      b[5] = ulen & 0xff;
    }
    return b;
  }

  private ipv4Lying(): Uint8Array {
    const protos = [6, 17, 6, 17, 1, 47, this.int(256)];
    const proto = protos[this.int(protos.length)];
    const optLen = this.r() < 0.7 ? 0 : 4 * this.int(11);
    const body = this.l4(proto, this.int(200));
    const p = new Uint8Array(20 + optLen + body.length);
    p.set(this.bytes(optLen), 20);
    p.set(body, 20 + optLen);
    const ihl = this.r() < 0.6 ? (20 + optLen) / 4 : this.int(16);
    p[0] = 0x40 | ihl;
    const total = this.r() < 0.6 ? p.length : this.int(0x10000);
    p[2] = total >> 8;
    p[3] = total & 0xff;
    const frag = this.r() < 0.8 ? 0x4000 : this.int(0x10000); // DF, or MF/offset at random
    p[6] = frag >> 8;
    p[7] = frag & 0xff;
    p[8] = 64;
    p[9] = proto;
    for (let i = 12; i < 20; i++) p[i] = this.int(256);
    return p;
  }

  private ipv6Ext(): Uint8Array {
    const chain: number[] = [];
    const n = this.int(13);
    for (let i = 0; i < n; i++) chain.push(EXT[this.int(EXT.length)]);
    const last = [6, 17, 6, 17, 58, 59, this.int(256)][this.int(7)];
    const parts: Uint8Array[] = [];
    for (let i = 0; i < chain.length; i++) {
      const next = i + 1 < chain.length ? chain[i + 1] : last;
      const t = chain[i];
      // Fragment headers are 8 bytes; AH counts 4-byte units minus 2; the others 8-byte units minus 1.
      const h = t === 44 ? this.bytes(8) : t === 51 ? this.bytes(4 * (2 + this.int(6))) : this.bytes(8 * (1 + this.int(4)));
      h[0] = next;
      if (t === 51) h[1] = h.length / 4 - 2;
      else if (t !== 44) h[1] = h.length / 8 - 1;
      if (t === 44 && this.r() < 0.7) h[2] = h[3] = 0; // offset 0 (first fragment) mostly
      if (this.r() < 0.1) h[1] = this.int(256); // a lying length
      parts.push(h);
    }
    parts.push(last === 6 || last === 17 ? this.l4(last, this.int(120)) : this.bytes(this.int(40)));
    const payload = parts.reduce((s, x) => s + x.length, 0);
    const p = new Uint8Array(40 + payload);
    p.set(this.bytes(40));
    p[0] = 0x60;
    const plen = this.r() < 0.8 ? payload : this.int(0x10000);
    p[4] = plen >> 8;
    p[5] = plen & 0xff;
    p[6] = chain.length ? chain[0] : last;
    let off = 40;
    for (const x of parts) {
      p.set(x, off);
      off += x.length;
    }
    return this.r() < 0.2 ? p.subarray(0, this.int(p.length)) : p;
  }

  private truncated(): Uint8Array {
    const src = this.real.length && this.r() < 0.5 ? this.real[this.int(this.real.length)] : this.r() < 0.5 ? this.ipv4Lying() : this.ipv6Ext();
    return src.slice(0, this.int(src.length + 1));
  }

  private random(): Uint8Array {
    const p = this.bytes(this.int(100));
    const v = this.r();
    if (p.length && v < 0.8) p[0] = (v < 0.4 ? 0x40 : 0x60) | (p[0] & 0x0f); // IPv4 or IPv6 nibble; else any
    return p;
  }
}

/**
 * Writes `count` fuzzed packets as a LINKTYPE_RAW pcap at `file`, timestamps from `t0` seconds
 * 1 ms apart (with a 100 s jump every 20,000 packets, so idle flows expire mid-file).
 * @returns how many packets each generator made
 */
export function writeFuzzPcap(file: string, count: number, seed: number, real: readonly Uint8Array[], t0 = 1_700_000_000): Record<FuzzKind, number> {
  const fz = new Fuzzer(seed, real);
  const fd = fs.openSync(file, 'w');
  try {
    fs.writeSync(fd, pcapFileHeader(65535));
    let chunk: Buffer[] = [];
    let size = 0;
    let us = 0;
    for (let i = 0; i < count; i++) {
      us += 1000 + (i > 0 && i % 20_000 === 0 ? 100_000_000 : 0);
      const p = fz.next();
      chunk.push(pcapRecord(p, t0 + us / 1e6, 65535));
      size += 16 + p.length;
      if (size > 1 << 20) {
        fs.writeSync(fd, Buffer.concat(chunk));
        chunk = [];
        size = 0;
      }
    }
    fs.writeSync(fd, Buffer.concat(chunk));
  } finally {
    fs.closeSync(fd);
  }
  return fz.made;
}
