import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { ascii, be16, be32, bencode, concat, u8 } from '../../src/apps/bytes.js';
import {
  announcePort, compactPeers, extendedPeers, ipLiteral, krpcPeers, lsdPeers, trackerPeers, udpAnnounceResponse,
} from '../../src/apps/bittorrent/peers.js';
import { BitTorrentLearner } from '../../src/apps/bittorrent/learner.js';
import type { Dir, EndpointHint } from '../../src/apps/types.js';

const v4 = (ip: string, port: number) => concat(Uint8Array.from(ip.split('.').map(Number)), be16(port));
const V6 = Uint8Array.from([0x20, 0x01, 0x0d, 0xb8, ...new Array(11).fill(0), 1]);
const v6 = (port: number) => concat(V6, be16(port));
const peer = (ip: string, port: number, source: string): EndpointHint => ({ ip, port, l4: 'both', source });

const DHT_REPLY = bencode({ t: 'aa', y: 'r', r: { id: 'x'.repeat(20), token: 'tok', values: [v4('192.0.2.7', 6881), v6(51413)] } });
const TRACKER_BODY = bencode({ interval: 1800, peers: concat(v4('198.51.100.1', 6881), v4('198.51.100.2', 0)), peers6: v6(6889) });
const http = (body: Uint8Array, head = `Content-Length: ${body.length}\r\n`) => concat(ascii(`HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n${head}\r\n`), body);
const wireMsg = (id: number, payload: Uint8Array) => concat(be32(payload.length + 1), u8(id), payload);
const HANDSHAKE = concat(ascii('\x13BitTorrent protocol'), new Uint8Array(8), ascii('H'.repeat(20)), ascii('P'.repeat(20)));
const EXT_HS = wireMsg(20, concat(u8(0), bencode({ m: { ut_pex: 1 }, p: 51413, v: 'client' })));
const PEX = wireMsg(20, concat(u8(3), bencode({ added: concat(v4('203.0.113.5', 6000), v4('203.0.113.6', 6001)), 'added.f': u8(0, 0), added6: v6(7000) })));
const PEER_WIRE = concat(HANDSHAKE, be32(0), EXT_HS, wireMsg(4, be32(7)), PEX);
const TRACKER_GET = ascii('GET /announce?info_hash=%01%02&peer_id=-TR3000-abc&port=6881&uploaded=0 HTTP/1.1\r\nHost: t\r\n\r\n');

/** Hints of a TCP learner fed `parts` of one direction. */
function tcpHints(parts: Uint8Array[], dir: Dir = 1): { out: EndpointHint[]; learner: BitTorrentLearner } {
  const learner = new BitTorrentLearner({ l4: 'tcp', ipv6: false });
  const out: EndpointHint[] = [];
  for (const p of parts) learner.data(dir, p, out);
  return { out, learner };
}

/** Splits `b` at the given (sorted, deduplicated) offsets. */
const splitAt = (b: Uint8Array, cuts: number[]) => {
  const c = [...new Set(cuts.map((x) => x % (b.length + 1)))].sort((x, y) => x - y);
  return [0, ...c].map((s, i) => b.subarray(s, [...c, b.length][i]));
};

describe('BitTorrent endpoint parsers', () => {
  it('compact peers: 6-byte IPv4 and 18-byte IPv6, port 0 and partial entries skipped', () => {
    expect(compactPeers(concat(v4('1.2.3.4', 80), v4('5.6.7.8', 0), u8(9, 9)), 6, 'dht')).toEqual([peer('1.2.3.4', 80, 'dht')]);
    expect(compactPeers(v6(6881), 18, 'pex')).toEqual([peer('2001:db8::1', 6881, 'pex')]);
  });

  it('KRPC get_peers reply values (IPv4 and IPv6) and announce_peer ports', () => {
    expect(krpcPeers(DHT_REPLY)).toEqual([peer('192.0.2.7', 6881, 'dht'), peer('2001:db8::1', 51413, 'dht')]);
    const ann = (a: Record<string, number | string>) => bencode({ t: 'aa', y: 'q', q: 'announce_peer', a: { id: 'x'.repeat(20), info_hash: 'h'.repeat(20), token: 't', ...a } });
    expect(krpcPeers(ann({ port: 6881 }))).toEqual([{ ip: null, port: 6881, l4: 'both', source: 'dht' }]);
    expect(krpcPeers(ann({ port: 6881, implied_port: 1 }))).toEqual([{ ip: null, port: null, l4: 'both', source: 'dht' }]);
    expect(krpcPeers(ann({ port: 70000 }))).toEqual([]);
    expect(krpcPeers(bencode({ t: 'aa', y: 'q', q: 'ping', a: { id: 'x' } }))).toEqual([]);
  });

  it('HTTP tracker bodies: compact, dictionary model (IP literals only) and peers6', () => {
    expect(trackerPeers(TRACKER_BODY)).toEqual([peer('198.51.100.1', 6881, 'tracker'), peer('2001:db8::1', 6889, 'tracker')]);
    const dict = bencode({ peers: [{ ip: '10.0.0.1', port: 1 }, { ip: 'host.example', port: 2 }, { ip: '2001:DB8:0:0::5', port: 3 }, { ip: '10.0.0.2', port: 0 }] });
    expect(trackerPeers(dict)).toEqual([peer('10.0.0.1', 1, 'tracker'), peer('2001:db8::5', 3, 'tracker')]);
    expect(ipLiteral('300.1.1.1')).toBeNull();
    expect(ipLiteral('fe80::1%eth0')).toBeNull();
  });

  it('announce request port, extension messages, LSD and BEP 15 responses', () => {
    expect(announcePort('GET /announce?info_hash=x&port=51413 HTTP/1.1')).toBe(51413);
    expect(announcePort('GET /announce?port=0 HTTP/1.1')).toBeNull();
    expect(extendedPeers(EXT_HS.subarray(5))).toEqual([{ ip: null, port: 51413, l4: 'both', source: 'listen-port' }]);
    expect(extendedPeers(PEX.subarray(5)).map((h) => `${h.ip}:${h.port}`)).toEqual(['203.0.113.5:6000', '203.0.113.6:6001', '2001:db8::1:7000']);
    const lsd = ascii('BT-SEARCH * HTTP/1.1\r\nHost: 239.192.152.143:6771\r\nPort: 6881\r\nInfohash: abcd\r\n\r\n\r\n');
    expect(lsdPeers(lsd)).toEqual([{ ip: null, port: 6881, l4: 'both', source: 'lsd' }]);
    const res6 = concat(be32(1), be32(7), be32(1800), be32(1), be32(1), v6(6881));
    expect(udpAnnounceResponse(res6, true)?.peers).toEqual([peer('2001:db8::1', 6881, 'udp-tracker')]);
    expect(udpAnnounceResponse(concat(res6, u8(0)), true)).toBeNull();
  });

  it('never throws on random or truncated input', () => {
    const all = [DHT_REPLY, TRACKER_BODY, EXT_HS.subarray(5), PEX.subarray(5)];
    for (const m of all) for (let n = 0; n <= m.length; n++) {
      const b = m.subarray(0, n);
      expect(() => [krpcPeers(b), trackerPeers(b), extendedPeers(b), lsdPeers(b), udpAnnounceResponse(b, false)]).not.toThrow();
    }
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), fc.boolean(), (b, tcp) => {
      const l = new BitTorrentLearner({ l4: tcp ? 'tcp' : 'udp', ipv6: false });
      const out: EndpointHint[] = [];
      l.data(0, b, out);
      l.data(1, concat(u8(0x64), b), out);
      krpcPeers(b);
      trackerPeers(concat(u8(0x64), b));
      extendedPeers(b);
    }), { numRuns: 500 });
  });
});

describe('BitTorrentLearner', () => {
  const trackerCases: [string, Uint8Array][] = [
    ['Content-Length', http(TRACKER_BODY)],
    ['chunked', http(concat(ascii('5\r\n'), TRACKER_BODY.subarray(0, 5), ascii(`\r\n${(TRACKER_BODY.length - 5).toString(16)}\r\n`), TRACKER_BODY.subarray(5), ascii('\r\n0\r\n\r\n')), 'Transfer-Encoding: chunked\r\n')],
    ['close-delimited', http(TRACKER_BODY, '')],
  ];
  const trackerWant = [peer('198.51.100.1', 6881, 'tracker'), peer('2001:db8::1', 6889, 'tracker')];
  const wireWant = [
    { ip: null, port: 51413, l4: 'both', source: 'listen-port' },
    peer('203.0.113.5', 6000, 'pex'), peer('203.0.113.6', 6001, 'pex'), peer('2001:db8::1', 7000, 'pex'),
  ];

  for (const [name, resp] of trackerCases) {
    it(`reads a tracker response (${name}) split at every byte, and marks the flow as no peer flow`, () => {
      for (let i = 0; i <= resp.length; i++) {
        const { out, learner } = tcpHints([resp.subarray(0, i), resp.subarray(i)]);
        expect(out, `split at ${i}`).toEqual(trackerWant);
        expect(learner.peerFlow).toBe(false);
      }
      expect(tcpHints([...resp].map((x) => u8(x))).out).toEqual(trackerWant);
    });
  }

  it('reads the peer wire (extended handshake p, ut_pex) split at every byte and at random points', () => {
    for (let i = 0; i <= PEER_WIRE.length; i++) {
      const { out, learner } = tcpHints([PEER_WIRE.subarray(0, i), PEER_WIRE.subarray(i)]);
      expect(out, `split at ${i}`).toEqual(wireWant);
      expect(learner.peerFlow).toBe(true);
    }
    fc.assert(fc.property(fc.array(fc.nat(), { maxLength: 12 }), (cuts) => {
      expect(tcpHints(splitAt(PEER_WIRE, cuts)).out).toEqual(wireWant);
    }), { numRuns: 300 });
  });

  it('reads the announce request port= split at every byte', () => {
    for (let i = 0; i <= TRACKER_GET.length; i++) {
      const { out, learner } = tcpHints([TRACKER_GET.subarray(0, i), TRACKER_GET.subarray(i)], 0);
      expect(out).toEqual([{ ip: null, port: 6881, l4: 'both', source: 'listen-port' }]);
      expect(learner.peerFlow).toBe(false);
    }
  });

  it('stops on hostile streams without throwing: huge lengths, bad handshakes, truncation', () => {
    const weirds: string[] = [];
    const l = new BitTorrentLearner({ l4: 'tcp', ipv6: false, weird: (w) => weirds.push(w) });
    const out: EndpointHint[] = [];
    l.data(0, concat(HANDSHAKE, be32(0xffffffff), u8(20)), out);
    l.data(0, PEX, out);
    expect(out).toEqual([]);
    expect(weirds).toEqual(['bt_message_too_long']);
    expect(tcpHints([concat(ascii('\x13NotTorrent protocol'), new Uint8Array(48), PEX)]).out).toEqual([]);
    for (let n = 0; n < PEER_WIRE.length; n++) expect(() => tcpHints([PEER_WIRE.subarray(0, n)])).not.toThrow();
    expect(tcpHints([http(TRACKER_BODY, 'Content-Length: 99999999\r\n')]).out).toEqual([]);
  });

  it('UDP: DHT replies, LSD, and BEP 15 announce responses matching a request seen (IPv4, IPv6)', () => {
    const out: EndpointHint[] = [];
    const u = new BitTorrentLearner({ l4: 'udp', ipv6: false });
    u.data(1, DHT_REPLY, out);
    expect(out).toHaveLength(2);
    expect(u.peerFlow).toBe(true);
    const req = new Uint8Array(98);
    req.set(be32(0x1234), 0);
    req.set(be32(1), 8);
    req.set(be32(77), 12);
    req.set(be16(6881), 96);
    const res = concat(be32(1), be32(77), be32(1800), be32(0), be32(2), v4('192.0.2.9', 7000));
    const t = new BitTorrentLearner({ l4: 'udp', ipv6: false });
    const o2: EndpointHint[] = [];
    t.data(1, res, o2);
    expect(o2).toEqual([]); // no request seen: not taken
    t.data(0, req, o2);
    t.data(1, res, o2);
    expect(o2).toEqual([{ ip: null, port: 6881, l4: 'both', source: 'listen-port' }, peer('192.0.2.9', 7000, 'udp-tracker')]);
    expect(t.peerFlow).toBe(false);
    const t6 = new BitTorrentLearner({ l4: 'udp', ipv6: true });
    const o3: EndpointHint[] = [];
    t6.data(0, req, o3);
    t6.data(1, concat(be32(1), be32(77), be32(1800), be32(0), be32(2), v6(7001)), o3);
    expect(o3[1]).toEqual(peer('2001:db8::1', 7001, 'udp-tracker'));
  });
});
