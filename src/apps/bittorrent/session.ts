/**
 * BitTorrent sessions, byte-accurate to the specs:
 * - peer wire over TCP: BEP 3 "The BitTorrent Protocol Specification" (handshake, length-prefixed
 *   messages: bitfield 5, interested 2, unchoke 1, request 6, piece 7, have 4), reserved bits from
 *   BEP 10 (extension protocol, reserved[5] & 0x10), BEP 5 (DHT, reserved[7] & 0x01) and BEP 6
 *   (fast extension, reserved[7] & 0x04);
 * - DHT over UDP: BEP 5 KRPC `ping` query and response, bencoded;
 * - uTP over UDP: BEP 29 20-byte header (type/version, extension, connection_id, timestamps,
 *   wnd_size, seq_nr, ack_nr): ST_SYN → ST_STATE, ST_DATA carrying the BEP 3 handshake each way,
 *   ST_FIN → ST_STATE;
 * - HTTP tracker: BEP 3 announce GET with percent-encoded info_hash/peer_id, BEP 23 compact reply.
 */
import { ascii, be16, be32, bencode, concat, prngBytes, u8 } from '../bytes.js';
import { inn, out, type BuildOpts, type SessionTemplate, type Step } from '../session-types.js';

/** BEP 3 protocol string, preceded by its length byte 19. */
export const BT_PSTR = '\x13BitTorrent protocol';

/** Block size requested in `request` messages (16 KiB, what every client uses; BEP 3). */
export const BT_BLOCK = 16 * 1024;

/** Torrent identity derived from the seed: 20-byte info_hash and the two peers' 20-byte ids. */
export function btIds(seed: number): { infoHash: Uint8Array; clientId: Uint8Array; serverId: Uint8Array } {
  const infoHash = prngBytes(seed, 20, 'bt-infohash');
  // Azureus-style peer ids (BEP 20): "-XXvvvv-" then 12 random printable bytes.
  const tail = (label: string): Uint8Array =>
    Uint8Array.from(prngBytes(seed, 12, label), (b) => 0x30 + (b % 10));
  return {
    infoHash,
    clientId: concat(ascii('-TR2940-'), tail('bt-peer-c')),
    serverId: concat(ascii('-qB4250-'), tail('bt-peer-s')),
  };
}

/** BEP 3 handshake: pstrlen, pstr, 8 reserved bytes, info_hash, peer_id (68 bytes). */
export function btHandshake(infoHash: Uint8Array, peerId: Uint8Array): Uint8Array {
  const reserved = u8(0, 0, 0, 0, 0, 0x10, 0, 0x05);
  return concat(ascii(BT_PSTR), reserved, infoHash, peerId);
}

/** A BEP 3 message: 4-byte big-endian length (id + payload), 1-byte id, payload. */
export function btMessage(id: number, payload: Uint8Array = new Uint8Array(0)): Uint8Array {
  return concat(be32(1 + payload.length), u8(id), payload);
}

const peerWire = (o: BuildOpts): Step[] => {
  const { infoHash, clientId, serverId } = btIds(o.seed);
  const pieces = 12;
  // Bitfield: one bit per piece, high bit first, spare bits zero (BEP 3).
  const bitfield = u8(0xff, 0xf0);
  const block = prngBytes(o.seed, BT_BLOCK, 'bt-block');
  return [
    out(btHandshake(infoHash, clientId)),
    inn(concat(btHandshake(infoHash, serverId), btMessage(5, bitfield))),
    out(concat(btMessage(5, u8(0x00, 0x00)), btMessage(2))),
    inn(btMessage(1)),
    out(btMessage(6, concat(be32(pieces - 1), be32(0), be32(BT_BLOCK)))),
    inn(btMessage(7, concat(be32(pieces - 1), be32(0), block))),
    out(btMessage(4, be32(pieces - 1))),
  ];
};

const dht = (o: BuildOpts): Step[] => {
  const clientNode = prngBytes(o.seed, 20, 'dht-node-c');
  const serverNode = prngBytes(o.seed, 20, 'dht-node-s');
  const t = ascii('aa');
  return [
    out(bencode({ t, y: 'q', q: 'ping', a: { id: clientNode } })),
    inn(bencode({ t, y: 'r', r: { id: serverNode } })),
  ];
};

/** uTP packet types (BEP 29). */
export const UTP = Object.freeze({ ST_DATA: 0, ST_FIN: 1, ST_STATE: 2, ST_RESET: 3, ST_SYN: 4, VERSION: 1 });

/** BEP 29 header (20 bytes, big-endian) followed by `payload`. Timestamps in microseconds. */
export function utpPacket(
  type: number,
  connId: number,
  tsUs: number,
  tsDiffUs: number,
  wnd: number,
  seq: number,
  ack: number,
  payload: Uint8Array = new Uint8Array(0),
): Uint8Array {
  return concat(
    u8((type << 4) | UTP.VERSION, 0),
    be16(connId),
    be32(tsUs),
    be32(tsDiffUs),
    be32(wnd),
    be16(seq),
    be16(ack),
    payload,
  );
}

const utp = (o: BuildOpts): Step[] => {
  const { infoHash, clientId, serverId } = btIds(o.seed);
  const r = prngBytes(o.seed, 8, 'utp');
  const recvId = ((r[0] << 8) | r[1]) & 0xfffe; // initiator: conn_id_recv; conn_id_send = recv + 1
  const sendId = recvId + 1;
  const cSeq = 1;
  const sSeq = (r[2] << 8) | r[3];
  const t0 = 0x10000000 + ((r[4] << 8) | r[5]);
  const wnd = 1048576;
  return [
    out(utpPacket(UTP.ST_SYN, recvId, t0, 0, wnd, cSeq, 0)),
    // Responder answers with connection_id = the SYN's id and ack_nr = the SYN's seq_nr.
    inn(utpPacket(UTP.ST_STATE, recvId, t0 + 900, 900, wnd, sSeq, cSeq)),
    out(utpPacket(UTP.ST_DATA, sendId, t0 + 2000, 1100, wnd, cSeq + 1, sSeq, btHandshake(infoHash, clientId))),
    inn(utpPacket(UTP.ST_DATA, recvId, t0 + 2900, 900, wnd, sSeq, cSeq + 1, btHandshake(infoHash, serverId))),
    out(utpPacket(UTP.ST_FIN, sendId, t0 + 4000, 1100, wnd, cSeq + 2, sSeq)),
    inn(utpPacket(UTP.ST_STATE, recvId, t0 + 4900, 900, wnd, sSeq, cSeq + 2)),
  ];
};

/** Percent-encodes every byte except RFC 3986 unreserved characters (what trackers expect for info_hash). */
export function urlencodeBytes(b: Uint8Array): string {
  let s = '';
  for (const c of b) {
    const ch = String.fromCharCode(c);
    s += /[A-Za-z0-9\-._~]/.test(ch) ? ch : '%' + c.toString(16).toUpperCase().padStart(2, '0');
  }
  return s;
}

const tracker = (o: BuildOpts): Step[] => {
  const { infoHash, clientId } = btIds(o.seed);
  const q =
    `info_hash=${urlencodeBytes(infoHash)}&peer_id=${urlencodeBytes(clientId)}&port=51413` +
    `&uploaded=0&downloaded=0&left=196608&compact=1&numwant=50&event=started`;
  const req =
    `GET /announce?${q} HTTP/1.1\r\nHost: ${o.serverAddr}:${o.port}\r\n` +
    `User-Agent: Transmission/2.94\r\nAccept: */*\r\nAccept-Encoding: gzip;q=1.0, deflate, identity\r\n\r\n`;
  // BEP 23 compact peer list: 4-byte IPv4 + 2-byte port, big-endian.
  const peer = concat(Uint8Array.from(o.clientAddr.split('.').map(Number)), be16(6881));
  const body = bencode({ complete: 1, incomplete: 1, interval: 1800, 'min interval': 900, peers: peer });
  const head = `HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n`;
  return [out(ascii(req)), inn(concat(ascii(head), body))];
};

/** Registry entries for BitTorrent: peer wire (TCP), DHT (UDP), uTP (UDP), HTTP tracker (TCP). */
export const BITTORRENT: readonly SessionTemplate[] = [
  { app: 'bittorrent', variant: 'peerwire', l4: 'tcp', source: 'BEP 3, BEP 10, BEP 6', build: peerWire },
  { app: 'bittorrent', variant: 'dht', l4: 'udp', source: 'BEP 5 (KRPC ping)', build: dht },
  { app: 'bittorrent', variant: 'utp', l4: 'udp', source: 'BEP 29 (uTP)', build: utp },
  { app: 'bittorrent', variant: 'tracker', l4: 'tcp', source: 'BEP 3 (tracker HTTP), BEP 23', build: tracker },
];
