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
 * form matched; the decision comes at B's second flight, before any payload of A. Openings whose
 * first two flights are short enough to be eMule protocol obfuscation as well (overlapsObfuscation)
 * are decided one flight later, by the initiator's handshake (handshakeFlight).
 */
import type { Flight } from '../../core/types.js';
import { looksRandom } from '../util.js';
import { isTlsRecordStart } from '../../core/known-starts.js';

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
  if (isTlsRecordStart(prefix[0])) return 'no';
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

/** The BitTorrent handshake's length (BEP 3): what the initiator sends first after MSE/PE when IA was empty. */
const BT_HANDSHAKE = 68;

/**
 * Whether an MSE/PE opening's first two flights are short enough to fit eMule protocol obfuscation
 * too (eMule's EncryptedStreamSocket: client to client, a first flight of 12–267 bytes answered by
 * 6–261; to a server, 97–112 answered by 103–358): random-looking flights of those sizes are
 * ambiguous, about 11 % of MSE/PE openings with uniform padding.
 */
export function overlapsObfuscation(flights: readonly Flight[]): boolean {
  if (flights.length < 2) return false;
  const [f1, f2] = flights;
  return (f1.bytes <= 267 && f2.bytes <= 261) || (f1.bytes >= 97 && f1.bytes <= 112 && f2.bytes <= 358);
}

/**
 * The fifth flight of an ambiguous MSE/PE opening (see overlapsObfuscation): BitTorrent when it is
 * the initiator's 68-byte BitTorrent handshake, sent alone after the handshake as libtorrent does
 * (MSE/PE puts the handshake either in IA or first after the fourth flight); an eMule client sends
 * its further eDonkey messages there instead.
 * @param flights the opening's flights (at least four: mseState said 'mse')
 * @returns 'mse' for the 68-byte flight, 'no' when the fifth flight is over 68 bytes or ended
 *   shorter, else 'need-more'
 */
export function handshakeFlight(flights: readonly Flight[]): MseState {
  const f5 = flights[4];
  if (!f5) return 'need-more';
  if (f5.dir !== 0 || f5.bytes > BT_HANDSHAKE) return 'no';
  if (f5.bytes === BT_HANDSHAKE) return 'mse';
  return flights.length > 5 ? 'no' : 'need-more';
}
