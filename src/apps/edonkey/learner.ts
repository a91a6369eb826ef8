/**
 * The eDonkey endpoint learner of one flow (issue 16; src/apps/types.ts EndpointLearner): reads the
 * plaintext eDonkey/eMule/Kad messages of a classified flow and reports the peers they reveal, so
 * a later connection to one of them is classified at its SYN (even when it is obfuscated), and the
 * peers' user hashes, which key their obfuscated handshakes (./obfuscation.ts).
 *
 * TCP (`<protocol 1><length 4 LE><opcode 1><payload>`, 0xD4 payloads zlib-packed; Kulbak &
 * Bickson, "The eMule Protocol Specification"; eMule's opcodes.h), input split at any byte:
 *  - OP_FOUNDSOURCES (0x42): file hash (16), count (1), count × (client id 4, port 2);
 *  - OP_FOUNDSOURCES_OBFU (0x44): the same with crypt options (1) per source and, when its bit 7
 *    is set, the source's user hash (16);
 *  - OP_CALLBACKREQUESTED (0x35): address (4), port (2) [, crypt options (1), user hash (16)];
 *  - OP_SERVERLIST (0x32): count (1), count × (address 4, port 2);
 *  - OP_HELLO (0x01, hash size 16 first) and OP_HELLOANSWER (0x4C): the sender's user hash (16),
 *    client id (4) and listen port (2).
 * A client id of 16,777,216 or more is a "high id": the client's IPv4 address, octets in the order
 * sent; a lower ("low") id names no reachable endpoint and is skipped.
 * UDP (one datagram): Kad 2 KADEMLIA2_BOOTSTRAP_RES (0x09) and KADEMLIA2_RES (0x29), Kad 1
 * KADEMLIA_RES (0x28): contacts of 25 bytes (node id 16, address 4 as a little-endian integer,
 * UDP port 2, TCP port 2, version 1); KADEMLIA2_HELLO_REQ/RES (0x11/0x19): the sender's TCP port;
 * server UDP OP_GLOBFOUNDSOURCES (0x9B): like OP_FOUNDSOURCES, possibly several in one datagram.
 * Packed Kad (0xE5) is inflated first.
 *
 * Caps: a message this learner reads is buffered up to 64 KiB (others are skipped without
 * buffering), inflated output up to 256 KiB; broken framing stops the direction. Events (through
 * `flow.weird`): `ed2k_message_too_long`, `ed2k_bad_framing`, `ed2k_bad_packed`. Never throws.
 */
import { inflateSync } from 'node:zlib';
import type { Dir, EndpointHint, EndpointLearner, LearnerFlow } from '../types.js';
import { u16le, u32le } from '../bytes.js';

const P_EDONKEY = 0xe3;
const P_EMULE = 0xc5;
const P_PACKED = 0xd4;
const P_KAD = 0xe4;
const P_KAD_PACKED = 0xe5;
/** Largest message buffered for reading, bytes (255 obfuscated sources with hashes fit in 10 KiB). */
const MAX_READ = 64 * 1024;
/** Largest inflated payload, bytes. */
const MAX_INFLATED = 256 * 1024;
/** Largest message skipped without reading (the framing's own plausibility bound). */
const MAX_FRAME = 16 * 1024 * 1024;
/** A client id below this is a low id (no address). */
const LOW_ID_LIMIT = 0x1000000;

const OP_HELLO = 0x01;
const OP_SERVERLIST = 0x32;
const OP_CALLBACKREQUESTED = 0x35;
const OP_FOUNDSOURCES = 0x42;
const OP_FOUNDSOURCES_OBFU = 0x44;
const OP_HELLOANSWER = 0x4c;
const OP_GLOBFOUNDSOURCES = 0x9b;
const KAD2_BOOTSTRAP_RES = 0x09;
const KAD2_HELLO_REQ = 0x11;
const KAD2_HELLO_RES = 0x19;
const KAD_RES = 0x28;
const KAD2_RES = 0x29;
/** Kad contact record length: node id 16, address 4, UDP port 2, TCP port 2, version 1. */
const KAD_CONTACT = 25;
/** Crypt options bit: a user hash follows (OP_FOUNDSOURCES_OBFU, OP_CALLBACKREQUESTED). */
const CRYPT_HAS_HASH = 0x80;

/** The counted events this learner raises. */
export const ED2K_LEARN_WEIRDS = ['ed2k_message_too_long', 'ed2k_bad_framing', 'ed2k_bad_packed'] as const;
type Weird = (typeof ED2K_LEARN_WEIRDS)[number];

/** TCP opcodes this learner reads, for the protocol bytes 0xE3 and 0xD4 (packed eDonkey). */
const READ_OPS: ReadonlySet<number> = new Set([OP_HELLO, OP_SERVERLIST, OP_CALLBACKREQUESTED, OP_FOUNDSOURCES, OP_FOUNDSOURCES_OBFU, OP_HELLOANSWER]);

/** IPv4 address text from 4 octets in wire order (an eD2k client id or server address). */
function ipAt(b: Uint8Array, off: number): string {
  return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
}

/** A high client id's address, or null for a low id. */
function highIdIp(b: Uint8Array, off: number): string | null {
  return u32le(b, off) >= LOW_ID_LIMIT ? ipAt(b, off) : null;
}

/** Inflates a packed payload (RFC 1950), bounded; null when broken or too large. */
function inflate(b: Uint8Array): Uint8Array | null {
  try {
    return new Uint8Array(inflateSync(b, { maxOutputLength: MAX_INFLATED }));
  } catch {
    return null;
  }
}

/**
 * Hints of one source list: `count` records from `off`, each client id (4) and port (2), with
 * crypt options (1) and an optional user hash (16) when `obfu`. Returns the offset after the list
 * (or -1 when truncated; the complete records are kept).
 */
function sources(b: Uint8Array, off: number, count: number, obfu: boolean, out: EndpointHint[], source: string): number {
  for (let n = 0; n < count; n++) {
    if (off + 6 > b.length) return -1;
    const ip = highIdIp(b, off);
    const port = u16le(b, off + 4);
    off += 6;
    let key: Uint8Array | undefined;
    if (obfu) {
      if (off + 1 > b.length) return -1;
      const opts = b[off++];
      if (opts & CRYPT_HAS_HASH) {
        if (off + 16 > b.length) return -1;
        key = b.slice(off, off + 16);
        off += 16;
      }
    }
    if (ip) out.push(key ? { ip, port, l4: 'tcp', source, key } : { ip, port, l4: 'tcp', source });
  }
  return off;
}

/** Reads one complete TCP message (opcode and payload, unpacked) of direction `dir`. */
export function readTcpMessage(op: number, p: Uint8Array, out: EndpointHint[]): void {
  switch (op) {
    case OP_FOUNDSOURCES:
    case OP_FOUNDSOURCES_OBFU:
      if (p.length >= 17) sources(p, 17, p[16], op === OP_FOUNDSOURCES_OBFU, out, 'ed2k-server');
      return;
    case OP_CALLBACKREQUESTED:
      if (p.length >= 6) sources(p, 0, 1, p.length >= 7, out, 'ed2k-server');
      return;
    case OP_SERVERLIST:
      for (let n = 0, off = 1; p.length >= 1 && n < p[0] && off + 6 <= p.length; n++, off += 6) {
        out.push({ ip: ipAt(p, off), port: u16le(p, off + 4), l4: 'tcp', source: 'ed2k-serverlist' });
      }
      return;
    case OP_HELLO:
    case OP_HELLOANSWER: {
      const at = op === OP_HELLO ? 1 : 0;
      if (op === OP_HELLO && p[0] !== 16) return;
      if (p.length < at + 22) return;
      const port = u16le(p, at + 20);
      // The sender's listen port (ip null = the sender) and its user hash.
      out.push({ ip: null, port, l4: 'tcp', source: 'listen-port', key: p.slice(at, at + 16) });
      return;
    }
  }
}

/** Reads one eDonkey/Kad datagram. */
export function readDatagram(b: Uint8Array, out: EndpointHint[], weird: (w: Weird) => void): void {
  if (b.length < 2) return;
  let proto = b[0];
  let body = b;
  if (proto === P_KAD_PACKED) {
    const inflated = inflate(b.subarray(2));
    if (!inflated) return weird('ed2k_bad_packed');
    body = new Uint8Array(inflated.length + 2);
    body.set(b.subarray(0, 2));
    body.set(inflated, 2);
    proto = P_KAD;
  }
  const op = body[1];
  const p = body.subarray(2);
  if (proto === P_EDONKEY && op === OP_GLOBFOUNDSOURCES) {
    // Several answers may be concatenated, each with its own 0xE3 0x9B header.
    let off = 0;
    while (off + 17 <= p.length) {
      off = sources(p, off + 17, p[off + 16], false, out, 'ed2k-server');
      if (off < 0 || off + 2 > p.length || p[off] !== P_EDONKEY || p[off + 1] !== OP_GLOBFOUNDSOURCES) return;
      off += 2;
    }
    return;
  }
  if (proto !== P_KAD) return;
  if (op === KAD2_HELLO_REQ || op === KAD2_HELLO_RES) {
    if (p.length >= 18) out.push({ ip: null, port: u16le(p, 16), l4: 'tcp', source: 'kad' });
    return;
  }
  let off: number;
  let count: number;
  if (op === KAD2_BOOTSTRAP_RES) {
    if (p.length < 21) return;
    out.push({ ip: null, port: u16le(p, 16), l4: 'tcp', source: 'kad' });
    count = u16le(p, 19);
    off = 21;
  } else if (op === KAD2_RES || op === KAD_RES) {
    if (p.length < 17) return;
    count = p[16];
    off = 17;
  } else return;
  for (let n = 0; n < count && off + KAD_CONTACT <= p.length; n++, off += KAD_CONTACT) {
    // Kad writes the address as a little-endian integer in host order: the last byte is the first octet.
    const ip = `${p[off + 19]}.${p[off + 18]}.${p[off + 17]}.${p[off + 16]}`;
    out.push({ ip, port: u16le(p, off + 20), l4: 'udp', source: 'kad' });
    out.push({ ip, port: u16le(p, off + 22), l4: 'tcp', source: 'kad' });
  }
}

/** Per-direction TCP framing state. */
class Direction {
  private head = new Uint8Array(6);
  private headLen = 0;
  private body: Uint8Array | null = null;
  private bodyLen = 0;
  /** Bytes of the current message still to skip (a message this learner does not read). */
  private skip = 0;
  /** Message headers read so far. */
  private msgs = 0;
  off = false;

  constructor(private readonly weird: (w: Weird) => void) {}

  /** Consumes stream bytes, reporting hints of every complete message read. */
  data(b: Uint8Array, out: EndpointHint[]): void {
    let i = 0;
    while (i < b.length && !this.off) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, b.length - i);
        this.skip -= n;
        i += n;
        continue;
      }
      if (this.body) {
        const n = Math.min(this.body.length - this.bodyLen, b.length - i);
        this.body.set(b.subarray(i, i + n), this.bodyLen);
        this.bodyLen += n;
        i += n;
        if (this.bodyLen === this.body.length) this.message(out);
        continue;
      }
      this.head[this.headLen++] = b[i++];
      if (this.headLen === 1 && this.head[0] !== P_EDONKEY && this.head[0] !== P_EMULE && this.head[0] !== P_PACKED) {
        // Not (or no longer) plaintext eDonkey framing: an obfuscated stream, or broken.
        this.stop('ed2k_bad_framing');
      } else if (this.headLen === 6) this.start();
    }
  }

  private start(): void {
    const len = u32le(this.head, 1);
    const proto = this.head[0];
    const op = this.head[5];
    this.headLen = 0;
    if (len < 1 || len > MAX_FRAME) return this.stop('ed2k_bad_framing');
    this.msgs++;
    const payload = len - 1;
    if (proto === P_EMULE || !READ_OPS.has(op)) {
      this.skip = payload;
      return;
    }
    if (payload > MAX_READ) {
      this.weird('ed2k_message_too_long');
      this.skip = payload;
      return;
    }
    this.body = new Uint8Array(payload);
    this.bodyLen = 0;
    if (payload === 0) this.message([]);
  }

  private message(out: EndpointHint[]): void {
    const proto = this.head[0];
    const op = this.head[5];
    let p: Uint8Array | null = this.body!;
    this.body = null;
    if (proto === P_PACKED) {
      p = inflate(p);
      if (!p) return this.weird('ed2k_bad_packed');
    }
    readTcpMessage(op, p, out);
  }

  private stop(w: Weird): void {
    this.off = true;
    this.body = null;
    // A stream that never was plaintext (obfuscated) is no framing error worth counting.
    if (w !== 'ed2k_bad_framing' || this.msgs > 0) this.weird(w);
  }
}

/**
 * Creates the learner of one eDonkey flow (AppDescriptor.learner).
 * @param flow the flow's transport and the weird counter
 * @returns a learner reading TCP streams (either direction, split anywhere) or UDP datagrams
 */
export function edonkeyLearner(flow: LearnerFlow): EndpointLearner {
  const weird = (w: Weird) => flow.weird?.(w);
  const dirs = [new Direction(weird), new Direction(weird)] as const;
  return {
    peerFlow: true,
    data(dir: Dir, bytes: Uint8Array, out: EndpointHint[]): void {
      if (flow.ipv6) return; // eD2k and Kad carry IPv4 endpoints only
      if (flow.l4 === 'udp') readDatagram(bytes, out, weird);
      else dirs[dir].data(bytes, out);
    },
    gap(dir: Dir): void {
      dirs[dir].off = true;
    },
  };
}
