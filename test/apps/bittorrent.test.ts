import { describe, expect, it } from 'vitest';
import { bittorrent, isKrpc, parseUtp } from '../../src/apps/bittorrent/detect.js';
import { DETECTED, EXCLUDED, NEED_MORE } from '../../src/apps/types.js';
import { b, bytewise, run, verdict, type Pkt } from './ctx.js';

const INFO_HASH = '\xaa'.repeat(20);
const PEER_ID = '-UT3450-' + 'x'.repeat(12);
/** BEP 3 handshake: pstrlen, pstr, 8 reserved bytes, info_hash, peer_id. */
const HANDSHAKE = '\x13BitTorrent protocol' + '\0\0\0\0\0\x10\0\x05' + INFO_HASH + PEER_ID;
const OTHER = 'SSH-2.0-OpenSSH_9.6\r\n';

describe('bittorrent: peer-wire handshake (BEP 3)', () => {
  it('detects the initiator handshake, waiting byte by byte until the protocol string is complete', () => {
    const r = run(bittorrent, 'tcp', bytewise(0, HANDSHAKE));
    expect(r).toHaveLength(20);
    expect(r.slice(0, 19).every((x) => x === NEED_MORE)).toBe(true);
    expect(r[19]).toBe(DETECTED);
  });

  it('detects the responder handshake when the capture starts mid-stream', () => {
    expect(verdict(bittorrent, 'tcp', [[1, HANDSHAKE]])).toBe(DETECTED);
    // The first side seen is mid-message; the other side opens with the handshake.
    expect(run(bittorrent, 'tcp', [[0, '4:ipv44:\x01\x02\x03\x04'], [1, HANDSHAKE]])).toEqual([NEED_MORE, DETECTED]);
  });

  it('excludes near misses once both sides have spoken', () => {
    expect(verdict(bittorrent, 'tcp', [[0, '\x13BitTorrent protocoX' + INFO_HASH], [1, OTHER]])).toBe(EXCLUDED);
    expect(verdict(bittorrent, 'tcp', [[0, '\x12BitTorrent protocol' + INFO_HASH], [1, OTHER]])).toBe(EXCLUDED);
    expect(verdict(bittorrent, 'tcp', [[0, 'xx\x13BitTorrent protocol'], [1, OTHER]])).toBe(EXCLUDED);
  });
});

describe('bittorrent: HTTP tracker (BEP 3 trackers)', () => {
  const announce = `GET /announce?info_hash=%AA%BB&peer_id=${PEER_ID}&port=6881&uploaded=0 HTTP/1.1\r\nHost: t.example\r\n\r\n`;
  it('detects announce and scrape requests with info_hash', () => {
    expect(verdict(bittorrent, 'tcp', [[0, announce]])).toBe(DETECTED);
    expect(verdict(bittorrent, 'tcp', [[0, 'GET /scrape?info_hash=%AA HTTP/1.0\r\n\r\n']])).toBe(DETECTED);
    expect(verdict(bittorrent, 'tcp', [[0, 'GET /announce.php?passkey=1&info_hash=%AA HTTP/1.1\r\n']])).toBe(DETECTED);
    expect(verdict(bittorrent, 'tcp', [[0, `GET /a/b?info_hash=%AA&peer_id=${PEER_ID} HTTP/1.1\r\n`]])).toBe(DETECTED);
  });

  it('waits while the request line may still carry info_hash', () => {
    const r = run(bittorrent, 'tcp', bytewise(0, announce));
    const at = 'GET /announce?info_hash='.length;
    expect(r).toHaveLength(at);
    expect(r[at - 1]).toBe(DETECTED);
    expect(r.slice(0, -1).every((x) => x === NEED_MORE)).toBe(true);
  });

  it('excludes other HTTP requests and info_hash outside the request line', () => {
    const resp: Pkt = [1, 'HTTP/1.1 200 OK\r\n\r\n'];
    expect(verdict(bittorrent, 'tcp', [[0, 'GET /index.html HTTP/1.1\r\nHost: a\r\n\r\n'], resp])).toBe(EXCLUDED);
    expect(verdict(bittorrent, 'tcp', [[0, 'GET / HTTP/1.1\r\nX-Q: info_hash=1&peer_id=2\r\n\r\n'], resp])).toBe(EXCLUDED);
    expect(verdict(bittorrent, 'tcp', [[0, 'GET /page?info_hash=1 HTTP/1.1\r\n\r\n'], resp])).toBe(EXCLUDED);
  });
});

/** A bencoded string. */
const bs = (s: string): string => `${s.length}:${s}`;
const NODE_ID = '\x11'.repeat(20);
const PING_Q = `d1:ad2:id${bs(NODE_ID)}e1:q4:ping1:t2:aa1:y1:qe`;
const PING_R = `d1:rd2:id${bs(NODE_ID)}e1:t2:aa1:y1:re`;
const ERROR = `d1:eli201e${bs('A Generic Error Ocurred')}e1:t2:aa1:y1:ee`;

describe('bittorrent: DHT KRPC (BEP 5)', () => {
  it('detects queries, responses and errors', () => {
    expect(verdict(bittorrent, 'udp', [[0, PING_Q]])).toBe(DETECTED);
    expect(verdict(bittorrent, 'udp', [[1, PING_R]])).toBe(DETECTED);
    expect(verdict(bittorrent, 'udp', [[0, ERROR]])).toBe(DETECTED);
    const getPeers = `d1:ad2:id${bs(NODE_ID)}9:info_hash${bs(INFO_HASH)}e1:q9:get_peers1:t2:bb1:v4:UT\x01\x021:y1:qe`;
    expect(verdict(bittorrent, 'udp', [[0, getPeers]])).toBe(DETECTED);
  });

  it('checks the bencode structure, not only the literal', () => {
    expect(isKrpc(b(PING_Q))).toBe(true);
    expect(isKrpc(b(PING_Q.slice(0, -1)))).toBe(false); // truncated
    expect(isKrpc(b(PING_Q + 'x'))).toBe(false); // trailing bytes
    expect(isKrpc(b(PING_Q.replace('1:t2:aa', '1:x2:aa')))).toBe(false); // no transaction id
    expect(isKrpc(b(`d1:ad2:id${bs(NODE_ID)}e1:t2:aa1:y1:qe`))).toBe(false); // query without method
    expect(isKrpc(b('d1:y1:q1:ti1ee'))).toBe(false);
    expect(verdict(bittorrent, 'udp', [[0, PING_Q.slice(0, 30)], [1, 'garbage']])).toBe(EXCLUDED);
  });
});

describe('bittorrent: UDP tracker (BEP 15)', () => {
  const connect = [0, 0, 0x04, 0x17, 0x27, 0x10, 0x19, 0x80, 0, 0, 0, 0, 1, 2, 3, 4];
  it('detects the connect request', () => {
    expect(verdict(bittorrent, 'udp', [[0, b(connect)]])).toBe(DETECTED);
  });
  it('rejects another action or length', () => {
    const announce = connect.slice();
    announce[11] = 1;
    expect(verdict(bittorrent, 'udp', [[0, b(announce)], [1, 'x']])).toBe(EXCLUDED);
    expect(verdict(bittorrent, 'udp', [[0, b([...connect, 0])], [1, 'x']])).toBe(EXCLUDED);
  });
});

/** A BEP 29 header: type, version 1, extension, connection id, timestamps, window, seq, ack. */
function utp(type: number, connId: number, seq: number, ack: number, ext: number[] = [], payload: number[] = []): Uint8Array {
  const h = [(type << 4) | 1, ext.length ? 2 : 0, connId >> 8, connId & 0xff, 1, 2, 3, 4, 0, 0, 0, 0, 0, 0x10, 0, 0, seq >> 8, seq & 0xff, ack >> 8, ack & 0xff];
  return b([...h, ...(ext.length ? [0, ext.length, ...ext] : []), ...payload]);
}

describe('bittorrent: uTP (BEP 29)', () => {
  it('parses the header and rejects implausible ones', () => {
    expect(parseUtp(utp(4, 0x1234, 1, 0))).toMatchObject({ type: 4, connId: 0x1234, seq: 1, ack: 0 });
    expect(parseUtp(utp(4, 0x1234, 1, 0, [0, 0, 0, 0, 0, 0, 0, 0]))).not.toBeNull();
    expect(parseUtp(utp(5, 1, 1, 0))).toBeNull(); // type 5
    expect(parseUtp(b([0x42, ...utp(4, 1, 1, 0).subarray(1)]))).toBeNull(); // version 2
    expect(parseUtp(utp(4, 1, 1, 0, [], [1]))).toBeNull(); // SYN with payload
    expect(parseUtp(utp(0, 1, 1, 0))).toBeNull(); // DATA without payload
    expect(parseUtp(utp(4, 1, 1, 0).subarray(0, 19))).toBeNull();
  });

  it('detects SYN answered by STATE with the same connection id and ack = SYN seq', () => {
    expect(run(bittorrent, 'udp', [[0, utp(4, 0x1234, 7, 0)], [1, utp(2, 0x1234, 900, 7)]])).toEqual([NEED_MORE, DETECTED]);
  });

  it('detects a mid-stream exchange whose connection ids differ by one', () => {
    const a = utp(0, 0x1235, 100, 500, [], [1, 2, 3]);
    const c = utp(2, 0x1234, 501, 100);
    expect(verdict(bittorrent, 'udp', [[0, a], [1, c]])).toBe(DETECTED);
  });

  it('excludes answers that break the relation', () => {
    expect(verdict(bittorrent, 'udp', [[0, utp(4, 0x1234, 7, 0)], [1, utp(2, 0x9999, 900, 7)]])).toBe(EXCLUDED);
    expect(verdict(bittorrent, 'udp', [[0, utp(4, 0x1234, 7, 0)], [1, utp(2, 0x1234, 900, 8)]])).toBe(EXCLUDED);
    expect(verdict(bittorrent, 'udp', [[0, utp(0, 0x1235, 100, 500, [], [1])], [1, utp(2, 0x3000, 501, 100)]])).toBe(EXCLUDED);
  });

  it('detects one side continuing its own exchange when the answer is not captured', () => {
    expect(run(bittorrent, 'udp', [[0, utp(4, 0x1234, 7, 0)], [0, utp(0, 0x1235, 8, 900, [], [1, 2])]])).toEqual([NEED_MORE, DETECTED]);
    expect(run(bittorrent, 'udp', [[1, utp(0, 0x4000, 50, 9, [], [1])], [1, utp(0, 0x4000, 51, 9, [], [1])]])).toEqual([NEED_MORE, DETECTED]);
    expect(run(bittorrent, 'udp', [[1, utp(0, 0x4000, 50, 9, [], [1])], [1, utp(0, 0x4001, 51, 9, [], [1])]])).toEqual([NEED_MORE, NEED_MORE]);
    expect(run(bittorrent, 'udp', [[1, utp(0, 0x4000, 50, 9, [], [1])], [1, utp(0, 0x4000, 500, 9, [], [1])]])).toEqual([NEED_MORE, NEED_MORE]);
  });

  it('waits for an answer to a lone SYN, and drops a one-way flow that is not BitTorrent', () => {
    expect(run(bittorrent, 'udp', [[0, utp(4, 0x1234, 7, 0)], [0, utp(4, 0x1234, 7, 0)]])).toEqual([NEED_MORE, NEED_MORE]);
    expect(run(bittorrent, 'udp', [[0, 'hello'], [0, 'hello']])).toEqual([NEED_MORE, EXCLUDED]);
  });

  it('does not take a DNS exchange for uTP', () => {
    const q = b([0x41, 0x00, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 3, 0x77, 0x77, 0x77, 0, 0, 1, 0, 1]);
    const r = b([0x41, 0x00, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0, 3, 0x77, 0x77, 0x77, 0, 0, 1, 0, 1, 0xc0, 0x0c]);
    expect(verdict(bittorrent, 'udp', [[0, q], [1, r]])).toBe(EXCLUDED);
  });
});

describe('bittorrent: LSD (BEP 14) and UDP tracker pairs (BEP 15)', () => {
  const lsd = (host: string, port = '6881') =>
    `BT-SEARCH * HTTP/1.1\r\nHost: ${host}\r\nPort: ${port}\r\nInfohash: 6bbe8e20c6f24af49187f13a522519a301e93563\r\ncookie: x\r\n\r\n\r\n`;
  const be32 = (v: number) => [v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255];

  it('detects an LSD announce to the IPv4 or IPv6 group, not other BT-SEARCH text', () => {
    expect(verdict(bittorrent, 'udp', [[0, lsd('239.192.152.143:6771')]])).toBe(DETECTED);
    expect(verdict(bittorrent, 'udp', [[0, lsd('[ff15::efc0:988f]:6771')]])).toBe(DETECTED);
    expect(verdict(bittorrent, 'udp', [[0, lsd('192.168.1.1:6771')]])).not.toBe(DETECTED); // not the LSD group
    expect(verdict(bittorrent, 'udp', [[0, lsd('239.192.152.143:6771', 'x')]])).not.toBe(DETECTED); // no numeric port
  });

  it('detects an announce and its response on a flow that skipped the connect; a mismatched pair is not', () => {
    const conn = [1, 2, 3, 4, 5, 6, 7, 8];
    const req = Uint8Array.from([...conn, ...be32(1), ...be32(0xcafe), ...new Array(82).fill(7)]); // 98 bytes
    const resp = Uint8Array.from([...be32(1), ...be32(0xcafe), ...be32(1800), ...be32(1), ...be32(2), 10, 0, 0, 1, 0x1a, 0xe1]);
    expect(verdict(bittorrent, 'udp', [[0, req], [1, resp]])).toBe(DETECTED);
    const other = Uint8Array.from([...be32(1), ...be32(0xbeef), ...resp.subarray(8)]); // wrong transaction id
    expect(verdict(bittorrent, 'udp', [[0, req], [1, other]])).toBe(EXCLUDED);
    const scrape = Uint8Array.from([...conn, ...be32(2), ...be32(7), ...new Array(20).fill(1)]);
    const scraped = Uint8Array.from([...be32(2), ...be32(7), ...new Array(12).fill(0)]);
    expect(verdict(bittorrent, 'udp', [[0, scrape], [1, scraped]])).toBe(DETECTED);
  });
});
