import { describe, it, expect } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { CAPTURES, capture } from '../helpers/paths.js';
import { readCapture, readCaptureFile, type CaptureRecord } from '../../src/capture/pcap.js';
import { decodeIp } from '../../src/decode/index.js';
import { Counters } from '../../src/core/counters.js';
import { P2pgwError } from '../../src/core/errors.js';

// ---- Small writers for hand-built capture files ----

class W {
  readonly b: number[] = [];
  constructor(readonly le = true) {}
  u8(...v: number[]): this { this.b.push(...v.map((x) => x & 0xff)); return this; }
  u16(v: number): this { return this.le ? this.u8(v, v >> 8) : this.u8(v >> 8, v); }
  u32(v: number): this { return this.le ? this.u8(v, v >>> 8, v >>> 16, v >>> 24) : this.u8(v >>> 24, v >>> 16, v >>> 8, v); }
  bytes(v: ArrayLike<number>): this { this.b.push(...Array.from(v)); return this; }
  pad4(): this { while (this.b.length % 4) this.b.push(0); return this; }
}
type Frame = { sec: number; frac: number; data: ArrayLike<number>; orig?: number };
function pcapFile(linktype: number, frames: Frame[], o: { le?: boolean; ns?: boolean } = {}): Uint8Array {
  const w = new W(o.le ?? true).u32(o.ns ? 0xa1b23c4d : 0xa1b2c3d4).u16(2).u16(4).u32(0).u32(0).u32(65535).u32(linktype);
  for (const f of frames) w.u32(f.sec).u32(f.frac).u32(f.data.length).u32(f.orig ?? f.data.length).bytes(f.data);
  return Uint8Array.from(w.b);
}
function block(le: boolean, type: number, body: (w: W) => void): number[] {
  const inner = new W(le);
  body(inner);
  inner.pad4();
  const len = inner.b.length + 12;
  return new W(le).u32(type).u32(len).bytes(inner.b).u32(len).b;
}
const shb = (le: boolean): number[] => block(le, 0x0a0d0d0a, (w) => w.u32(0x1a2b3c4d).u16(1).u16(0).u32(0xffffffff).u32(0xffffffff));
const idb = (le: boolean, linktype: number, tsresol?: number, snaplen = 0): number[] =>
  block(le, 1, (w) => {
    w.u16(linktype).u16(0).u32(snaplen);
    if (tsresol !== undefined) w.u16(9).u16(1).u8(tsresol).pad4().u16(0).u16(0);
  });
const epb = (le: boolean, ifid: number, ts: bigint, data: ArrayLike<number>, cap = data.length): number[] =>
  block(le, 6, (w) => w.u32(ifid).u32(Number(ts >> 32n)).u32(Number(ts & 0xffffffffn)).u32(cap).u32(data.length).bytes(data));
const spb = (le: boolean, data: ArrayLike<number>): number[] => block(le, 3, (w) => w.u32(data.length).bytes(data));
const opb = (le: boolean, ifid: number, ts: bigint, data: ArrayLike<number>): number[] =>
  block(le, 2, (w) => w.u16(ifid).u16(0).u32(Number(ts >> 32n)).u32(Number(ts & 0xffffffffn)).u32(data.length).u32(data.length).bytes(data));

// ---- IP packets to wrap (valid checksums, from a real capture) ----

const good = (r: CaptureRecord): boolean => r.ip !== null && decodeIp(r.ip).ok;
const v4rec = [...readCaptureFile(capture('bittorrent.pcap'))].find((r) => good(r) && r.ip![0] >> 4 === 4)!;
const IP4 = Array.from(v4rec.ip!.subarray(0, (v4rec.ip![2] << 8) | v4rec.ip![3]));
const stunV6 = [...readCaptureFile(capture('stun.pcap'))].find((r) => good(r) && r.ip![0] >> 4 === 6)!;
const IP6 = Array.from(stunV6.ip!.subarray(0, 40 + ((stunV6.ip![4] << 8) | stunV6.ip![5])));
const MACS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
const ARP = [...MACS, 0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1, ...new Array(20).fill(0)];

/** Link-type cases: [name, linktype, frame, expected IP bytes or null]. */
const LINK_CASES: Array<[string, number, number[], number[] | null]> = [
  ['ethernet v4', 1, [...MACS, 0x08, 0x00, ...IP4, 0, 0, 0, 0], IP4],
  ['ethernet v6', 1, [...MACS, 0x86, 0xdd, ...IP6], IP6],
  ['ethernet 802.1Q', 1, [...MACS, 0x81, 0x00, 0, 5, 0x08, 0x00, ...IP4], IP4],
  ['ethernet QinQ', 1, [...MACS, 0x88, 0xa8, 0, 5, 0x81, 0x00, 0, 6, 0x86, 0xdd, ...IP6], IP6],
  ['ethernet 3 tags', 1, [...MACS, 0x81, 0x00, 0, 5, 0x81, 0x00, 0, 6, 0x81, 0x00, 0, 7, 0x08, 0x00, ...IP4], null],
  ['ethernet PPPoE', 1, [...MACS, 0x88, 0x64, 0x11, 0, 0, 1, (IP4.length + 2) >> 8, (IP4.length + 2) & 0xff, 0, 0x21, ...IP4], IP4],
  ['ethernet ARP', 1, ARP, null],
  ['ethernet short', 1, [1, 2, 3, 4], null],
  ['SLL v4', 113, [0, 0, 0, 1, 0, 6, ...MACS.slice(0, 6), 0, 0, 0x08, 0x00, ...IP4], IP4],
  ['SLL ARP', 113, [0, 0, 0, 1, 0, 6, ...MACS.slice(0, 6), 0, 0, 0x08, 0x06, 0, 1], null],
  ['SLL2 v6', 276, [0x86, 0xdd, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, ...MACS.slice(0, 6), 0, 0, ...IP6], IP6],
  ['raw 101 v4', 101, IP4, IP4],
  ['raw 101 v6', 101, IP6, IP6],
  ['raw 101 junk', 101, [0x12, 0x34], null],
  ['raw 12', 12, IP4, IP4],
  ['raw 14', 14, IP6, IP6],
  ['ipv4 228', 228, IP4, IP4],
  ['ipv6 229', 229, IP6, IP6],
  ['null AF 2 LE', 0, [2, 0, 0, 0, ...IP4], IP4],
  ['null AF 2 BE', 0, [0, 0, 0, 2, ...IP4], IP4],
  ['null AF 24', 0, [24, 0, 0, 0, ...IP6], IP6],
  ['null AF 28 BE', 0, [0, 0, 0, 28, ...IP6], IP6],
  ['null AF 30', 0, [30, 0, 0, 0, ...IP6], IP6],
  ['null AF 7', 0, [7, 0, 0, 0, ...IP4], null],
  ['unknown link type', 147, IP4, null],
];

// ---- Tests ----

describe('readCapture: hand-built files', () => {
  for (const [name, linktype, frame, want] of LINK_CASES) {
    it(`link type ${linktype}: ${name}`, () => {
      for (const bytes of [
        pcapFile(linktype, [{ sec: 1, frac: 2, data: frame }]),
        Uint8Array.from([...shb(true), ...idb(true, linktype), ...epb(true, 0, 5n, frame)]),
      ]) {
        const recs = [...readCapture(bytes, 'hand')];
        expect(recs.length).toBe(1);
        expect(recs[0].linktype).toBe(linktype);
        expect(Array.from(recs[0].data)).toEqual(frame);
        if (want === null) expect(recs[0].ip).toBeNull();
        else {
          expect(Array.from(recs[0].ip!.subarray(0, want.length))).toEqual(want);
          expect(decodeIp(recs[0].ip!).ok).toBe(true);
        }
      }
    });
  }

  it('pcap: both byte orders, micro- and nanosecond magics', () => {
    for (const le of [true, false]) {
      for (const ns of [false, true]) {
        const f = pcapFile(1, [{ sec: 1700000000, frac: ns ? 250_000_000 : 250_000, data: ARP, orig: 1500 }, { sec: 1700000001, frac: 1, data: [] }], { le, ns });
        const recs = [...readCapture(f)];
        expect(recs.map((r) => r.ts)).toEqual([1700000000.25, 1700000001 + (ns ? 1e-9 : 1e-6)]);
        expect(recs.map((r) => [r.origLen, r.data.length, r.interfaceId])).toEqual([[1500, ARP.length, 0], [0, 0, 0]]);
      }
    }
  });

  it('pcapng: SPB, OPB, tsresol, unknown blocks, several sections of both byte orders', () => {
    const ip4eth = [...MACS, 0x08, 0x00, ...IP4];
    const bytes = Uint8Array.from([
      ...shb(true),
      ...idb(true, 1, 9, 65535), // nanoseconds
      ...idb(true, 101, 0x80 | 10), // 2^-10 s
      ...block(true, 4, (w) => w.u16(0).u16(0)), // name resolution block: skipped
      ...epb(true, 0, 1_700_000_000_500_000_000n, ip4eth),
      ...spb(true, ip4eth),
      ...epb(true, 1, 1024n * 3n + 512n, IP4),
      ...block(true, 0x40000bad, (w) => w.u32(7)), // custom block: skipped
      ...shb(false),
      ...idb(false, 229), // default microseconds
      ...opb(false, 0, 1_000_001n, IP6),
      ...epb(false, 0, 2_500_000n, IP6),
    ]);
    const counters = new Counters();
    const recs = [...readCapture(bytes, 'multi', counters)];
    expect(recs.map((r) => [r.linktype, r.interfaceId])).toEqual([[1, 0], [1, 0], [101, 1], [229, 0], [229, 0]]);
    expect(recs.map((r) => r.ts)).toEqual([1_700_000_000.5, 1_700_000_000.5, 3.5, 1.000001, 2.5]);
    expect(recs.every((r) => r.ip !== null && decodeIp(r.ip).ok)).toBe(true);
    expect(counters.snapshot()).toEqual({});
  });

  it('bad file headers throw P2PGW_ERR_CAPTURE_FORMAT naming the file', () => {
    const good = pcapFile(1, []);
    const bad: Array<[string, Uint8Array]> = [
      ['empty', new Uint8Array(0)],
      ['magic', Uint8Array.from(Buffer.from('GET / HTTP/1.1\r\n\r\n0123456789'))],
      ['short pcap', good.subarray(0, 20)],
      ['pcap version', Uint8Array.from(good, (v, i) => (i === 4 ? 3 : v))],
      ['pcapng bom', Uint8Array.from(shb(true), (v, i) => (i === 8 ? 0 : v))],
      ['pcapng version', Uint8Array.from(shb(true), (v, i) => (i === 12 ? 2 : v))],
      ['pcapng length', Uint8Array.from(shb(true), (v, i) => (i === 4 ? 29 : v))],
      ['short pcapng', Uint8Array.from(shb(true).slice(0, 16))],
    ];
    for (const [name, bytes] of bad) {
      let err: unknown;
      try {
        [...readCapture(bytes, `/x/${name}.pcap`)];
      } catch (e) {
        err = e;
      }
      expect(err, name).toBeInstanceOf(P2pgwError);
      expect((err as P2pgwError).code).toBe('P2PGW_ERR_CAPTURE_FORMAT');
      expect((err as P2pgwError).message.startsWith(`/x/${name}.pcap: `)).toBe(true);
    }
  });

  it('a truncated last record stops iteration and is counted; every prefix is safe', () => {
    const frames = [{ sec: 1, frac: 0, data: IP4 }, { sec: 2, frac: 0, data: IP6 }];
    const ng = [shb(true), idb(true, 101), epb(true, 0, 1n, IP4), epb(true, 0, 2n, IP6)];
    const ends = (lens: number[]): number[] => lens.map((_, i) => lens.slice(0, i + 1).reduce((x, y) => x + y, 0));
    const cases: Array<[Uint8Array, number[], number[]]> = [
      // [file, offsets where a block or record ends, how many packets are complete there]
      [pcapFile(101, frames), ends([24, 16 + IP4.length, 16 + IP6.length]), [0, 1, 2]],
      [Uint8Array.from(ng.flat()), ends(ng.map((x) => x.length)), [0, 0, 1, 2]],
    ];
    for (const [f, boundaries, packets] of cases) {
      for (let n = boundaries[0]; n <= f.length; n++) {
        const c = new Counters();
        const recs = [...readCapture(f.subarray(0, n), 'cut', c)];
        const done = boundaries.filter((e) => e <= n).length - 1;
        expect(recs.length, `prefix ${n}`).toBe(packets[done]);
        expect(c.get('capture_truncated_record'), `prefix ${n}`).toBe(boundaries.includes(n) ? 0 : 1);
      }
    }
  });

  it('damaged pcapng blocks: bad length stops, unknown interface and oversize cap yield ip=null', () => {
    const c = new Counters();
    const badLen = Uint8Array.from([...shb(true), ...idb(true, 101), ...epb(true, 0, 1n, IP4), 6, 0, 0, 0, 13, 0, 0, 0, 0, 0, 0, 0]);
    expect([...readCapture(badLen, 'b', c)].length).toBe(1);
    expect(c.get('capture_bad_block')).toBe(1);
    const c2 = new Counters();
    const recs = [...readCapture(Uint8Array.from([...shb(true), ...idb(true, 101), ...epb(true, 3, 1n, IP4), ...epb(true, 0, 1n, IP4, 4000), ...epb(true, 0, 1n, IP4)]), 'b', c2)];
    expect(recs.map((r) => [r.linktype, r.ip === null])).toEqual([[-1, true], [101, true], [101, false]]);
    expect(recs[1].data.length).toBe(Math.ceil(IP4.length / 4) * 4); // clamped to the block body
    expect(c2.get('capture_bad_record')).toBe(2);
  });
});

// ---- Real captures ----

const files = readdirSync(CAPTURES).filter((f) => /\.pcap(ng)?$/.test(f)).sort();
const hasTshark = spawnSync('tshark', ['-v'], { encoding: 'utf8' }).status === 0;
if (!hasTshark) console.log('tshark not found: skipping the comparisons with tshark');

/** Per-frame facts from tshark: time, captured and wire length, interface, bad checksums. */
function tsharkFrames(file: string): string[][] {
  const r = spawnSync('tshark', [
    '-r', file, '-o', 'tcp.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE', '-o', 'ip.check_checksum:TRUE',
    '-T', 'fields', '-E', 'separator=/t', '-e', 'frame.number', '-e', 'frame.time_epoch', '-e', 'frame.cap_len', '-e', 'frame.len',
    '-e', 'frame.interface_id', '-e', 'ip.checksum.status', '-e', 'tcp.checksum.status', '-e', 'udp.checksum.status',
  ], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`tshark failed on ${file}: ${r.stderr}`);
  return r.stdout.split('\n').filter((l) => l.length > 0).map((l) => l.split('\t'));
}

/** Record counts and non-IP frame counts as tshark reported them when this test was written. */
const EXPECTED: Record<string, { records: number; nonIp: number; v6: number }> = {
  'bittorrent.pcap': { records: 299, nonIp: 0, v6: 0 },
  'dns.pcap': { records: 5, nonIp: 0, v6: 0 },
  'edonkey.pcap': { records: 17, nonIp: 0, v6: 0 },
  'ftp.pcap': { records: 209, nonIp: 0, v6: 0 },
  'gnutella.pcap': { records: 3905, nonIp: 23, v6: 68 },
  'http.pcapng': { records: 10, nonIp: 0, v6: 0 },
  'quic.pcap': { records: 518, nonIp: 0, v6: 0 },
  'sip.pcap': { records: 112, nonIp: 0, v6: 0 },
  'ssh.pcap': { records: 295, nonIp: 0, v6: 0 },
  'stun.pcap': { records: 201, nonIp: 0, v6: 45 },
};

describe('readCapture: real captures', () => {
  it('finds the captures', () => {
    expect(files).toEqual(expect.arrayContaining(['bittorrent.pcap', 'http.pcapng']));
  });

  for (const name of files) {
    it(`${name}: records, IP share, decoding`, () => {
      const c = new Counters();
      const recs: CaptureRecord[] = [...readCapture(readFileSync(capture(name)), name, c)];
      expect(c.snapshot()).toEqual({});
      const ip = recs.filter((r) => r.ip !== null);
      const exp = EXPECTED[name];
      if (exp) {
        expect(recs.length).toBe(exp.records);
        expect(recs.length - ip.length).toBe(exp.nonIp);
        expect(ip.filter((r) => r.ip![0] >> 4 === 6).length).toBe(exp.v6);
      } else {
        expect(recs.length).toBeGreaterThan(0);
      }
      // Without checksum checks (captures show offloaded checksums), every IP frame decodes or is
      // an ignorable non-TCP/UDP packet.
      const events = new Counters();
      for (const r of ip) {
        const d = decodeIp(r.ip!, { verifyChecksums: false });
        events.inc(d.ok ? 'ok' : d.event);
        if (!d.ok) expect(d.ignorable, `${name}: ${d.event}`).toBe(true);
      }
      expect(events.get('ok')).toBeGreaterThan(ip.length / 2);
      for (const r of recs) expect(Number.isFinite(r.ts) && r.ts >= 0).toBe(true);
    });

    it.skipIf(!hasTshark)(`${name}: agrees with tshark on count, time, lengths, interfaces, checksums`, () => {
      const recs = [...readCaptureFile(capture(name))];
      const t = tsharkFrames(capture(name));
      expect(recs.length).toBe(t.length);
      for (let i = 0; i < recs.length; i++) {
        const [num, time, capLen, len, ifid, ipSt, tcpSt, udpSt] = t[i];
        const r = recs[i];
        expect(Number(num)).toBe(i + 1);
        expect(Math.abs(r.ts - Number(time)), `frame ${num} time`).toBeLessThan(2e-6);
        expect([r.data.length, r.origLen]).toEqual([Number(capLen), Number(len)]);
        if (ifid !== '') expect(r.interfaceId).toBe(Number(ifid));
        // tshark status 0 = bad. Only the outermost header counts (ICMP quotes inner headers).
        const first = (s: string): string => s.split(',')[0];
        const tsharkBad = first(ipSt) === '0' || (first(tcpSt) === '0' || first(udpSt) === '0');
        const d = r.ip ? decodeIp(r.ip) : null;
        const oursBad = d !== null && !d.ok && d.event.endsWith('_checksum');
        expect(oursBad, `frame ${num}: ${d && !d.ok ? d.event : 'ok'} vs tshark ${ipSt}/${tcpSt}/${udpSt}`).toBe(tsharkBad);
      }
    });
  }
});
