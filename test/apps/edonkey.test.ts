import { describe, expect, it } from 'vitest';
import { edonkey, udpFit, walkTcp } from '../../src/apps/edonkey/detect.js';
import { DETECTED, EXCLUDED, NEED_MORE } from '../../src/apps/types.js';
import { b, bytewise, run, verdict } from './ctx.js';

/** One eDonkey TCP message: protocol byte, uint32 LE length (opcode + payload), opcode, payload. */
function msg(proto: number, op: number, payload: number[]): Uint8Array {
  const len = payload.length + 1;
  return b([proto, len & 0xff, (len >> 8) & 0xff, (len >> 16) & 0xff, len >>> 24, op, ...payload]);
}
const cat = (...xs: Uint8Array[]): Uint8Array => b(xs.flatMap((x) => Array.from(x)));
const HASH = Array.from({ length: 16 }, (_, i) => i * 7);
/** OP_HELLO: hash size, user hash, client id, port, tag count 0, server ip, server port. */
const HELLO = msg(0xe3, 0x01, [0x10, ...HASH, 1, 2, 3, 4, 0x36, 0x12, 0, 0, 0, 0, 9, 9, 9, 9, 0x35, 0x12]);
/** OP_HELLOANSWER: user hash, client id, port, tag count 0, server ip, server port. */
const HELLO_ANSWER = msg(0xe3, 0x4c, [...HASH, 1, 2, 3, 4, 0x36, 0x12, 0, 0, 0, 0, 9, 9, 9, 9, 0x35, 0x12]);
const EMULE_INFO = msg(0xc5, 0x01, [0x30, 0x01, 0, 0, 0, 0]);
const OTHER = 'SSH-2.0-OpenSSH_9.6\r\n';

describe('edonkey: TCP framing', () => {
  it('detects a Hello once the whole first message is there (byte by byte)', () => {
    const r = run(edonkey, 'tcp', bytewise(0, HELLO));
    expect(r).toHaveLength(HELLO.length);
    expect(r.slice(0, -1).every((x) => x === NEED_MORE)).toBe(true);
    expect(r[r.length - 1]).toBe(DETECTED);
  });

  it('detects the responder side first (mid-stream) and eMule extended messages', () => {
    expect(verdict(edonkey, 'tcp', [[1, HELLO_ANSWER]])).toBe(DETECTED);
    expect(verdict(edonkey, 'tcp', [[0, EMULE_INFO]])).toBe(DETECTED);
    expect(verdict(edonkey, 'tcp', [[0, cat(HELLO, EMULE_INFO)]])).toBe(DETECTED);
  });

  it('accepts a first message that continues in later segments', () => {
    const big = msg(0xe3, 0x46, new Array(3000).fill(0x55)); // OP_SENDINGPART
    expect(walkTcp(big.subarray(0, 1400))).toBe('started');
    expect(run(edonkey, 'tcp', [[0, big.subarray(0, 1400)], [0, big.subarray(1400, 2000)]])).toEqual([NEED_MORE, NEED_MORE]);
    expect(verdict(edonkey, 'tcp', [[0, big.subarray(0, 1400)], [1, HELLO_ANSWER.subarray(0, 10)]])).toBe(DETECTED);
  });

  it('detects packed (0xD4) messages carrying a zlib stream', () => {
    const packed = msg(0xd4, 0x15, [0x78, 0x9c, 1, 2, 3, 4]);
    expect(verdict(edonkey, 'tcp', [[0, packed]])).toBe(DETECTED);
    expect(walkTcp(msg(0xd4, 0x15, [0x11, 0x22, 1, 2]))).toBe('no');
  });

  it('excludes near misses', () => {
    const wrongLen = b([0xe3, 0x05, 0, 0, 0, 0x01, 1, 2, 3, 4, 5, 6, 7, 8]); // next "message" starts with 0x06
    const badOp = msg(0xe3, 0x02, [1, 2, 3]);
    const zero = b([0xe3, 0, 0, 0, 0, 0x01]);
    const huge = b([0xe3, 0xff, 0xff, 0xff, 0x7f, 0x01, 1]);
    for (const x of [wrongLen, badOp, zero, huge, msg(0xc5, 0x4c, [1])]) {
      expect(walkTcp(x)).toBe('no');
      expect(verdict(edonkey, 'tcp', [[0, x], [1, OTHER]])).toBe(EXCLUDED);
    }
    expect(verdict(edonkey, 'tcp', [[0, 'GET / HTTP/1.1\r\n\r\n'], [1, 'HTTP/1.1 200 OK\r\n\r\n']])).toBe(EXCLUDED);
  });

  it('waits on a partial header', () => {
    expect(walkTcp(b([0xe3, 0x10]))).toBe('partial');
    expect(run(edonkey, 'tcp', [[0, b([0xe3, 0x10])], [1, b([0xe3])]])).toEqual([NEED_MORE, NEED_MORE]);
  });
});

const ID = Array.from({ length: 16 }, (_, i) => 0xa0 + i);
describe('edonkey: Kad and eDonkey UDP', () => {
  it('detects fixed-size Kad and eDonkey/eMule datagrams on their own', () => {
    expect(verdict(edonkey, 'udp', [[0, b([0xe4, 0x21, 0x0b, ...ID, ...ID])]])).toBe(DETECTED); // KADEMLIA2_REQ
    expect(verdict(edonkey, 'udp', [[0, b([0xe4, 0x61, 0x36, 0x12])]])).toBe(DETECTED); // KADEMLIA2_PONG
    expect(verdict(edonkey, 'udp', [[0, b([0xe3, 0x96, 1, 2, 3, 4])]])).toBe(DETECTED); // GLOBSERVSTATREQ
    expect(verdict(edonkey, 'udp', [[0, b([0xc5, 0x92, ...ID])]])).toBe(DETECTED); // FILENOTFOUND
  });

  it('detects packed Kad (0xE5) with a zlib stream', () => {
    expect(verdict(edonkey, 'udp', [[0, b([0xe5, 0x29, 0x78, 0xda, 1, 2, 3, 4, 5, 6])]])).toBe(DETECTED);
    expect(udpFit(b([0xe5, 0x29, 0x12, 0x34, 1, 2, 3, 4, 5, 6]))).toBe('no');
  });

  it('needs an answer for variable-size messages', () => {
    const ping = b([0xe4, 0x60]); // KADEMLIA2_PING
    const helloReq = b([0xe4, 0x11, ...ID, 0x36, 0x12, 0x08, 0]); // KADEMLIA2_HELLO_REQ, no tags
    const helloRes = b([0xe4, 0x19, ...ID, 0x36, 0x12, 0x08, 0]);
    expect(run(edonkey, 'udp', [[0, helloReq], [1, helloRes]])).toEqual([NEED_MORE, DETECTED]);
    expect(run(edonkey, 'udp', [[0, ping], [1, b([0xe4, 0x61, 0x36, 0x12])]])).toEqual([NEED_MORE, DETECTED]);
  });

  it('excludes near misses (wrong opcode or length, other protocols)', () => {
    expect(udpFit(b([0xe4, 0x21, 0x0b, ...ID]))).toBe('no'); // short REQ
    expect(udpFit(b([0xe4, 0x07]))).toBe('no'); // unknown opcode
    // QUIC v1 Handshake packet: first byte 0xE4, version 0x00000001.
    const quic = b([0xe4, 0x00, 0x00, 0x00, 0x01, 8, ...new Array(60).fill(7)]);
    expect(udpFit(quic)).toBe('no');
    expect(verdict(edonkey, 'udp', [[0, quic], [1, quic]])).toBe(EXCLUDED);
    expect(run(edonkey, 'udp', [[0, 'hello'], [0, 'again']])).toEqual([NEED_MORE, EXCLUDED]);
  });
});
