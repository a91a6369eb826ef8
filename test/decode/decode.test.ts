import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import {
  decodeIp,
  DECODE_EVENTS,
  formatIpv4,
  formatIpv6,
  internetChecksum,
  pseudoSumV4,
  pseudoSumV6,
  transportChecksum,
  transportChecksumOk,
  IPV6_MAX_EXT_HEADERS,
  type DecodeResult,
  type DecodedPacket,
} from '../../src/decode/index.js';

// ---- Packet builders. Checksums use this reference code, not src/decode/checksum.ts. ----

/** RFC 1071 checksum of `bytes`, written the slow, obvious way. */
function refChecksum(bytes: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < bytes.length; i += 2) s += (bytes[i] << 8) + (i + 1 < bytes.length ? bytes[i + 1] : 0);
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 65536);
  return ~s & 0xffff;
}
const be16 = (v: number): number[] => [(v >> 8) & 0xff, v & 0xff];
const be32 = (v: number): number[] => [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
const text = (s: string): number[] => [...Buffer.from(s)];

function tcp(o: { sport?: number; dport?: number; seq?: number; ack?: number; flags?: number; opts?: number[]; payload?: number[] } = {}): number[] {
  const opts = o.opts ?? [];
  const doff = 5 + opts.length / 4;
  return [
    ...be16(o.sport ?? 51413), ...be16(o.dport ?? 6881), ...be32(o.seq ?? 0xdeadbeef), ...be32(o.ack ?? 0x01020304),
    doff << 4, o.flags ?? 0x18, ...be16(65535), 0, 0, 0, 0, ...opts, ...(o.payload ?? text('BitTorrent protocol')),
  ];
}
function udp(o: { sport?: number; dport?: number; payload?: number[]; len?: number } = {}): number[] {
  const payload = o.payload ?? text('d1:ad2:id20:');
  return [...be16(o.sport ?? 5353), ...be16(o.dport ?? 53), ...be16(o.len ?? 8 + payload.length), 0, 0, ...payload];
}
/** Writes the L4 checksum of `l4` (TCP at 16, UDP at 6) given the pseudo-header bytes. */
function fillL4(l4: number[], proto: number, pseudo: number[]): number[] {
  const out = [...l4];
  const at = proto === 6 ? 16 : 6;
  let ck = refChecksum([...pseudo, ...out]);
  if (proto === 17 && ck === 0) ck = 0xffff;
  out[at] = ck >> 8;
  out[at + 1] = ck & 0xff;
  return out;
}

const SRC4 = [192, 168, 1, 3];
const DST4 = [82, 58, 216, 115];
interface V4Opts { proto?: number; src?: number[]; dst?: number[]; options?: number[]; frag?: number; noL4Checksum?: boolean; total?: number }
function v4(l4: number[], o: V4Opts = {}): Uint8Array {
  const proto = o.proto ?? 6;
  const src = o.src ?? SRC4;
  const dst = o.dst ?? DST4;
  const body = (proto === 6 || proto === 17) && !o.noL4Checksum
    ? fillL4(l4, proto, [...src, ...dst, 0, proto, ...be16(l4.length)]) : l4;
  const options = o.options ?? [];
  const hl = 20 + options.length;
  const h = [0x40 | (hl / 4), 0, ...be16(o.total ?? hl + body.length), 0x12, 0x34, ...be16(o.frag ?? 0x4000), 64, proto, 0, 0, ...src, ...dst, ...options];
  const ck = refChecksum(h);
  h[10] = ck >> 8;
  h[11] = ck & 0xff;
  return Uint8Array.from([...h, ...body]);
}

const SRC6 = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
const DST6 = [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0xc5, 0x0d, 0x51, 0x9f, 0x96, 0xa4, 0xe1, 0x08];
/** An extension header: `type` and body (without its next-header byte, which the builder adds). */
type Ext = { type: number; body: number[] };
const hbh = (): Ext => ({ type: 0, body: [0, 1, 4, 0, 0, 0, 0] }); // PadN option, length byte 0
const dstopts = (): Ext => ({ type: 60, body: [0, 1, 4, 0, 0, 0, 0] });
const fragHdr = (offset: number, more: boolean): Ext => ({ type: 44, body: [0, ...be16((offset << 3) | (more ? 1 : 0)), 0, 0, 0, 9] });
const ah = (): Ext => ({ type: 51, body: [2, 0, 0, ...be32(0x100), ...be32(1), 0xa, 0xb, 0xc, 0xd] }); // (2+2)*4 = 16 bytes
function v6(l4: number[], o: { proto?: number; ext?: Ext[]; pseudoDst?: number[]; noL4Checksum?: boolean; plen?: number } = {}): Uint8Array {
  const proto = o.proto ?? 6;
  const ext = o.ext ?? [];
  const body = (proto === 6 || proto === 17) && !o.noL4Checksum
    ? fillL4(l4, proto, [...SRC6, ...(o.pseudoDst ?? DST6), ...be32(l4.length), 0, 0, 0, proto]) : l4;
  const chain: number[] = [];
  ext.forEach((e, i) => chain.push(i + 1 < ext.length ? ext[i + 1].type : proto, ...e.body));
  const first = ext.length > 0 ? ext[0].type : proto;
  const plen = o.plen ?? chain.length + body.length;
  return Uint8Array.from([0x60, 0, 0, 0, ...be16(plen), first, 64, ...SRC6, ...DST6, ...chain, ...body]);
}

function pkt(r: DecodeResult): DecodedPacket {
  if (!r.ok) throw new Error(`expected a packet, got event ${r.event}`);
  return r.pkt;
}
const ev = (r: DecodeResult): string => (r.ok ? 'ok' : r.event);
const str = (u: Uint8Array): string => Buffer.from(u).toString();

// ---- Tests ----

describe('checksum', () => {
  it('matches the RFC 1071 §3 example and the reference code', () => {
    const bytes = Uint8Array.from([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]);
    expect(internetChecksum(bytes)).toBe(0x220d);
    const odd = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    expect(internetChecksum(odd)).toBe(refChecksum(odd));
    expect(internetChecksum(odd, 2, 9)).toBe(refChecksum(odd.subarray(2, 9)));
    const big = Uint8Array.from({ length: 65535 }, () => 0xff);
    expect(internetChecksum(big)).toBe(refChecksum(big));
  });
  it('pseudo-header helpers agree with the builders', () => {
    const p4 = v4(tcp());
    const ps4 = pseudoSumV4(p4, 12, 16, 6, p4.length - 20);
    expect(transportChecksumOk(p4, 20, p4.length - 20, ps4)).toBe(true);
    expect(transportChecksum(p4, 20, p4.length - 20, ps4, 36)).toBe((p4[36] << 8) | p4[37]);
    const p6 = v6(udp({ payload: [] }), { proto: 17 });
    const ps6 = pseudoSumV6(p6, 8, 24, 17, 8);
    expect(transportChecksumOk(p6, 40, 8, ps6)).toBe(true);
    expect(transportChecksum(p6, 40, 8, ps6, 46, true)).toBe((p6[46] << 8) | p6[47]);
    p6[47] ^= 1;
    expect(transportChecksumOk(p6, 40, 8, ps6)).toBe(false);
  });
});

describe('decodeIp: valid packets', () => {
  it('decodes IPv4 TCP', () => {
    const p = pkt(decodeIp(v4(tcp({ seq: 0xfffffffe, ack: 0x80000000, flags: 0x12 }))));
    expect(p).toMatchObject({ family: 4, src: '192.168.1.3', dst: '82.58.216.115', proto: 6, l4: 'tcp', sport: 51413, dport: 6881, seq: 0xfffffffe, ack: 0x80000000, flags: 0x12, fragment: false, ipLen: 59 });
    expect(str(p.payload)).toBe('BitTorrent protocol');
  });
  it('decodes IPv4 with IP options and TCP with options, ignoring Ethernet padding', () => {
    const base = v4(tcp({ opts: [2, 4, 5, 0xb4, 1, 1, 4, 2, 1, 1, 1, 0], payload: text('hi') }), { options: [1, 1, 1, 0] });
    const padded = Uint8Array.from([...base, 0, 0, 0, 0, 0, 0]);
    const p = pkt(decodeIp(padded));
    expect(p.ipLen).toBe(base.length);
    expect(str(p.payload)).toBe('hi');
  });
  it('decodes IPv4 UDP; checksum 0 means "not computed" over IPv4', () => {
    const p = pkt(decodeIp(v4(udp(), { proto: 17 })));
    expect(p).toMatchObject({ l4: 'udp', proto: 17, sport: 5353, dport: 53, seq: 0, ack: 0, flags: 0 });
    expect(str(p.payload)).toBe('d1:ad2:id20:');
    expect(decodeIp(v4(udp(), { proto: 17, noL4Checksum: true })).ok).toBe(true);
  });
  it('decodes IPv6 TCP and UDP; UDP checksum 0 is invalid over IPv6', () => {
    const t = pkt(decodeIp(v6(tcp())));
    expect(t).toMatchObject({ family: 6, src: '2001:db8::1', dst: 'fe80::c50d:519f:96a4:e108', l4: 'tcp', ipLen: 40 + 39 });
    const u = pkt(decodeIp(v6(udp(), { proto: 17 })));
    expect(u.l4).toBe('udp');
    expect(ev(decodeIp(v6(udp(), { proto: 17, noL4Checksum: true })))).toBe('udp_bad_checksum');
    expect(decodeIp(v6(udp(), { proto: 17, noL4Checksum: true }), { verifyChecksums: false }).ok).toBe(true);
  });
  it('trims the UDP payload to the UDP length (as Linux does)', () => {
    const p = pkt(decodeIp(v4(udp({ payload: text('abcdef'), len: 10 }), { proto: 17, noL4Checksum: true }), { verifyChecksums: false }));
    expect(str(p.payload)).toBe('ab');
  });
  it('walks IPv6 extension headers and uses the final destination of a routing header', () => {
    const home = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x99];
    const rh2: Ext = { type: 43, body: [2, 2, 1, 0, 0, 0, 0, ...home] }; // type 2, segments left 1
    const p = pkt(decodeIp(v6(tcp(), { ext: [hbh(), dstopts(), rh2, ah(), dstopts()], pseudoDst: home })));
    expect(p.dst).toBe('fe80::c50d:519f:96a4:e108');
    expect(str(p.payload)).toBe('BitTorrent protocol');
    // The same packet checksummed over the header's destination is wrong.
    expect(ev(decodeIp(v6(tcp(), { ext: [hbh(), rh2] })))).toBe('tcp_bad_checksum');
  });
});

describe('decodeIp: truncation never throws', () => {
  const valid: Record<string, Uint8Array> = {
    v4tcp: v4(tcp({ opts: [1, 1, 1, 0] })),
    v4udp: v4(udp(), { proto: 17 }),
    v6tcp: v6(tcp()),
    v6udp: v6(udp(), { proto: 17 }),
    v6ext: v6(tcp(), { ext: [hbh(), fragHdr(0, false), ah()] }),
  };
  for (const [name, buf] of Object.entries(valid)) {
    it(`every prefix of ${name} is an event`, () => {
      expect(decodeIp(buf).ok).toBe(true);
      for (let n = 0; n < buf.length; n++) {
        const r = decodeIp(buf.subarray(0, n));
        const want = n === 0 ? 'ip_truncated' : buf[0] >> 4 === 4 ? 'ipv4_truncated' : 'ipv6_truncated';
        expect(ev(r), `prefix ${n}`).toBe(want);
      }
    });
  }
  it('every L4 prefix with consistent IP lengths is an event', () => {
    const t = tcp({ opts: [1, 1, 1, 0] });
    for (let k = 0; k < t.length; k++) {
      const r4 = decodeIp(v4(t.slice(0, k), { noL4Checksum: true }));
      const r6 = decodeIp(v6(t.slice(0, k), { noL4Checksum: true }));
      const want = k < 20 ? 'tcp_truncated' : k < 24 ? 'tcp_bad_offset' : 'tcp_bad_checksum';
      expect([ev(r4), ev(r6)], `tcp ${k}`).toEqual([want, want]);
    }
    const u = udp();
    for (let k = 0; k < u.length; k++) {
      const r = decodeIp(v4(u.slice(0, k), { proto: 17, noL4Checksum: true }));
      expect(ev(r), `udp ${k}`).toBe(k < 8 ? 'udp_truncated' : 'udp_bad_length');
    }
    const withExt = v6(tcp(), { ext: [hbh(), ah()] });
    for (let k = 40; k < 40 + 24; k++) {
      const cut = Uint8Array.from(withExt.subarray(0, k));
      cut[4] = 0;
      cut[5] = k - 40;
      expect(ev(decodeIp(cut)), `ext ${k}`).toBe('ipv6_ext_truncated');
    }
  });
});

describe('decodeIp: corrupted fields give named events', () => {
  const good4 = v4(tcp());
  const mut = (buf: Uint8Array, f: (b: Uint8Array) => void, fixIpCk = true): Uint8Array => {
    const b = Uint8Array.from(buf);
    f(b);
    if (fixIpCk && b[0] >> 4 === 4) {
      b[10] = b[11] = 0;
      const ck = refChecksum(b.subarray(0, (b[0] & 15) * 4));
      b[10] = ck >> 8;
      b[11] = ck & 0xff;
    }
    return b;
  };
  it('IP version and IHL', () => {
    expect(ev(decodeIp(mut(good4, (b) => (b[0] = 0x55))))).toBe('ip_bad_version');
    expect(ev(decodeIp(mut(good4, (b) => (b[0] = 0x44)), { verifyChecksums: false }))).toBe('ipv4_bad_ihl');
    expect(ev(decodeIp(mut(good4, (b) => (b[0] = 0x4f)), { verifyChecksums: false }))).toBe('ipv4_bad_ihl');
    expect(ev(decodeIp(mut(good4, (b) => (b[2] = b[3] = 0)), { verifyChecksums: false }))).toBe('ipv4_bad_ihl');
    expect(ev(decodeIp(mut(good4, (b) => (b[3] += 1))))).toBe('ipv4_truncated');
    expect(ev(decodeIp(mut(Uint8Array.from([0x60, ...new Array(39).fill(0)]), (b) => (b[5] = 1))))).toBe('ipv6_truncated');
  });
  it('TCP data offset and UDP length', () => {
    expect(ev(decodeIp(mut(good4, (b) => (b[32] = 0x40)), { verifyChecksums: false }))).toBe('tcp_bad_offset');
    expect(ev(decodeIp(mut(good4, (b) => (b[32] = 0xf0)), { verifyChecksums: false }))).toBe('tcp_bad_offset');
    const u = v4(udp(), { proto: 17 });
    expect(ev(decodeIp(mut(u, (b) => (b[25] = 7)), { verifyChecksums: false }))).toBe('udp_bad_length');
    expect(ev(decodeIp(mut(u, (b) => (b[25] += 1)), { verifyChecksums: false }))).toBe('udp_bad_length');
  });
  it('bad checksums, and verifyChecksums: false', () => {
    expect(ev(decodeIp(mut(good4, (b) => (b[8] = 1), false)))).toBe('ipv4_bad_header_checksum');
    expect(ev(decodeIp(mut(good4, (b) => (b[45] ^= 0x20))))).toBe('tcp_bad_checksum');
    expect(ev(decodeIp(mut(v4(udp(), { proto: 17 }), (b) => (b[30] ^= 1))))).toBe('udp_bad_checksum');
    expect(ev(decodeIp(mut(v6(tcp()), (b) => (b[70] ^= 1))))).toBe('tcp_bad_checksum');
    expect(ev(decodeIp(mut(v6(udp(), { proto: 17 }), (b) => (b[50] ^= 1))))).toBe('udp_bad_checksum');
    expect(ev(decodeIp(mut(v4(tcp()), (b) => (b[14] ^= 1))))).toBe('tcp_bad_checksum'); // pseudo-header source
    expect(decodeIp(mut(good4, (b) => ((b[8] = 1), (b[45] ^= 0x20)), false), { verifyChecksums: false }).ok).toBe(true);
  });
  it('non-TCP/UDP is ignorable', () => {
    expect(decodeIp(v4([8, 0, 0, 0, 0, 1, 0, 1], { proto: 1 }))).toEqual({ ok: false, event: 'not_tcp_udp', ignorable: true });
    expect(decodeIp(v6([128, 0, 0, 0], { proto: 58 }))).toEqual({ ok: false, event: 'not_tcp_udp', ignorable: true });
    expect(decodeIp(v6([0, 0, 0, 1, 0, 0, 0, 1], { proto: 50, ext: [hbh()] }))).toEqual({ ok: false, event: 'not_tcp_udp', ignorable: true });
    expect(decodeIp(v6([], { proto: 59, ext: [dstopts()] }))).toEqual({ ok: false, event: 'not_tcp_udp', ignorable: true });
  });
});

describe('decodeIp: fragments and extension-header limits', () => {
  it('IPv4 non-first fragment is ignorable; first fragment decodes ports without L4 checksum', () => {
    expect(decodeIp(v4(tcp(), { frag: 0x2000 | 3 }))).toEqual({ ok: false, event: 'ip_fragment', ignorable: true });
    expect(decodeIp(v4(tcp(), { frag: 1 }))).toEqual({ ok: false, event: 'ip_fragment', ignorable: true });
    const first = pkt(decodeIp(v4(tcp(), { frag: 0x2000, noL4Checksum: true })));
    expect(first).toMatchObject({ fragment: true, sport: 51413, dport: 6881, seq: 0xdeadbeef });
    const tiny = pkt(decodeIp(v4(tcp().slice(0, 8), { frag: 0x2000, noL4Checksum: true })));
    expect(tiny).toMatchObject({ fragment: true, sport: 51413, dport: 6881, seq: 0 });
    expect(tiny.payload.length).toBe(0);
    const uf = pkt(decodeIp(v4(udp({ len: 1000 }), { proto: 17, frag: 0x2000, noL4Checksum: true })));
    expect(uf).toMatchObject({ fragment: true, l4: 'udp', dport: 53 });
    expect(ev(decodeIp(v4(tcp().slice(0, 3), { frag: 0x2000, noL4Checksum: true })))).toBe('tcp_truncated');
  });
  it('IPv6 fragment header', () => {
    expect(decodeIp(v6(tcp(), { ext: [fragHdr(5, true)] }))).toEqual({ ok: false, event: 'ip_fragment', ignorable: true });
    expect(pkt(decodeIp(v6(tcp(), { ext: [fragHdr(0, true)], noL4Checksum: true }))).fragment).toBe(true);
    expect(pkt(decodeIp(v6(tcp(), { ext: [fragHdr(0, false)] }))).fragment).toBe(false); // atomic (RFC 6946)
    expect(ev(decodeIp(v6(tcp(), { ext: [fragHdr(0, false)], noL4Checksum: true })))).toBe('tcp_bad_checksum');
  });
  it(`allows ${IPV6_MAX_EXT_HEADERS} extension headers and rejects 9`, () => {
    const eight = Array.from({ length: IPV6_MAX_EXT_HEADERS }, (_, i) => (i % 2 ? dstopts() : hbh()));
    expect(pkt(decodeIp(v6(udp(), { proto: 17, ext: eight }))).dport).toBe(53);
    expect(ev(decodeIp(v6(udp(), { proto: 17, ext: [...eight, dstopts()] })))).toBe('ipv6_too_many_ext');
  });
  it('an extension header longer than the payload is ipv6_ext_truncated', () => {
    const long: Ext = { type: 60, body: [200, 1, 4, 0, 0, 0, 0] }; // claims (200+1)*8 bytes
    expect(ev(decodeIp(v6(tcp(), { ext: [hbh(), long] })))).toBe('ipv6_ext_truncated');
  });
});

describe('address text', () => {
  const v6 = (hex: string): string => formatIpv6(Uint8Array.from(Buffer.from(hex.replace(/[: ]/g, ''), 'hex')), 0);
  it('formats RFC 5952 canonical IPv6', () => {
    expect(v6('0000 0000 0000 0000 0000 0000 0000 0001')).toBe('::1');
    expect(v6('0000 0000 0000 0000 0000 0000 0000 0000')).toBe('::');
    expect(v6('2001 0db8 0000 0000 0000 0000 0000 0001')).toBe('2001:db8::1');
    expect(v6('fe80 0000 0000 0000 c50d 519f 96a4 e108')).toBe('fe80::c50d:519f:96a4:e108');
    expect(v6('0000 0000 0000 0000 0000 ffff 0102 0304')).toBe('::ffff:102:304');
    expect(v6('2001 0db8 0000 0001 0001 0001 0001 0001')).toBe('2001:db8:0:1:1:1:1:1');
    expect(v6('2001 0000 0000 0001 0000 0000 0000 0001')).toBe('2001:0:0:1::1');
    expect(v6('2001 0db8 0000 0000 0001 0000 0000 0001')).toBe('2001:db8::1:0:0:1');
    expect(v6('0001 0000 0000 0000 0000 0000 0000 0000')).toBe('1::');
    expect(v6('ABCD 00EF 0100 0000 0000 0000 0000 000A')).toBe('abcd:ef:100::a');
  });
  it('formats IPv4 at an offset', () => {
    expect(formatIpv4(Uint8Array.from([9, 0, 255, 10, 1]), 1)).toBe('0.255.10.1');
  });
});

describe('decodeIp: random input', () => {
  const known = new Set<string>(DECODE_EVENTS);
  const check = (buf: Uint8Array, verifyChecksums: boolean): void => {
    const r = decodeIp(buf, { verifyChecksums });
    if (r.ok) {
      const p = r.pkt;
      expect(p.payload.buffer).toBe(buf.buffer);
      expect(p.payload.byteOffset + p.payload.length).toBeLessThanOrEqual(buf.byteOffset + buf.length);
      expect(p.ipLen).toBeLessThanOrEqual(buf.length);
    } else {
      expect(known.has(r.event), r.event).toBe(true);
    }
  };
  it('random bytes never throw', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 120 }), fc.boolean(), (a, v) => check(a, v)), { numRuns: 3000 });
  });
  it('random mutations of valid packets never throw', () => {
    const seeds = [v4(tcp()), v4(udp(), { proto: 17 }), v6(tcp(), { ext: [hbh(), fragHdr(0, true)] }), v6(udp(), { proto: 17 })];
    const arb = fc.tuple(
      fc.constantFrom(...seeds),
      fc.array(fc.tuple(fc.nat(200), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
      fc.nat(200),
      fc.boolean(),
    );
    fc.assert(
      fc.property(arb, ([seed, edits, cut, v]) => {
        const b = Uint8Array.from(seed);
        for (const [i, x] of edits) b[i % b.length] = x;
        check(b.subarray(0, Math.min(b.length, cut + 1)), v);
      }),
      { numRuns: 3000 },
    );
  });
});

describe('address text on demand (issue 13 item 3)', () => {
  it('src/dst are formatted from the packet bytes when first read, then kept', () => {
    const b4 = v4(tcp());
    const p4 = pkt(decodeIp(b4, { verifyChecksums: false }));
    b4[12] = 10; // the bytes change before the first read: the text follows them (nothing formatted at decode)
    expect(p4.src).toBe('10.168.1.3');
    b4[12] = 172; // after the first read the text is kept
    expect([p4.src, p4.dst]).toEqual(['10.168.1.3', '82.58.216.115']);
    const p6 = pkt(decodeIp(v6(udp(), { proto: 17 })));
    expect([p6.src, p6.dst]).toEqual(['2001:db8::1', 'fe80::c50d:519f:96a4:e108']);
  });
  it('a held packet (ownPacket) keeps its addresses and payload when the arena is overwritten', async () => {
    const { ownPacket } = await import('../../src/content/own.js');
    const arena = v4(tcp({ payload: text('held bytes') }));
    const q = ownPacket({ id: 1, ip: arena, pkt: pkt(decodeIp(arena)), dir: 0 as const, t: 0 });
    arena.fill(0xaa);
    expect([q.pkt.src, q.pkt.dst, q.pkt.sport, str(q.pkt.payload)]).toEqual(['192.168.1.3', '82.58.216.115', 51413, 'held bytes']);
    expect(q.ip[12]).toBe(192);
  });
});
