/**
 * eDonkey2000 / eMule: TCP framing (protocol byte 0xE3 eDonkey, 0xC5 eMule extended, 0xD4 eMule
 * packed; uint32 little-endian length of opcode + payload; opcode), eDonkey/eMule UDP (0xE3 server
 * UDP, 0xC5 client UDP) and Kademlia UDP (0xE4 Kad, 0xE5 Kad packed), after the eDonkey/eMule
 * protocol documentation (Kulbak & Bickson, "The eMule Protocol Specification", and eMule's
 * opcodes.h).
 *
 * Literal signatures (rules/p2pgw.rules): the protocol byte at offset 0 (`tcp-edonkey`,
 * `tcp-emule`, `tcp-packed`, `udp-edonkey`, `udp-emule`, `kad`, `kad-packed`); lengths and opcodes
 * are checked here. eMule protocol obfuscation on TCP (./obfuscation.ts) is confirmed by decrypting
 * the handshake when the responder's user hash was learned from a plaintext source answer
 * (./learner.ts), else recognised by its sizes, order and byte statistics where no plaintext form
 * matched.
 */
import type { AppDescriptor, Dir, SearchContext, SearchResult } from '../types.js';
import { CONFIRMED, DETECTED, EXCLUDED, NEED_MORE } from '../types.js';
import { u32le } from '../bytes.js';
import { hitAt, hitInDatagram, isZlibHeader, sigNames, type SigOf } from '../util.js';
import { EDONKEY } from './session.js';
import { decryptsWith, obfuscationState } from './obfuscation.js';
import { edonkeyLearner } from './learner.js';

const APP = 'edonkey';
/** The literal signatures this dissector reads: the protocol byte at offset 0 (rules/p2pgw.rules). */
const SIG = sigNames(APP, ['tcp-edonkey', 'tcp-emule', 'tcp-packed', 'udp-edonkey', 'udp-emule', 'kad', 'kad-packed']);
type Sig = SigOf<typeof SIG>;
const P_EDONKEY = 0xe3;
const P_EMULE = 0xc5;
const P_PACKED = 0xd4;
const P_KAD = 0xe4;
const P_KAD_PACKED = 0xe5;
/** Largest TCP message we accept as plausible (a packed shared-files list can be large). */
const MAX_MSG = 4 * 1024 * 1024;
const MAX_WALK = 16;

const set = (xs: number[]): ReadonlySet<number> => new Set(xs);

/** eDonkey TCP opcodes, client↔server and client↔client (opcodes.h, OP_EDONKEYPROT). */
const TCP_EDONKEY_OPS = set([
  0x01, 0x05, 0x14, 0x15, 0x16, 0x18, 0x19, 0x1a, 0x1c, 0x1d, 0x1e, 0x1f, 0x21, 0x23, 0x32, 0x33,
  0x34, 0x35, 0x36, 0x38, 0x39, 0x3a, 0x3b, 0x3c, 0x3d, 0x40, 0x41, 0x42, 0x43, 0x44, 0x46, 0x47,
  0x48, 0x49, 0x4a, 0x4b, 0x4c, 0x4d, 0x4e, 0x4f, 0x50, 0x51, 0x52, 0x54, 0x55, 0x56, 0x57, 0x58,
  0x59, 0x5b, 0x5c, 0x5d, 0x5e, 0x5f, 0x60, 0x61,
]);

/** eMule extended TCP opcodes (opcodes.h, OP_EMULEPROT). */
const TCP_EMULE_OPS = set([
  0x01, 0x02, 0x40, 0x60, 0x61, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x90, 0x91, 0x92, 0x93,
  0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0x9b, 0x9c, 0x9d, 0x9e, 0x9f, 0xa0, 0xa1, 0xa2, 0xa3,
  0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xb0,
]);

const TCP_SIG: Record<number, Sig> = { [P_EDONKEY]: 'tcp-edonkey', [P_EMULE]: 'tcp-emule', [P_PACKED]: 'tcp-packed' };

type Walk = 'valid' | 'started' | 'partial' | 'no';

/**
 * Walks the eDonkey TCP messages at the start of `b`: each is protocol byte, uint32 LE length
 * (counting the opcode and payload) and a known opcode; a packed (0xD4) payload must start with a
 * zlib header (RFC 1950). Returns `valid` when at least the first message is complete and every
 * byte seen fits the framing, `started` when the first header is complete but its payload is still
 * arriving, `partial` before that, `no` when the bytes break the framing.
 */
export function walkTcp(b: Uint8Array): Walk {
  let off = 0;
  for (let n = 0; n < MAX_WALK; n++) {
    if (off === b.length) return n > 0 ? 'valid' : 'partial';
    const proto = b[off];
    if (proto !== P_EDONKEY && proto !== P_EMULE && proto !== P_PACKED) return 'no';
    if (b.length - off < 5) return n > 0 ? 'valid' : 'partial';
    const len = u32le(b, off + 1);
    if (len < 1 || len > MAX_MSG) return 'no';
    if (b.length - off < 6) return n > 0 ? 'valid' : 'partial';
    const op = b[off + 5];
    const known = proto === P_EMULE ? TCP_EMULE_OPS.has(op) : TCP_EDONKEY_OPS.has(op) || (proto === P_PACKED && TCP_EMULE_OPS.has(op));
    if (!known) return 'no';
    if (proto === P_PACKED && b.length - off >= 8 && !isZlibHeader(b, off + 6)) return 'no';
    const end = off + 5 + len;
    if (end > b.length) return n > 0 ? 'valid' : 'started';
    off = end;
  }
  return 'valid';
}

/** Kad opcode → [min, max] payload length after the 2-byte header (Kad 2 and Kad 1 opcodes). */
const KAD_OPS: ReadonlyMap<number, readonly [number, number]> = new Map([
  // Kademlia 2
  [0x01, [0, 0]], // BOOTSTRAP_REQ
  [0x09, [21, 1500]], // BOOTSTRAP_RES
  [0x11, [20, 1500]], // HELLO_REQ: id, tcp port, version, tag list
  [0x19, [20, 1500]], // HELLO_RES
  [0x21, [33, 33]], // REQ: type, target, receiver
  [0x22, [17, 1500]], // HELLO_RES_ACK
  [0x29, [17, 1500]], // RES: target, count, contacts
  [0x33, [18, 1500]], // SEARCH_KEY_REQ
  [0x34, [26, 26]], // SEARCH_SOURCE_REQ: target, start, file size
  [0x35, [24, 24]], // SEARCH_NOTES_REQ: target, file size
  [0x3b, [34, 1500]], // SEARCH_RES
  [0x43, [18, 1500]], // PUBLISH_KEY_REQ
  [0x44, [33, 1500]], // PUBLISH_SOURCE_REQ
  [0x45, [33, 1500]], // PUBLISH_NOTES_REQ
  [0x4b, [17, 1500]], // PUBLISH_RES
  [0x4c, [0, 1500]], // PUBLISH_RES_ACK
  [0x53, [19, 19]], // FIREWALLED2_REQ: port, user hash, options
  [0x60, [0, 0]], // PING
  [0x61, [2, 2]], // PONG: port
  [0x62, [3, 3]], // FIREWALLUDP: error code, port
  // Kademlia 1 (obsolete, still seen)
  [0x00, [25, 25]], // BOOTSTRAP_REQ: id, ip, udp, tcp, type
  [0x08, [2, 1500]], // BOOTSTRAP_RES
  [0x10, [25, 25]], // HELLO_REQ
  [0x18, [25, 25]], // HELLO_RES
  [0x20, [33, 33]], // REQ
  [0x28, [17, 1500]], // RES
  [0x30, [17, 1500]], // SEARCH_REQ
  [0x38, [18, 1500]], // SEARCH_RES
  [0x40, [34, 1500]], // PUBLISH_REQ
  [0x48, [17, 1500]], // PUBLISH_RES
  [0x50, [2, 2]], // FIREWALLED_REQ: port
  [0x51, [34, 34]], // FINDBUDDY_REQ
  [0x52, [34, 34]], // CALLBACK_REQ
  [0x58, [4, 4]], // FIREWALLED_RES: ip
  [0x59, [0, 0]], // FIREWALLED_ACK_RES
  [0x5a, [34, 34]], // FINDBUDDY_RES
]);

/** eDonkey server UDP (0xE3) and eMule client UDP (0xC5) opcodes → [min, max] payload length. */
const UDP_EDONKEY_OPS: ReadonlyMap<number, readonly [number, number]> = new Map([
  [0x90, [1, 1500]], // GLOBSEARCHREQ3
  [0x92, [1, 1500]], // GLOBSEARCHREQ2
  [0x94, [20, 1500]], // GLOBGETSOURCES2
  [0x96, [4, 4]], // GLOBSERVSTATREQ: challenge
  [0x97, [12, 1500]], // GLOBSERVSTATRES
  [0x98, [1, 1500]], // GLOBSEARCHREQ
  [0x99, [16, 1500]], // GLOBSEARCHRES
  [0x9a, [16, 1500]], // GLOBGETSOURCES
  [0x9b, [17, 1500]], // GLOBFOUNDSOURCES
  [0x9c, [6, 6]], // GLOBCALLBACKREQ
  [0x9e, [4, 4]], // INVALID_LOWID
  [0xa0, [0, 0]], // SERVER_LIST_REQ
  [0xa1, [5, 1500]], // SERVER_LIST_RES
  [0xa2, [0, 4]], // SERVER_DESC_REQ (optional challenge)
  [0xa3, [4, 1500]], // SERVER_DESC_RES
  [0xa4, [0, 8]], // SERVER_LIST_REQ2
]);
const UDP_EMULE_OPS: ReadonlyMap<number, readonly [number, number]> = new Map([
  [0x90, [16, 1500]], // REASKFILEPING: file hash, part status...
  [0x91, [2, 1500]], // REASKACK: part status, queue rank
  [0x92, [16, 16]], // FILENOTFOUND: file hash
  [0x93, [0, 0]], // QUEUEFULL
  [0x94, [16, 1500]], // REASKCALLBACKUDP
  [0x95, [4, 1500]], // DIRECTCALLBACKREQ
  [0xfe, [1, 1500]], // PORTTEST
]);

/** How strongly one datagram looks like eDonkey/Kad UDP. */
export type UdpFit = 'exact' | 'plausible' | 'no';

/**
 * Classifies one eDonkey/eMule/Kad datagram: protocol byte, opcode known for that protocol and
 * payload length in the opcode's range (`exact` for fixed-size messages); packed Kad (0xE5)
 * must carry a zlib stream (RFC 1950) right after the opcode.
 */
export function udpFit(b: Uint8Array): UdpFit {
  if (b.length < 2) return 'no';
  const proto = b[0];
  const op = b[1];
  const n = b.length - 2;
  if (proto === P_KAD_PACKED) {
    return KAD_OPS.has(op) && n >= 8 && isZlibHeader(b, 2) ? 'exact' : 'no';
  }
  const table = proto === P_KAD ? KAD_OPS : proto === P_EDONKEY ? UDP_EDONKEY_OPS : proto === P_EMULE ? UDP_EMULE_OPS : null;
  const range = table?.get(op);
  if (!range || n < range[0] || n > range[1]) return 'no';
  return range[0] === range[1] && n > 0 ? 'exact' : 'plausible';
}

const UDP_SIG: Record<number, Sig> = {
  [P_EDONKEY]: 'udp-edonkey',
  [P_EMULE]: 'udp-emule',
  [P_KAD]: 'kad',
  [P_KAD_PACKED]: 'kad-packed',
};

function searchUdp(ctx: SearchContext): SearchResult {
  const b = ctx.payload;
  const sig = UDP_SIG[b[0]];
  const fit = sig && hitInDatagram(ctx, SIG, sig, 0) ? udpFit(b) : 'no';
  if (fit === 'exact') return DETECTED;
  const other = ctx.prefix[ctx.dir === 0 ? 1 : 0];
  if (fit === 'plausible' && other.length > 0 && udpFit(other) !== 'no') return DETECTED;
  const f0 = ctx.prefix[0].length > 0 ? udpFit(ctx.prefix[0]) : null;
  const f1 = ctx.prefix[1].length > 0 ? udpFit(ctx.prefix[1]) : null;
  const seenBoth = f0 !== null && f1 !== null;
  if ((f0 ?? 'no') === 'no' && (f1 ?? 'no') === 'no' && (seenBoth || ctx.packets[0] + ctx.packets[1] >= 2)) return EXCLUDED;
  return NEED_MORE;
}

type DirState = Walk | 'empty';

function tcpDirection(ctx: SearchContext, d: Dir): DirState {
  const p = ctx.prefix[d];
  if (p.length === 0) return 'empty';
  const w = walkTcp(p);
  if (w === 'no') return 'no';
  const sig = TCP_SIG[p[0]];
  if (!sig || !hitAt(ctx, SIG, sig, d)) return 'no';
  return w;
}

/** Bytes of the initiator's stream the key check reads: marker, key part and the encrypted magic value. */
const KEY_CHECK_BYTES = 9;

/**
 * Whether the initiator's opening decrypts with one of the user hashes learned for the responder.
 * Tried once, on the packet that brings the initiator's stream to 9 bytes (one MD5 and 1,033 RC4
 * steps per known hash).
 */
function decryptsWithPeerKey(ctx: SearchContext): boolean {
  const a = ctx.prefix[0];
  if (ctx.peerKeys.length === 0 || ctx.dir !== 0 || a.length < KEY_CHECK_BYTES) return false;
  if (a.length - ctx.payload.length >= KEY_CHECK_BYTES) return false;
  return ctx.peerKeys.some((k) => decryptsWith(a, k));
}

/** eDonkey/eMule/Kad dissector (see the file header for the specs). */
export function search(ctx: SearchContext): SearchResult {
  if (ctx.l4 === 'udp') return searchUdp(ctx);
  const s0 = tcpDirection(ctx, 0);
  const s1 = tcpDirection(ctx, 1);
  if (s0 === 'valid' || s1 === 'valid') return DETECTED;
  // A long first message still arriving on both sides: both framings agree, that is enough.
  if (s0 === 'started' && s1 === 'started') return DETECTED;
  if (s0 !== 'no') return NEED_MORE;
  // The initiator's bytes are no plaintext eDonkey: an obfuscated handshake?
  if (decryptsWithPeerKey(ctx)) return CONFIRMED;
  const obf = obfuscationState(ctx.flights, ctx.prefix);
  if (obf === 'obfuscated') return DETECTED;
  if (obf === 'no' && s1 === 'no') return EXCLUDED;
  return NEED_MORE;
}

export const edonkey: AppDescriptor = {
  name: APP,
  title: 'eDonkey/eMule',
  category: 'p2p',
  l4: ['tcp', 'udp'],
  defaultPorts: { tcp: [4661, 4662, 4242], udp: [4665, 4672] },
  source: 'eDonkey/eMule protocol (0xE3 eDonkey, 0xC5 eMule extended, 0xD4 packed; Kad 0xE4, Kad packed 0xE5); eMule protocol obfuscation (EncryptedStreamSocket)',
  signatures: SIG.names,
  sessions: EDONKEY,
  search,
  learner: edonkeyLearner,
};
