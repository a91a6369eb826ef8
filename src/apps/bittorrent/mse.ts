/**
 * BitTorrent Message Stream Encryption / Protocol Encryption (MSE/PE), recognised from its
 * structure by a passive observer that cannot decrypt it (Vuze/Azureus wiki "Message Stream
 * Encryption"; libtorrent's pe_crypto and bt_peer_connection). The handshake is four flights:
 *
 *     A → B  Ya (96 bytes: a 768-bit Diffie-Hellman public key) + PadA (0–512 random bytes)
 *     B → A  Yb (96 bytes) + PadB (0–512)
 *     A → B  HASH('req1', S) (20), HASH('req2', SKEY) xor HASH('req3', S) (20),
 *            ENCRYPT(VC (8), crypto_provide (4), len(PadC) (2), PadC (0–512), len(IA) (2)), ENCRYPT(IA)
 *     B → A  ENCRYPT(VC (8), crypto_select (4), len(PadD) (2), PadD (0–512)), then the payload stream
 *
 * A cannot send its third flight before it has Yb (it needs the shared secret S), so the flights are
 * strictly alternating. Checked: flight 1 and flight 2 are each 96–608 bytes and look uniformly
 * random (keys and padding are random bytes); flight 3 is at least 56 bytes (and bounded); flight 4
 * reaches 14 bytes. A TLS record header at the start excludes (a ClientHello is the only common
 * first flight of that size with near-random content). Used only where no plaintext BitTorrent
 * form matched; the decision comes at B's second flight, before any payload of A.
 */
import type { Flight } from '../../core/types.js';

/** Diffie-Hellman public key length (768-bit group), bytes. */
export const MSE_KEY = 96;
/** Most padding after a key (PadA, PadB), and PadC/PadD, bytes. */
export const MSE_MAX_PAD = 512;
/** Smallest third flight: two 20-byte hashes, VC 8, crypto_provide 4, len(PadC) 2, len(IA) 2. */
export const MSE_MIN_REQ = 56;
/** Smallest fourth flight: VC 8, crypto_select 4, len(PadD) 2. */
export const MSE_MIN_SELECT = 14;
/** Bound on the third flight (PadC and an initial payload such as the 68-byte BitTorrent handshake plus BEP 10). */
const MAX_REQ = MSE_MIN_REQ + MSE_MAX_PAD + 4096;

/** Verdict on a connection's opening: MSE, not MSE, or not known yet. */
export type MseState = 'mse' | 'no' | 'need-more';

/**
 * Expected number of distinct byte values among `n` uniformly random bytes, and its standard
 * deviation (occupancy problem: 256 bins, n balls).
 */
function distinctStats(n: number): { mean: number; sd: number } {
  const q1 = Math.pow(255 / 256, n);
  const q2 = Math.pow(254 / 256, n);
  const mean = 256 * (1 - q1);
  const variance = 256 * q1 * (1 - q1) + 256 * 255 * (q2 - q1 * q1);
  return { mean, sd: Math.sqrt(Math.max(variance, 0)) };
}

/**
 * Whether `b` (its first 1,024 bytes) could be uniformly random bytes: a count of distinct byte
 * values more than 5 standard deviations below the mean expected for random bytes of that length
 * is rejected (text and protocol headers repeat few values; 96 random bytes show about 80 distinct
 * values, σ ≈ 3). Fewer than 32 bytes: false (too few to judge).
 * @param b bytes to judge (not modified)
 * @returns true when the distinct-value count is within 5 σ of random data's
 */
export function looksRandom(b: Uint8Array): boolean {
  const n = Math.min(b.length, 1024);
  if (n < 32) return false;
  const seen = new Uint8Array(256);
  let distinct = 0;
  for (let i = 0; i < n; i++) if (seen[b[i]]++ === 0) distinct++;
  const { mean, sd } = distinctStats(n);
  return distinct >= mean - 5 * sd;
}

/** A TLS record header: content type 20–23, major version 3, minor 0–4 (RFC 8446 §5.1). */
function tlsRecord(b: Uint8Array): boolean {
  return b.length >= 3 && b[0] >= 0x14 && b[0] <= 0x17 && b[1] === 3 && b[2] <= 4;
}

/** Whether flight `f`, the start of its direction's stream `prefix`, is `min`–`max` bytes long and looks random. */
function randomFlight(prefix: Uint8Array, f: Flight, min: number, max: number): boolean {
  if (f.bytes < min || f.bytes > max || prefix.length < Math.min(f.bytes, MSE_KEY)) return false;
  return looksRandom(prefix.subarray(0, f.bytes));
}

/**
 * Judges a TCP connection's opening against the MSE/PE handshake.
 * @param flights the connection's flights in order (from the classifier: at most 8), the first the
 *   initiator's (dir 0); the last may still grow
 * @param prefix each direction's in-order stream prefix (must hold at least the first flight of each)
 * @returns 'mse' once the fourth flight reached 14 bytes and every check held; 'no' as soon as one
 *   check fails; else 'need-more'
 */
export function mseState(flights: readonly Flight[], prefix: readonly [Uint8Array, Uint8Array]): MseState {
  const n = flights.length;
  if (n === 0) return 'need-more';
  const [f1, f2, f3, f4] = flights;
  if (f1.dir !== 0 || f1.bytes > MSE_KEY + MSE_MAX_PAD) return 'no';
  if (prefix[0].length >= 3 && tlsRecord(prefix[0])) return 'no';
  if (n === 1) return 'need-more';
  if (!randomFlight(prefix[0], f1, MSE_KEY, MSE_KEY + MSE_MAX_PAD)) return 'no';
  if (f2.bytes > MSE_KEY + MSE_MAX_PAD) return 'no';
  if (n === 2) return 'need-more';
  if (!randomFlight(prefix[1], f2, MSE_KEY, MSE_KEY + MSE_MAX_PAD)) return 'no';
  if (f3.bytes > MAX_REQ) return 'no';
  if (n === 3) return 'need-more';
  if (f3.bytes < MSE_MIN_REQ) return 'no';
  if (f4.bytes >= MSE_MIN_SELECT) return 'mse';
  return n > 4 ? 'no' : 'need-more';
}
