/**
 * BitTorrent: peer wire (BEP 3), HTTP tracker (BEP 3 "Trackers"), UDP tracker (BEP 15),
 * Mainline DHT KRPC (BEP 5) and uTP (BEP 29).
 *
 * Literal signatures (rules/p2pgw.rules): `handshake`, `tracker-announce`, `tracker-scrape`,
 * `info-hash`, `peer-id` (TCP); `krpc-query`, `krpc-response`, `krpc-error`, `udp-tracker` (UDP).
 * uTP has no literal: it is recognised from its header fields alone, in both directions.
 */
import type { AppDescriptor, Dir, SearchContext, SearchResult } from '../types.js';
import { DETECTED, EXCLUDED, NEED_MORE } from '../types.js';
import { ascii, u16be, u32be } from '../bytes.js';
import { bDict, bString, hitAt, looksRandom, hitsOf, indexOf, hitInDatagram, hitWithin, indexOfCrlf, prefixState, eitherDirection, sigNames, type DirState } from '../util.js';
import { BitTorrentMetaInspector, BT_WEIRDS } from './inspect.js';
import { BITTORRENT } from './session.js';
import { handshakeFlight, mseState, overlapsObfuscation, MSE_KEY, MSE_MAX_PAD, MSE_MIN_SELECT } from './mse.js';
import { btLearner } from './learner.js';

const APP = 'bittorrent';
/** The literal signatures this dissector reads (rules/p2pgw.rules defines each). */
const SIG = sigNames(APP, [
  'handshake', 'tracker-announce', 'tracker-scrape', 'info-hash', 'peer-id', 'krpc-query', 'krpc-response', 'krpc-error',
  'udp-tracker', 'udp-tracker-announce', 'udp-tracker-scrape', 'udp-tracker-connect-resp', 'udp-tracker-announce-resp',
  'udp-tracker-scrape-resp', 'lsd', 'lsd-infohash',
]);
/** BEP 3: the handshake starts with pstrlen = 19 and pstr "BitTorrent protocol". */
const HANDSHAKE_LEN = 20;
const GET = ascii('GET ');
/** Longest request line we wait for before giving up on the tracker form. */
const MAX_REQUEST_LINE = 1536;


/**
 * BEP 3 peer wire and tracker announce/scrape over HTTP, for one direction's stream prefix.
 * Handshake: `\x13BitTorrent protocol` at stream offset 0 (either side may be first seen).
 * Tracker: `GET <target>` whose request line carries `info_hash=` and either is an announce or
 * scrape path or also carries `peer_id=` (BEP 3 announce parameters).
 */
export function tcpDirection(ctx: SearchContext, d: Dir): DirState {
  const p = ctx.prefix[d];
  if (p.length === 0) return 'empty';
  if (p[0] === 0x13) {
    if (hitAt(ctx, SIG, 'handshake', d)) return 'detected';
    return p.length < HANDSHAKE_LEN ? 'candidate' : 'no';
  }
  const g = prefixState(p, GET);
  if (g === 'partial') return 'candidate';
  if (g === 'mismatch') return 'no';
  const eol = indexOfCrlf(p);
  const lineEnd = eol < 0 ? p.length : eol;
  const infoHash = hitWithin(ctx, SIG, 'info-hash', d, 4, lineEnd);
  const tracker =
    hitAt(ctx, SIG, 'tracker-announce', d) ||
    hitAt(ctx, SIG, 'tracker-scrape', d) ||
    hitWithin(ctx, SIG, 'peer-id', d, 4, lineEnd);
  if (infoHash && tracker) return 'detected';
  if (eol >= 0 || p.length >= MAX_REQUEST_LINE) return 'no';
  return 'candidate';
}

/** BEP 29 uTP header, or null when the bytes cannot be one. */
export interface UtpHeader {
  type: number;
  connId: number;
  seq: number;
  ack: number;
  /** Header + extensions length; the rest of the datagram is payload. */
  hdrLen: number;
}

const ST_DATA = 0;
const ST_STATE = 2;
const ST_SYN = 4;

/**
 * Parses a BEP 29 uTP header: version 1, type 0..4 (DATA, FIN, STATE, RESET, SYN), 20 bytes, then
 * an extension chain (type, len) ending with type 0; SACK (1) lengths are a multiple of 4 and at
 * least 4. STATE and SYN packets carry no payload.
 */
export function parseUtp(b: Uint8Array): UtpHeader | null {
  if (b.length < 20) return null;
  const type = b[0] >> 4;
  if ((b[0] & 0x0f) !== 1 || type > 4) return null;
  let ext = b[1];
  let off = 20;
  let n = 0;
  while (ext !== 0) {
    if (ext > 4 || off + 2 > b.length || ++n > 4) return null;
    const len = b[off + 1];
    if (len === 0 || (ext === 1 && len % 4 !== 0)) return null;
    ext = b[off];
    off += 2 + len;
    if (off > b.length) return null;
  }
  if ((type === ST_STATE || type === ST_SYN) && off !== b.length) return null;
  if (type === ST_DATA && off === b.length) return null;
  return { type, connId: u16be(b, 2), seq: u16be(b, 16), ack: u16be(b, 18), hdrLen: off };
}

const near = (a: number, b: number, win: number): boolean => ((a - b) & 0xffff) <= win || ((b - a) & 0xffff) <= win;

/**
 * BEP 29 connection set-up: the initiator's SYN carries connection_id = recv_id and the
 * responder answers (STATE) with that same connection_id and ack_nr = the SYN's seq_nr. Seen
 * mid-stream, the two sides' connection ids differ by exactly one and each side acknowledges
 * sequence numbers close to the other's.
 */
export function utpPair(a: UtpHeader, b: UtpHeader): boolean {
  if (a.type === ST_SYN) return b.type !== ST_SYN && b.connId === a.connId && b.ack === a.seq;
  if (b.type === ST_SYN) return utpPair(b, a);
  const diff = (a.connId - b.connId) & 0xffff;
  return (diff === 1 || diff === 0xffff) && near(a.ack, b.seq, 1024) && near(b.ack, a.seq, 1024);
}

/**
 * BEP 29 seen from one side only (the answer was not captured): a later packet of the same side
 * continues the first one, with the same connection id (or the SYN's id + 1, the initiator's
 * send_id) and a sequence number a little ahead.
 */
export function utpContinues(first: UtpHeader, later: UtpHeader): boolean {
  const ahead = (later.seq - first.seq) & 0xffff;
  const sameConn = later.connId === first.connId || (first.type === ST_SYN && later.connId === ((first.connId + 1) & 0xffff));
  return later.type !== ST_SYN && sameConn && ahead >= 1 && ahead <= 64;
}

/**
 * BEP 5 KRPC: a complete bencoded dictionary with a byte-string transaction id `t` and a type
 * `y` of `q` (with method `q` and arguments dict `a`), `r` (with dict `r`) or `e` (with list `e`).
 */
export function isKrpc(b: Uint8Array): boolean {
  const d = bDict(b);
  if (d === null || d === 'truncated' || d.end !== b.length) return false;
  const y = d.keys.get('y');
  const t = d.keys.get('t');
  if (!y || !t || bString(b, t) === null) return false;
  const yv = bString(b, y);
  if (!yv || yv.length !== 1) return false;
  const kind = yv[0];
  const a = d.keys.get('a');
  const q = d.keys.get('q');
  if (kind === 0x71) return !!q && bString(b, q) !== null && !!a && b[a[0]] === 0x64;
  const r = d.keys.get('r');
  if (kind === 0x72) return !!r && b[r[0]] === 0x64;
  const e = d.keys.get('e');
  if (kind === 0x65) return !!e && b[e[0]] === 0x6c;
  return false;
}

/** BEP 15 connect request: protocol_id 0x41727101980, action 0 (connect), 32-bit transaction id. */
export function isUdpTrackerConnect(ctx: SearchContext): boolean {
  const b = ctx.payload;
  const magic = b.length === 16 && u32be(b, 0) === 0x417 && u32be(b, 4) === 0x27101980;
  return magic && u32be(b, 8) === 0 && hitInDatagram(ctx, SIG, 'udp-tracker', 0);
}

/** Could this first datagram open a BitTorrent UDP exchange (KRPC, uTP or BEP 15 connect)? */
function plausibleUdp(b: Uint8Array): boolean {
  const action = b.length >= 16 ? UDP_TRACKER_ACTIONS[u32be(b, 8)] : undefined;
  return isKrpc(b) || parseUtp(b) !== null || (b.length === 16 && u32be(b, 0) === 0x417 && u32be(b, 4) === 0x27101980) || (!!action && action.req(b.length));
}

/**
 * BEP 14 Local Service Discovery announce: `BT-SEARCH * HTTP/1.1` with the LSD multicast group as
 * `Host` (239.192.152.143:6771 or [ff15::efc0:988f]:6771), a numeric `Port` and an `Infohash`.
 */
function isLsd(ctx: SearchContext): boolean {
  if (!hitInDatagram(ctx, SIG, 'lsd', 0) || !hitInDatagram(ctx, SIG, 'lsd-infohash')) return false;
  const text = String.fromCharCode(...ctx.payload.subarray(0, 1500));
  return /\r\nHost: *(239\.192\.152\.143|\[ff15::efc0:988f\]):6771\r\n/i.test(text) && /\r\nPort: *\d{1,5}\r\n/i.test(text);
}

/** BEP 15 request actions and the sizes of a request / response of each (n = entries). */
const UDP_TRACKER_ACTIONS: Record<number, { req: (n: number) => boolean; resp: (n: number) => boolean; sigs: ['udp-tracker' | 'udp-tracker-announce' | 'udp-tracker-scrape', 'udp-tracker-connect-resp' | 'udp-tracker-announce-resp' | 'udp-tracker-scrape-resp'] }> = {
  0: { req: (n) => n === 16, resp: (n) => n === 16, sigs: ['udp-tracker', 'udp-tracker-connect-resp'] },
  1: { req: (n) => n >= 98, resp: (n) => n >= 20 && ((n - 20) % 6 === 0 || (n - 20) % 18 === 0), sigs: ['udp-tracker-announce', 'udp-tracker-announce-resp'] },
  2: { req: (n) => n >= 36 && (n - 16) % 20 === 0, resp: (n) => n >= 20 && (n - 8) % 12 === 0, sigs: ['udp-tracker-scrape', 'udp-tracker-scrape-resp'] },
};

/**
 * A BEP 15 request and its response, also on a flow that did not start with the connect: the
 * request's action (offset 8) and the response's (offset 0) agree, the response echoes the
 * transaction id (request bytes 12–16, response bytes 4–8), and both sizes fit the action.
 */
function udpTrackerPair(ctx: SearchContext): boolean {
  const [q, r] = ctx.prefix;
  if (q.length < 16 || r.length < 8) return false;
  const a = UDP_TRACKER_ACTIONS[u32be(q, 8)];
  if (!a || u32be(r, 0) !== u32be(q, 8) || u32be(r, 4) !== u32be(q, 12) || !a.req(q.length) || !a.resp(r.length)) return false;
  return hitsOf(ctx, SIG, a.sigs[0], 0).length > 0 && hitsOf(ctx, SIG, a.sigs[1], 1).length > 0;
}

function searchUdp(ctx: SearchContext): SearchResult {
  const b = ctx.payload;
  if (isUdpTrackerConnect(ctx) || isLsd(ctx) || udpTrackerPair(ctx)) return DETECTED;
  if (b.length > 0 && b[0] === 0x64) {
    const krpcHit =
      hitInDatagram(ctx, SIG, 'krpc-query') || hitInDatagram(ctx, SIG, 'krpc-response') || hitInDatagram(ctx, SIG, 'krpc-error');
    if (krpcHit && isKrpc(b)) return DETECTED;
  }
  const [p0, p1] = ctx.prefix;
  const u0 = parseUtp(p0);
  const u1 = parseUtp(p1);
  if (u0 && u1 && utpPair(u0, u1)) return DETECTED;
  const mine = ctx.packets[ctx.dir] > 1 ? (ctx.dir === 0 ? u0 : u1) : null;
  const now = mine ? parseUtp(b) : null;
  if (mine && now && utpContinues(mine, now)) return DETECTED;
  if (p0.length > 0 && p1.length > 0) {
    // Both first datagrams are known and their uTP relation (checked above) cannot change.
    return isKrpc(p0) || isKrpc(p1) ? NEED_MORE : EXCLUDED;
  }
  const first = p0.length > 0 ? p0 : p1;
  // One side only: keep looking while its first datagram could open a BitTorrent exchange.
  if (ctx.packets[0] + ctx.packets[1] >= 2 && !plausibleUdp(first)) return EXCLUDED;
  return NEED_MORE;
}

/** `\x13BitTorrent protocol`: pstrlen and pstr of the BEP 3 handshake. */
const HANDSHAKE = Uint8Array.from([0x13, ...ascii('BitTorrent protocol')]);
/** Where a plaintext handshake can start behind MSE/PE: after Yb + PadB + VC + crypto_select + len(PadD) + PadD. */
const AFTER_MSE_MIN = MSE_KEY + MSE_MIN_SELECT;
const AFTER_MSE_MAX = MSE_KEY + MSE_MAX_PAD + MSE_MIN_SELECT + MSE_MAX_PAD;

/**
 * The BitTorrent handshake in plaintext behind an MSE/PE handshake that selected plaintext
 * (crypto_select 0x01): in either direction, `\x13BitTorrent protocol` at stream offset 110–1,134
 * whose stream starts with a random-looking 96-byte key.
 */
export function handshakeAfterMse(ctx: SearchContext): boolean {
  for (const d of [0, 1] as const) {
    const p = ctx.prefix[d];
    if (p.length < AFTER_MSE_MIN + HANDSHAKE.length || !looksRandom(p.subarray(0, MSE_KEY))) continue;
    if (indexOf(p, HANDSHAKE, AFTER_MSE_MIN, AFTER_MSE_MAX + HANDSHAKE.length) >= 0) return true;
  }
  return false;
}

/**
 * TCP: the plaintext forms (handshake at offset 0, tracker request) in either direction; where
 * neither matched, the MSE/PE handshake by its structure (./mse.ts) and a plaintext handshake
 * behind it. UDP: KRPC, the UDP tracker protocol and uTP.
 */
export function search(ctx: SearchContext): SearchResult {
  if (ctx.l4 === 'udp') return searchUdp(ctx);
  const plain = eitherDirection(ctx, tcpDirection);
  if (plain !== EXCLUDED) return plain;
  if (handshakeAfterMse(ctx)) return DETECTED;
  const flights = ctx.flights ?? [];
  let mse = mseState(flights, ctx.prefix);
  // Short enough for eMule obfuscation too: the initiator's handshake flight decides.
  if (mse === 'mse' && overlapsObfuscation(flights)) mse = handshakeFlight(flights);
  return mse === 'mse' ? DETECTED : mse === 'no' ? EXCLUDED : NEED_MORE;
}

/** BitTorrent dissector: BEP 3 / BEP 5 / BEP 15 / BEP 29 (see the file header). */
export const bittorrent: AppDescriptor = {
  name: APP,
  title: 'BitTorrent',
  category: 'p2p',
  l4: ['tcp', 'udp'],
  defaultPorts: { tcp: [6881, 6882, 6883, 6884, 6885, 6886, 6887, 6888, 6889, 51413], udp: [6881, 51413] },
  source: 'BEP 3 (peer wire, trackers), BEP 5 (DHT/KRPC), BEP 15 (UDP trackers), BEP 29 (uTP)',
  signatures: SIG.names,
  events: BT_WEIRDS,
  sessions: BITTORRENT,
  search,
  learner: btLearner,
  inspect: (events) => new BitTorrentMetaInspector(events),
};
