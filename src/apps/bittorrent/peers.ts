/**
 * BitTorrent peer-endpoint parsers (issue 12, endpoint knowledge): pure functions over one
 * complete message that return the peer endpoints it lists (src/apps/types.ts EndpointHint).
 *
 * - compact peers: BEP 23 (IPv4, 6 bytes: address, port, network order) and BEP 7 (IPv6, 18 bytes);
 * - KRPC (BEP 5): responses with `r.values` (a list of compact peer strings; BEP 32 adds 18-byte
 *   ones), and `announce_peer` queries (`a.port`, or the sender's source port with `a.implied_port`);
 * - HTTP tracker responses (BEP 3 "Trackers", BEP 23, BEP 7): bencoded dictionary with `peers` as a
 *   compact string or a list of dictionaries {ip, port}, and `peers6`;
 * - the announce request's `port=` (BEP 3): the announcing client's listen port;
 * - UDP tracker announce (BEP 15): request (action 1, the client's `port` at offset 96) and
 *   response (action 1: 20-byte header, then 6-byte peers, or 18-byte over IPv6);
 * - BEP 10 extension messages: the extended handshake's `p` (the sender's listen port) and
 *   `ut_pex` (BEP 11) `added` / `added6` compact peers;
 * - Local Service Discovery (BEP 14): `BT-SEARCH * HTTP/1.1` with a `Port:` header.
 *
 * Never throws on hostile input: anything malformed yields no endpoint. At most `MAX_PEERS`
 * endpoints are taken from one message; ports 0 and addresses that are no IP literal are skipped.
 *
 * `BitTorrentLearner` (./learner.ts, the descriptor's `learner`) finds these messages in a flow.
 */
import { isIPv6 } from 'node:net';
import type { EndpointHint } from '../types.js';
import { latin1, u16be, u32be } from '../bytes.js';
import { formatIpv4, formatIpv6 } from '../../decode/addr.js';
import { bdecode, type BValue } from './inspect.js';

/** Most endpoints taken from one message (a tracker's numwant is 50–200; more is not a real reply). */
export const MAX_PEERS = 512;
/** BEP 15 announce request length (IPv4 and IPv6 alike) and response header length. */
export const UDP_ANNOUNCE_REQUEST = 98;
export const UDP_ANNOUNCE_HEADER = 20;
/** BEP 15 protocol id of the connect request, and action 1 = announce. */
const ACTION_ANNOUNCE = 1;

type Source = EndpointHint['source'];

const get = (d: BValue | undefined, k: string): BValue | undefined => (d instanceof Map ? d.get(k) : undefined);
const str = (v: BValue | undefined): Uint8Array | null => (v instanceof Uint8Array ? v : null);
const port = (v: BValue | undefined): number | null => (typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 65535 ? v : null);

/** A complete bencoded dictionary spanning all of `b`, or null. */
function dictOf(b: Uint8Array): Map<string, BValue> | null {
  if (b.length === 0 || b[0] !== 0x64) return null;
  const r = bdecode(b, 0);
  return r && r.v instanceof Map ? r.v : null;
}

/**
 * Compact peers (BEP 23: 6 bytes each; BEP 7: 18 bytes each) in `b`, appended to `out` as
 * endpoints of `l4` `both` found by `source`. A trailing partial entry and port 0 are skipped.
 */
export function compactPeers(b: Uint8Array, width: 6 | 18, source: Source, out: EndpointHint[] = []): EndpointHint[] {
  for (let off = 0; off + width <= b.length && out.length < MAX_PEERS; off += width) {
    const p = u16be(b, off + width - 2);
    if (p === 0) continue;
    out.push({ ip: width === 6 ? formatIpv4(b, off) : formatIpv6(b, off), port: p, l4: 'both', source });
  }
  return out;
}

/**
 * The canonical text of an IP literal (dotted quad, or RFC 5952 for IPv6 as src/decode/addr.ts
 * writes it), or null for anything else (host names, zone ids, junk).
 */
export function ipLiteral(s: string): string | null {
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (v4) return v4.slice(1).every((o) => Number(o) <= 255) ? v4.slice(1).map(Number).join('.') : null;
  if (s.length > 45 || !isIPv6(s) || s.includes('%')) return null;
  try {
    return new URL(`http://[${s}]/`).hostname.slice(1, -1);
  } catch {
    return null;
  }
}

/**
 * A KRPC message (BEP 5) in one UDP datagram: `r.values` of a get_peers response (each a compact
 * peer string of 6 or 18 bytes, BEP 32), or the port of an `announce_peer` query (`a.port`, or
 * the sender's source port when `a.implied_port` is 1: `port` null). Sender endpoints have `ip`
 * null. Source `dht`.
 */
export function krpcPeers(b: Uint8Array): EndpointHint[] {
  const d = dictOf(b);
  const y = str(get(d ?? undefined, 'y'));
  if (!d || !y || y.length !== 1) return [];
  const out: EndpointHint[] = [];
  if (y[0] === 0x72 /* r */) {
    const values = get(get(d, 'r'), 'values');
    if (!Array.isArray(values)) return out;
    for (const v of values) if (v instanceof Uint8Array && (v.length === 6 || v.length === 18)) compactPeers(v, v.length === 6 ? 6 : 18, 'dht', out);
    return out;
  }
  const q = str(get(d, 'q'));
  if (y[0] === 0x71 /* q */ && q && latin1(q) === 'announce_peer') {
    const a = get(d, 'a');
    if (get(a, 'implied_port') === 1) out.push({ ip: null, port: null, l4: 'both', source: 'dht' });
    else {
      const p = port(get(a, 'port'));
      if (p !== null) out.push({ ip: null, port: p, l4: 'both', source: 'dht' });
    }
  }
  return out;
}

/**
 * An HTTP tracker response body (BEP 3 "Trackers"): a bencoded dictionary whose `peers` is a
 * compact string (BEP 23) or a list of dictionaries with `ip` (an IP literal; host names are
 * skipped) and `port`, and whose `peers6` is a compact IPv6 string (BEP 7). Source `tracker`.
 */
export function trackerPeers(body: Uint8Array): EndpointHint[] {
  const d = dictOf(body);
  if (!d) return [];
  const out: EndpointHint[] = [];
  const peers = d.get('peers');
  if (peers instanceof Uint8Array) compactPeers(peers, 6, 'tracker', out);
  else if (Array.isArray(peers)) {
    for (const p of peers) {
      if (out.length >= MAX_PEERS) break;
      const ipb = str(get(p, 'ip'));
      const pt = port(get(p, 'port'));
      const ip = ipb && ipb.length <= 64 ? ipLiteral(latin1(ipb)) : null;
      if (ip && pt !== null) out.push({ ip, port: pt, l4: 'both', source: 'tracker' });
    }
  }
  const p6 = d.get('peers6');
  if (p6 instanceof Uint8Array) compactPeers(p6, 18, 'tracker', out);
  return out;
}

/**
 * The `port=` parameter of a tracker announce request line (BEP 3: `GET <path>?...&port=N&...
 * HTTP/1.x`): the announcing client's listen port, or null.
 */
export function announcePort(requestLine: string): number | null {
  const sp = requestLine.indexOf(' ');
  const end = requestLine.indexOf(' ', sp + 1);
  const target = requestLine.slice(sp + 1, end < 0 ? undefined : end);
  const q = target.indexOf('?');
  if (q < 0) return null;
  for (const param of target.slice(q + 1).split('&')) {
    if (!param.startsWith('port=')) continue;
    const v = param.slice(5);
    return /^[0-9]{1,5}$/.test(v) && Number(v) >= 1 && Number(v) <= 65535 ? Number(v) : null;
  }
  return null;
}

/**
 * BEP 15 announce request (`connection_id` 8, action 1, transaction_id, info_hash, peer_id,
 * downloaded, left, uploaded, event, IP, key, num_want, port at offset 96): its transaction id
 * and the client's listen port (0 = none), or null when `b` is no announce request.
 */
export function udpAnnounceRequest(b: Uint8Array): { tid: number; port: number } | null {
  if (b.length < UDP_ANNOUNCE_REQUEST || u32be(b, 8) !== ACTION_ANNOUNCE) return null;
  return { tid: u32be(b, 12), port: u16be(b, 96) };
}

/**
 * BEP 15 announce response: action 1, transaction id, interval, leechers, seeders, then compact
 * peers (6 bytes, or 18 when the tracker was reached over IPv6). Returns the transaction id and
 * the peers (source `udp-tracker`), or null when `b` cannot be one.
 */
export function udpAnnounceResponse(b: Uint8Array, ipv6: boolean): { tid: number; peers: EndpointHint[] } | null {
  const width = ipv6 ? 18 : 6;
  if (b.length < UDP_ANNOUNCE_HEADER || u32be(b, 0) !== ACTION_ANNOUNCE || (b.length - UDP_ANNOUNCE_HEADER) % width !== 0) return null;
  return { tid: u32be(b, 4), peers: compactPeers(b.subarray(UDP_ANNOUNCE_HEADER), width, 'udp-tracker') };
}

/**
 * The payload of one BEP 10 extension message (after the peer-wire id 20): extended id 0 is the
 * extended handshake, whose `p` is the sender's listen port (source `listen-port`, `ip` null);
 * any other id whose dictionary has `added` / `added6` is taken as `ut_pex` (BEP 11; the id is
 * negotiated per connection, so it is not checked), source `pex`.
 */
export function extendedPeers(payload: Uint8Array): EndpointHint[] {
  if (payload.length < 2) return [];
  const d = dictOf(payload.subarray(1));
  if (!d) return [];
  if (payload[0] === 0) {
    const p = port(d.get('p'));
    return p === null ? [] : [{ ip: null, port: p, l4: 'both', source: 'listen-port' }];
  }
  const out: EndpointHint[] = [];
  const added = d.get('added');
  if (added instanceof Uint8Array) compactPeers(added, 6, 'pex', out);
  const added6 = d.get('added6');
  if (added6 instanceof Uint8Array) compactPeers(added6, 18, 'pex', out);
  return out;
}

const LSD_START = 'BT-SEARCH * HTTP/1.1';

/**
 * A Local Service Discovery announce (BEP 14) in one datagram: `BT-SEARCH * HTTP/1.1`, header
 * lines (`Host`, `Port`, `Infohash`, optional `cookie`), an empty line. Returns the sender's
 * endpoint at the announced `Port` (source `lsd`, `ip` null), or nothing.
 */
export function lsdPeers(b: Uint8Array): EndpointHint[] {
  if (b.length < LSD_START.length + 2 || b.length > 4096) return [];
  const lines = latin1(b).split(/\r?\n/);
  if (lines[0] !== LSD_START) return [];
  for (const line of lines.slice(1)) {
    const m = /^port:[ \t]*([0-9]{1,5})[ \t]*$/i.exec(line);
    if (m) {
      const p = Number(m[1]);
      return p >= 1 && p <= 65535 ? [{ ip: null, port: p, l4: 'both', source: 'lsd' }] : [];
    }
  }
  return [];
}

/** BEP 15 connect request: protocol_id 0x41727101980, action 0 (the responder is a tracker). */
export function isUdpConnect(b: Uint8Array): boolean {
  return b.length === 16 && u32be(b, 0) === 0x417 && u32be(b, 4) === 0x27101980 && u32be(b, 8) === 0;
}

/** Does this datagram start an LSD announce (BEP 14)? */
export function isLsd(b: Uint8Array): boolean {
  if (b.length < 9) return false;
  for (let i = 0; i < 9; i++) if (b[i] !== LSD_START.charCodeAt(i)) return false;
  return true;
}

