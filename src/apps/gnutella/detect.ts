/**
 * Gnutella 0.6 (RFC draft "Gnutella 0.6", 2002) and Gnutella2 UDP (GND): TCP handshakes
 * (`GNUTELLA CONNECT/`, `GNUTELLA/0.6 <code>`, the 0.4 `GNUTELLA OK`), push connections (`GIV`,
 * G2 `PUSH guid:`), Gnutella HTTP downloads (`/get/<index>/`, `/uri-res/N2R?urn:` of the HUGE
 * proposal, `/gnutella/...` THEX and push-proxy paths) carrying Gnutella-only headers, UDP
 * descriptors (23-byte header: GUID, payload type, TTL, hops, little-endian payload length) and
 * G2 UDP transceiver frames (`GND`, flags, sequence, part, count).
 *
 * Literal signatures live in rules/p2pgw.rules (`connect`, `response`, `ok`, `giv`, `push`,
 * `get-file`, `uri-res`, `head-uri-res`, `gnutella-path`, `head-gnutella-path`, the header
 * evidence `hdr-*` and `gnd`); the UDP descriptor header has no literal and is checked here.
 */
import type { AppDescriptor, Dir, SearchContext, SearchResult } from '../types.js';
import { DETECTED, EXCLUDED, NEED_MORE } from '../types.js';
import { ascii, u32le } from '../bytes.js';
import {
  anyPrefixState, digitRun, headerBlockEnd, hitAt, hitInDatagram, hitWithin, isDigit, isHex, isUpper, isZlibHeader,
  prefixState, sigNames, type SigOf,
} from '../util.js';
import { GnutellaInspector, GNUTELLA_WEIRDS } from './inspect.js';
import { GNUTELLA_SESSIONS } from './session.js';

const APP = 'gnutella';
/** The literal signatures this dissector reads (rules/p2pgw.rules defines each). */
const SIG = sigNames(APP, [
  'connect', 'response', 'ok', 'giv', 'push', 'get-file', 'uri-res', 'head-uri-res', 'gnutella-path', 'head-gnutella-path',
  'hdr-x-gnutella', 'hdr-x-alt', 'hdr-x-nalt', 'hdr-x-queue', 'hdr-x-content-urn', 'hdr-x-features', 'hdr-content-type', 'gnd',
]);
type Sig = SigOf<typeof SIG>;

/** Leading tokens of the handshake forms (grammar of the first line, used to wait or give up). */
const HANDSHAKE_TOKENS = [ascii('GNUTELLA CONNECT/'), ascii('GNUTELLA/'), ascii('GNUTELLA OK')];
const GIV = ascii('GIV ');
const PUSH = ascii('PUSH guid:');
const HTTP_FORMS: readonly (readonly [Uint8Array, Sig])[] = [
  [ascii('GET /get/'), 'get-file'],
  [ascii('GET /uri-res/'), 'uri-res'],
  [ascii('HEAD /uri-res/'), 'head-uri-res'],
  [ascii('GET /gnutella/'), 'gnutella-path'],
  [ascii('HEAD /gnutella/'), 'head-gnutella-path'],
];
const HTTP_RESPONSE = ascii('HTTP/');
/** Header-field signatures that only Gnutella servents send (HUGE, download mesh, PFSP, queues). */
const EVIDENCE: readonly Sig[] = ['hdr-x-gnutella', 'hdr-x-alt', 'hdr-x-nalt', 'hdr-x-queue', 'hdr-x-content-urn', 'hdr-content-type', 'hdr-x-features'];
/** Give up on a header section that has not ended within this many bytes. */
const MAX_HEADER = 2048;

type DirState = 'detected' | 'candidate' | 'http' | 'no' | 'empty';

/** `GIV <file index>:<servent GUID, 32 hex>/<name>` (Gnutella 0.6 §push) or G2 `PUSH guid:<32 hex>`. */
function guidAfter(p: Uint8Array, off: number): 'ok' | 'partial' | 'no' {
  for (let i = 0; i < 32; i++) {
    if (off + i >= p.length) return 'partial';
    if (!isHex(p[off + i])) return 'no';
  }
  return 'ok';
}

/**
 * State of one direction's stream prefix (TCP): a handshake, push or Gnutella download request
 * at offset 0 is `detected` or `http` (the request needs header evidence), an incomplete prefix of
 * one of those forms is `candidate`.
 */
export function tcpDirection(ctx: SearchContext, d: Dir): DirState {
  const p = ctx.prefix[d];
  if (p.length === 0) return 'empty';
  const hs = anyPrefixState(p, HANDSHAKE_TOKENS);
  if (hs === 'partial') return 'candidate';
  if (hs === 'match') {
    if (hitAt(ctx, SIG, 'connect', d) || hitAt(ctx, SIG, 'ok', d)) return 'detected';
    if (hitAt(ctx, SIG, 'response', d)) {
      // "GNUTELLA/0.6 200 OK": a version number must follow.
      if (p.length < 10) return 'candidate';
      return isDigit(p[9]) ? 'detected' : 'no';
    }
    return 'no';
  }
  const giv = prefixState(p, GIV);
  if (giv === 'partial') return 'candidate';
  if (giv === 'match') {
    const n = digitRun(p, 4);
    const colon = 4 + n;
    if (colon >= p.length) return 'candidate';
    if (n === 0 || p[colon] !== 0x3a) return 'no';
    const g = guidAfter(p, colon + 1);
    if (g === 'partial') return 'candidate';
    return g === 'ok' && hitAt(ctx, SIG, 'giv', d) ? 'detected' : 'no';
  }
  const push = prefixState(p, PUSH);
  if (push === 'partial') return 'candidate';
  if (push === 'match') {
    const g = guidAfter(p, PUSH.length);
    if (g === 'partial') return 'candidate';
    return g === 'ok' && hitAt(ctx, SIG, 'push', d) ? 'detected' : 'no';
  }
  let partial = false;
  for (const [tok, sig] of HTTP_FORMS) {
    const s = prefixState(p, tok);
    if (s === 'match') {
      if (!hitAt(ctx, SIG, sig, d)) return 'no';
      if (sig === 'get-file') {
        // RFC draft §download: GET /get/<file index>/<file name>
        const n = digitRun(p, tok.length);
        if (tok.length + n >= p.length) return 'candidate';
        if (n === 0 || p[tok.length + n] !== 0x2f) return 'no';
      }
      return 'http';
    }
    if (s === 'partial') partial = true;
  }
  if (partial || prefixState(p, HTTP_RESPONSE) === 'partial') return 'candidate';
  return 'no';
}

/** True if a Gnutella-only header field occurs inside the header section of direction `d`. */
function evidence(ctx: SearchContext, d: Dir): boolean {
  const p = ctx.prefix[d];
  const end = headerBlockEnd(p);
  // A field's leading CRLF starts before the CRLF of the empty line that ends the section.
  const to = end < 0 ? p.length : end - 2;
  return EVIDENCE.some((s) => hitWithin(ctx, SIG, s, d, 0, to));
}

/** Whether direction `d`'s header section is over (or will never be, within the window). */
function headersDone(p: Uint8Array): boolean {
  return headerBlockEnd(p) >= 0 || p.length >= MAX_HEADER;
}

function searchTcp(ctx: SearchContext): SearchResult {
  const s: DirState[] = [tcpDirection(ctx, 0), tcpDirection(ctx, 1)];
  if (s[0] === 'detected' || s[1] === 'detected') return DETECTED;
  for (const d of [0, 1] as const) {
    if (s[d] !== 'http') continue;
    const o: Dir = d === 0 ? 1 : 0;
    if (evidence(ctx, d) || evidence(ctx, o)) return DETECTED;
    const reqDone = headersDone(ctx.prefix[d]);
    const resp = ctx.prefix[o];
    const respDone = resp.length > 0 && (prefixState(resp, HTTP_RESPONSE) !== 'match' || headersDone(resp));
    if (!reqDone || !respDone) return NEED_MORE;
  }
  if (s[0] === 'candidate' || s[1] === 'candidate') return NEED_MORE;
  if (s[0] === 'empty' || s[1] === 'empty') return NEED_MORE;
  return EXCLUDED;
}

/** Gnutella 0.6 payload types seen over UDP (RFC draft §2.2, vendor messages, Mojito DHT 0x44). */
const UDP_TYPES = new Set([0x00, 0x01, 0x02, 0x31, 0x32, 0x40, 0x44, 0x80, 0x81]);
const GGEP_MAGIC = 0xc3;
const MAX_TTL_HOPS = 16;

const isAlnum = (c: number): boolean => isDigit(c) || isUpper(c) || (c >= 0x61 && c <= 0x7a);

/**
 * A Gnutella 0.6 descriptor sent as one datagram (GND/UDP, "Gnutella over UDP"): 16-byte GUID,
 * payload type, TTL, hops, payload length (LE) equal to the datagram length − 23, and a payload
 * shaped as its type requires (ping: empty or GGEP; pong: port, IP, counts then GGEP; vendor
 * message: 4-letter vendor code; Mojito DHT: opcode and vendor code; query: speed and a
 * NUL-terminated criteria; query hit: count, port, IP, speed, … 16-byte servent id).
 */
export function isGnutellaDescriptor(b: Uint8Array): boolean {
  if (b.length < 23 || u32le(b, 19) !== b.length - 23) return false;
  const type = b[16];
  if (!UDP_TYPES.has(type) || b[17] > MAX_TTL_HOPS || b[18] > MAX_TTL_HOPS) return false;
  let same = true;
  for (let i = 1; i < 16; i++) if (b[i] !== b[0]) same = false;
  if (same) return false;
  const n = b.length - 23;
  const p = 23;
  switch (type) {
    case 0x00:
      return n === 0 || b[p] === GGEP_MAGIC;
    case 0x01:
      return n === 14 || (n > 14 && b[p + 14] === GGEP_MAGIC);
    case 0x02:
      return n >= 2;
    case 0x31:
    case 0x32:
      return n >= 8 && isAlnum(b[p]) && isAlnum(b[p + 1]) && isAlnum(b[p + 2]) && isAlnum(b[p + 3]);
    case 0x40:
      return n >= 26;
    case 0x44:
      return n >= 5 && b[p] >= 1 && b[p] <= 10 && isAlnum(b[p + 1]) && isAlnum(b[p + 2]) && isAlnum(b[p + 3]) && isAlnum(b[p + 4]);
    case 0x80:
      return n >= 3 && b.indexOf(0, p + 2) >= 0;
    case 0x81:
      return n >= 27 && b[p] >= 1;
    default:
      return false;
  }
}

/**
 * A Gnutella2 UDP transceiver frame: "GND", flags (0x01 deflate, 0x02 acknowledge), sequence,
 * part number and part count. An acknowledgement (count 0) is exactly 8 bytes; the first part of a
 * message starts with a zlib stream when deflated, else with a G2 packet header (control byte,
 * length, uppercase name) whose length fits the datagram.
 */
export function isGndFrame(b: Uint8Array): boolean {
  if (b.length < 8 || b[0] !== 0x47 || b[1] !== 0x4e || b[2] !== 0x44) return false;
  const flags = b[3];
  const part = b[6];
  const count = b[7];
  if (count === 0) return b.length === 8 && part >= 1;
  if (part < 1 || part > count || b.length === 8) return false;
  if (part !== 1) return true;
  if (flags & 0x01) return isZlibHeader(b, 8);
  const cb = b[8];
  if (cb & 0x01) return false;
  const lenLen = cb >> 6;
  const nameLen = ((cb >> 3) & 7) + 1;
  let off = 9;
  if (off + lenLen + nameLen > b.length) return false;
  let len = 0;
  const be = (cb & 0x02) !== 0;
  for (let i = 0; i < lenLen; i++) len = be ? (len << 8) | b[off + i] : len | (b[off + i] << (8 * i));
  off += lenLen;
  for (let i = 0; i < nameLen; i++) {
    const c = b[off + i];
    if (!(isUpper(c) || isDigit(c) || c === 0x5f)) return false;
  }
  off += nameLen;
  return count === 1 ? off + len === b.length : off + len >= b.length;
}

/** Is this datagram Gnutella (descriptor or GND frame with its signature hit)? */
function udpDatagram(ctx: SearchContext): boolean {
  const b = ctx.payload;
  if (isGndFrame(b)) return hitInDatagram(ctx, SIG, 'gnd', 0);
  return isGnutellaDescriptor(b);
}

const looksGnutella = (b: Uint8Array): boolean => isGndFrame(b) || isGnutellaDescriptor(b);

function searchUdp(ctx: SearchContext): SearchResult {
  if (udpDatagram(ctx)) return DETECTED;
  const [p0, p1] = ctx.prefix;
  const firstsFail = (p0.length === 0 || !looksGnutella(p0)) && (p1.length === 0 || !looksGnutella(p1));
  if (firstsFail && ((p0.length > 0 && p1.length > 0) || ctx.packets[0] + ctx.packets[1] >= 2)) return EXCLUDED;
  return NEED_MORE;
}

/** Gnutella dissector (Gnutella 0.6 RFC draft, HUGE, GND/G2 UDP; see the file header). */
export function search(ctx: SearchContext): SearchResult {
  return ctx.l4 === 'udp' ? searchUdp(ctx) : searchTcp(ctx);
}

export const gnutella: AppDescriptor = {
  name: APP,
  title: 'Gnutella',
  category: 'p2p',
  l4: ['tcp', 'udp'],
  defaultPorts: { tcp: [6346, 6347], udp: [6346, 6347] },
  source: 'Gnutella 0.6 RFC draft, HUGE 0.94, Gnutella2 UDP transceiver (GND)',
  signatures: SIG.names,
  events: GNUTELLA_WEIRDS,
  sessions: GNUTELLA_SESSIONS,
  search,
  inspect: (events) => new GnutellaInspector(events),
};
