import { describe, expect, it } from 'vitest';
import { gnutella, isGndFrame, isGnutellaDescriptor } from '../../src/apps/gnutella/detect.js';
import { DETECTED, EXCLUDED, NEED_MORE } from '../../src/apps/types.js';
import { b, bytewise, run, verdict, type Pkt } from './ctx.js';

const CONNECT = 'GNUTELLA CONNECT/0.6\r\nUser-Agent: LimeWire/5.0\r\nX-Ultrapeer: False\r\n\r\n';
const OK = 'GNUTELLA/0.6 200 OK\r\nUser-Agent: Shareaza 2.7\r\n\r\n';
const GUID_HEX = '0123456789ABCDEF0123456789abcdef';
const OTHER: Pkt = [1, 'SSH-2.0-OpenSSH_9.6\r\n'];

const expectDetectedAt = (pkts: Pkt[], at: number): void => {
  const r = run(gnutella, 'tcp', pkts);
  expect(r).toHaveLength(at);
  expect(r.slice(0, -1).every((x) => x === NEED_MORE)).toBe(true);
  expect(r[at - 1]).toBe(DETECTED);
};

describe('gnutella: TCP handshakes and pushes (Gnutella 0.6)', () => {
  it('detects GNUTELLA CONNECT/ byte by byte', () => expectDetectedAt(bytewise(0, CONNECT), 'GNUTELLA CONNECT/'.length));
  it('detects the GNUTELLA/0.6 answer, also as the first side seen', () => {
    expectDetectedAt(bytewise(1, OK), 'GNUTELLA/0'.length);
    expect(verdict(gnutella, 'tcp', [[0, 'GNUTELLA OK\n\n']])).toBe(DETECTED);
  });
  it('detects GIV and PUSH', () => {
    expect(verdict(gnutella, 'tcp', [[0, `GIV 12:${GUID_HEX}/song.mp3\n\n`]])).toBe(DETECTED);
    expect(verdict(gnutella, 'tcp', [[1, `PUSH guid:${GUID_HEX}\r\n\r\n`]])).toBe(DETECTED);
    expectDetectedAt(bytewise(0, `GIV 7:${GUID_HEX}/x\n\n`), 'GIV 7:'.length + 32);
  });
  it('excludes near misses', () => {
    for (const x of ['GNUTELLA/x.6 200 OK\r\n', 'GNUTELLA CONNEC\r\n', 'GIV x:1\n\n', `GIV 1:${GUID_HEX.slice(0, 20)}zz/\n\n`, 'PUSH guid:xyz\r\n', 'gnutella connect/0.6\r\n']) {
      expect(verdict(gnutella, 'tcp', [[0, x], OTHER]), x).toBe(EXCLUDED);
    }
  });
  it('waits for the other side when the first side is something else', () => {
    expect(run(gnutella, 'tcp', [[0, 'random bytes'], [1, OK]])).toEqual([NEED_MORE, DETECTED]);
  });
});

describe('gnutella: HTTP downloads', () => {
  const req = (target: string, headers: string): string => `GET ${target} HTTP/1.1\r\nHost: 10.0.0.1:6346\r\n${headers}\r\n`;
  const URIRES = '/uri-res/N2R?urn:sha1:LXIP2A72T5H3BU3GRUMZFYNU3OYDK6FI';
  it('detects /uri-res/, /get/<n>/ and /gnutella/ requests carrying a Gnutella header', () => {
    expect(verdict(gnutella, 'tcp', [[0, req(URIRES, 'X-Queue: 1.1\r\n')]])).toBe(DETECTED);
    expect(verdict(gnutella, 'tcp', [[0, req('/get/12/song.mp3', 'X-Gnutella-Content-URN: urn:sha1:X\r\n')]])).toBe(DETECTED);
    expect(verdict(gnutella, 'tcp', [[0, req('/gnutella/thex/v1?urn:tree:tiger/:X', 'x-features: tls/1.0\r\n')]])).toBe(DETECTED);
    expect(verdict(gnutella, 'tcp', [[0, `HEAD ${URIRES} HTTP/1.1\r\nX-Alt: 1.2.3.4:6346\r\n\r\n`]])).toBe(DETECTED);
  });
  it('takes the evidence from the response when the request has none', () => {
    const r = run(gnutella, 'tcp', [[0, req(URIRES, '')], [1, 'HTTP/1.1 206 OK\r\nX-Content-URN: urn:sha1:X\r\n\r\n']]);
    expect(r).toEqual([NEED_MORE, DETECTED]);
  });
  it('waits while the header section is incomplete', () => {
    const r = run(gnutella, 'tcp', [[0, `GET ${URIRES} HTTP/1.1\r\nHost: a\r\n`], [0, 'X-Alt: 1.2.3.4:6346\r\n\r\n']]);
    expect(r).toEqual([NEED_MORE, DETECTED]);
  });
  it('excludes Gnutella-looking targets without evidence, and plain HTTP', () => {
    const plain: Pkt = [1, 'HTTP/1.1 200 OK\r\nServer: nginx\r\n\r\n'];
    expect(verdict(gnutella, 'tcp', [[0, req(URIRES, '')], plain])).toBe(EXCLUDED);
    expect(verdict(gnutella, 'tcp', [[0, req('/get/abc/x', 'X-Queue: 1\r\n')], plain])).toBe(EXCLUDED);
    expect(verdict(gnutella, 'tcp', [[0, req('/index.html', 'X-Queue: 1\r\n')], plain])).toBe(EXCLUDED);
  });
});

/** A Gnutella 0.6 descriptor: GUID, type, TTL, hops, LE length, payload. */
function desc(type: number, payload: number[], ttl = 1, hops = 0, guid = Array.from({ length: 16 }, (_, i) => (i * 37 + 5) & 0xff)): Uint8Array {
  const n = payload.length;
  return b([...guid, type, ttl, hops, n & 0xff, (n >> 8) & 0xff, 0, 0, ...payload]);
}
const GGEP_QK = [0xc3, 0x82, 0x51, 0x4b, 0x40];
const PONG = [0x36, 0x12, 10, 0, 0, 1, 5, 0, 0, 0, 0x20, 0, 0, 0];
const asc = (s: string): number[] => Array.from(s, (c) => c.charCodeAt(0));

describe('gnutella: UDP descriptors', () => {
  it('detects pings, pongs, queries, vendor and DHT messages', () => {
    const ok = [
      desc(0x00, []),
      desc(0x00, GGEP_QK),
      desc(0x01, PONG),
      desc(0x01, [...PONG, ...GGEP_QK]),
      desc(0x80, [0, 0, ...asc('pinkfloyd'), 0, ...GGEP_QK]),
      desc(0x31, [...asc('GTKG'), 9, 0, 1, 0, 0]),
      desc(0x44, [5, ...asc('GTKG'), 0, 0, 1, 2, 3], 0, 0),
      desc(0x02, [200, 0, ...asc('bye')]),
    ];
    for (const d of ok) {
      expect(isGnutellaDescriptor(d), Buffer.from(d).toString('hex')).toBe(true);
      expect(verdict(gnutella, 'udp', [[0, d]])).toBe(DETECTED);
    }
  });
  it('rejects near misses', () => {
    const bad = [
      b([...desc(0x00, GGEP_QK), 0]), // length field off by one
      desc(0x05, [1, 2, 3]), // unknown type
      desc(0x00, [], 200), // TTL
      desc(0x00, [], 1, 0, new Array(16).fill(0)), // blank GUID
      desc(0x00, [1, 2]), // ping payload not GGEP
      desc(0x01, [1, 2, 3]), // pong too short
      desc(0x44, [0, ...asc('GT G')]), // DHT opcode 0, bad vendor
      desc(0x80, [0, 0, 0x41, 0x42]), // query criteria not terminated
    ];
    for (const d of bad) expect(isGnutellaDescriptor(d), Buffer.from(d).toString('hex')).toBe(false);
    expect(run(gnutella, 'udp', [[0, bad[0]], [0, bad[1]]])).toEqual([NEED_MORE, EXCLUDED]);
  });
});

/** A GND frame: "GND", flags, seq (LE), part, count, body. */
const gnd = (flags: number, part: number, count: number, body: number[]): Uint8Array => b([0x47, 0x4e, 0x44, flags, 0x3e, 0x95, part, count, ...body]);
/** G2 packet "QKR" (compound, 1 length byte) with child "RNA" holding 6 bytes. */
const QKR = [0x54, 0x0b, ...asc('QKR'), 0x50, 0x06, ...asc('RNA'), 1, 2, 3, 4, 5, 6];

describe('gnutella: G2 UDP (GND)', () => {
  it('detects G2 packets, deflated frames and acknowledgements', () => {
    for (const f of [gnd(0x10, 1, 1, QKR), gnd(0x02, 1, 1, QKR), gnd(0x01, 1, 1, [0x78, 0x9c, 1, 2, 3]), gnd(0, 1, 0, []), gnd(0, 2, 3, [9, 9])]) {
      expect(isGndFrame(f), Buffer.from(f).toString('hex')).toBe(true);
      expect(verdict(gnutella, 'udp', [[1, f]])).toBe(DETECTED);
    }
  });
  it('rejects malformed frames', () => {
    const lower = QKR.slice();
    lower[2] = 0x71; // "qKR"
    for (const f of [gnd(0, 3, 2, [1]), gnd(0, 0, 1, QKR), gnd(0, 1, 1, lower), gnd(0, 1, 1, [...QKR, 0]), gnd(1, 1, 1, [1, 2, 3]), gnd(0, 1, 0, [1])]) {
      expect(isGndFrame(f), Buffer.from(f).toString('hex')).toBe(false);
    }
    expect(verdict(gnutella, 'udp', [[0, gnd(0, 3, 2, [1])], [1, 'x']])).toBe(EXCLUDED);
  });
  it('does not take DNS or SSDP for Gnutella', () => {
    const dns = b([0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 7, ...asc('example'), 3, ...asc('com'), 0, 0, 1, 0, 1]);
    expect(verdict(gnutella, 'udp', [[0, dns], [1, dns]])).toBe(EXCLUDED);
    expect(verdict(gnutella, 'udp', [[0, 'M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\n\r\n'], [0, 'x']])).toBe(EXCLUDED);
  });
});
