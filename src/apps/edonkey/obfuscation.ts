/**
 * eMule protocol obfuscation on TCP, recognised by a passive observer (eMule's
 * EncryptedStreamSocket, "Basic Obfuscated Handshake Protocol"; aMule implements the same). A
 * client that supports obfuscation opens a connection to another client whose user hash it knows
 * (from a server's or Kad's source answer) with:
 *
 *     A → B  marker (1, plain: any byte but 0xE3/0xC5/0xD4), random key part (4, plain),
 *            then RC4: magic 0x835E6FC4 (4, little-endian), methods supported (1),
 *            method preferred (1), padding length (1), padding (0–255)
 *     B → A  RC4: magic (4), method selected (1), padding length (1), padding (0–255)
 *     then both streams continue under the same RC4 keys (A sends its OP_HELLO first)
 *
 * A's send key is the RC4 key MD5(user hash of B (16) ‖ 34 ‖ key part (4)), B's is
 * MD5(user hash of B ‖ 203 ‖ key part); each RC4 stream drops its first 1,024 bytes. The handshake
 * is blocking: neither side sends more before the other's part arrived, so the flights strictly
 * alternate. To a server, clients use a Diffie-Hellman variant instead:
 *
 *     A → S  marker (1), g^a mod p (96), padding (0–15)            (plain)
 *     S → A  g^b mod p (96), then RC4: magic, methods, padding length, padding (0–255)
 *     A → S  RC4: magic, method selected, padding length, padding, then the login request
 *
 * Two ways to recognise it here:
 *  - **Decryption** (`decryptsWith`): when the responder's user hash is known (learned from a
 *    plaintext source answer), the observer derives A's send key from the plain key part and checks
 *    the 32-bit magic value: certain.
 *  - **Structure and byte statistics** (`obfuscationState`), as for BitTorrent MSE/PE: flight
 *    sizes in the ranges above, a first byte that is no eDonkey protocol byte, and uniformly random
 *    looking bytes in both directions; used only where nothing else matched (the registry puts
 *    BitTorrent, whose MSE/PE handshake overlaps in size, first).
 */
import { createHash } from 'node:crypto';
import type { Flight } from '../../core/types.js';
import { looksRandom } from '../util.js';
import { isTlsRecordStart } from '../../core/known-starts.js';

/** The magic value both sides send first under RC4 (MAGICVALUE_SYNC), as its 4 little-endian bytes. */
const MAGIC_SYNC = Uint8Array.of(0xc4, 0x6f, 0x5e, 0x83);
/** Modifier bytes of the key derivation: the requester's send key and the responder's. */
export const MAGIC_REQUESTER = 34;
export const MAGIC_SERVER = 203;
/** RC4 key stream bytes dropped before use. */
const RC4_DROP = 1024;
/** Plain bytes at the start of A's first flight: marker and random key part. */
const PLAIN_HEAD = 5;
/** eDonkey's plaintext protocol bytes: an obfuscated stream never starts with one of them. */
const PROTOCOL_BYTES: ReadonlySet<number> = new Set([0xe3, 0xc5, 0xd4]);
/** Diffie-Hellman public value length (768-bit prime), bytes. */
const DH_KEY = 96;

/** Client to client: A's first flight (5 plain + magic 4 + 3 + padding 0–255) and B's answer (magic 4 + 2 + padding). */
const A_MIN = PLAIN_HEAD + 7;
const A_MAX = A_MIN + 255;
const B_MIN = 6;
const B_MAX = B_MIN + 255;
/** Client to server: A's first flight (marker + g^a + padding 0–15) and the server's answer (g^b + 7 + padding). */
const DH_A_MIN = 1 + DH_KEY;
const DH_A_MAX = DH_A_MIN + 15;
const DH_B_MAX = DH_KEY + 7 + 255;
/**
 * Smallest third flight: A's first message under RC4, an OP_HELLO (header 5, opcode, hash size,
 * user hash 16, client id 4, port 2, tag count 4, server address 6) or, to a server, the 7-byte
 * selection before the login request.
 */
const MIN_THIRD = 39;
/** Bound on the third flight (padding, a hello with many tags, or several messages). */
const MAX_THIRD = 8192;

/** Verdict on a connection's opening: obfuscated eDonkey, not that, or not known yet. */
export type ObfuscationState = 'obfuscated' | 'no' | 'need-more';

/**
 * RC4 key stream generator (the cipher eMule's obfuscation uses), after the public description of
 * RC4 (RFC 6229 gives test vectors). Node's OpenSSL 3 keeps RC4 in its legacy provider, so it is
 * written out here; used only on the few handshake bytes.
 */
export class Rc4 {
  private readonly s = new Uint8Array(256);
  private i = 0;
  private j = 0;

  /** @param key 1–256 key bytes */
  constructor(key: Uint8Array) {
    const s = this.s;
    for (let k = 0; k < 256; k++) s[k] = k;
    for (let k = 0, j = 0; k < 256; k++) {
      j = (j + s[k] + key[k % key.length]) & 255;
      const t = s[k];
      s[k] = s[j];
      s[j] = t;
    }
  }

  /** Advances the key stream by `n` bytes (eMule drops the first 1,024). */
  skip(n: number): void {
    this.crypt(new Uint8Array(n));
  }

  /** XORs `b` with the next `b.length` key stream bytes, in place; returns `b`. */
  crypt(b: Uint8Array): Uint8Array {
    const s = this.s;
    let { i, j } = this;
    for (let k = 0; k < b.length; k++) {
      i = (i + 1) & 255;
      j = (j + s[i]) & 255;
      const t = s[i];
      s[i] = s[j];
      s[j] = t;
      b[k] ^= s[(s[i] + s[j]) & 255];
    }
    this.i = i;
    this.j = j;
    return b;
  }
}

/**
 * The RC4 stream of one side of an obfuscated client-to-client connection, ready to use (first
 * 1,024 key stream bytes dropped): MD5(userHash (16) ‖ modifier (1) ‖ keyPart (4)).
 * @param userHash the responder's 16-byte eD2k user hash
 * @param modifier MAGIC_REQUESTER for the initiator's direction, MAGIC_SERVER for the responder's
 * @param keyPart the 4 plain bytes after the initiator's marker byte
 */
export function streamKey(userHash: Uint8Array, modifier: number, keyPart: Uint8Array): Rc4 {
  const material = new Uint8Array(21);
  material.set(userHash.subarray(0, 16), 0);
  material[16] = modifier;
  material.set(keyPart.subarray(0, 4), 17);
  const rc4 = new Rc4(createHash('md5').update(material).digest());
  rc4.skip(RC4_DROP);
  return rc4;
}

/**
 * Whether the initiator's stream `a` (from byte 0) opens an obfuscated connection to the client
 * whose user hash is `userHash`: its bytes 5–8 decrypt, under the initiator's send key, to the
 * magic value. False when fewer than 9 bytes are there or the first byte is a protocol byte.
 * @param a the initiator's in-order stream prefix
 * @param userHash the responder's 16-byte user hash
 */
export function decryptsWith(a: Uint8Array, userHash: Uint8Array): boolean {
  if (a.length < PLAIN_HEAD + 4 || userHash.length !== 16 || PROTOCOL_BYTES.has(a[0])) return false;
  const rc4 = streamKey(userHash, MAGIC_REQUESTER, a.subarray(1, PLAIN_HEAD));
  const magic = rc4.crypt(Uint8Array.from(a.subarray(PLAIN_HEAD, PLAIN_HEAD + 4))); // a copy: `a` may be a Buffer, whose slice is a view
  for (let k = 0; k < 4; k++) if (magic[k] !== MAGIC_SYNC[k]) return false;
  return true;
}

/** Whether a first flight of `n` bytes fits one of the two handshakes. */
const firstFits = (n: number): boolean => (n >= A_MIN && n <= A_MAX) || (n >= DH_A_MIN && n <= DH_A_MAX);
/** Whether an answer of `n` bytes fits the handshake the first flight (`first` bytes) started. */
function answerFits(first: number, n: number): boolean {
  const client = first >= A_MIN && first <= A_MAX && n >= B_MIN && n <= B_MAX;
  const server = first >= DH_A_MIN && first <= DH_A_MAX && n >= DH_KEY + 7 && n <= DH_B_MAX;
  return client || server;
}

/**
 * Whether a flight of `n` bytes at the start of `stream` can be ciphertext: random-looking when it
 * holds 32 bytes or more (see looksRandom), else not all text (printable ASCII, tab, CR, LF: 12
 * random bytes are all text with probability (98/256)^12 ≈ 10⁻⁵).
 */
function randomFlight(stream: Uint8Array, n: number): boolean {
  const f = stream.subarray(0, n);
  if (f.length >= 32) return looksRandom(f);
  return f.some((c) => (c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) || c > 0x7e);
}

/**
 * Judges a TCP connection's opening against the obfuscated handshakes, by sizes, order and byte
 * statistics (no key).
 * @param flights the connection's flights in order (classifier: at most 8), the first the
 *   initiator's; the last may still grow
 * @param prefix each direction's in-order stream prefix
 * @returns 'obfuscated' once the fourth flight started and every check held (first flight 12–267
 *   or 97–112 bytes not starting with a protocol byte or a TLS record header, an answer that fits
 *   it, each random-looking on its own (randomFlight), a third flight of 39–8,192 bytes, and each
 *   direction's stream random-looking (the answer side when it holds 32 bytes)); 'no' as soon as
 *   one check fails; else
 *   'need-more'
 */
export function obfuscationState(flights: readonly Flight[], prefix: readonly [Uint8Array, Uint8Array]): ObfuscationState {
  const n = flights.length;
  if (n === 0) return 'need-more';
  const [f1, f2, f3, f4] = flights;
  if (f1.dir !== 0 || f1.bytes > Math.max(A_MAX, DH_A_MAX)) return 'no';
  if (prefix[0].length > 0 && PROTOCOL_BYTES.has(prefix[0][0])) return 'no';
  // A TLS ClientHello is the common first flight of that size with random-looking parts.
  if (isTlsRecordStart(prefix[0])) return 'no';
  if (n === 1) return 'need-more';
  if (!firstFits(f1.bytes) || !randomFlight(prefix[0], f1.bytes)) return 'no';
  if (f2.bytes > DH_B_MAX) return 'no';
  if (n === 2) return 'need-more';
  if (!answerFits(f1.bytes, f2.bytes) || !randomFlight(prefix[1], f2.bytes) || f3.bytes > MAX_THIRD) return 'no';
  if (n === 3) return 'need-more';
  if (f3.bytes < MIN_THIRD || f4.bytes < 1) return 'no';
  // The initiator's side holds at least 51 bytes here; the answer side may be short (6 + padding).
  if (!looksRandom(prefix[0])) return 'no';
  return prefix[1].length < 32 || looksRandom(prefix[1]) ? 'obfuscated' : 'no';
}
