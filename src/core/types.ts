/**
 * Types shared by every layer: directions, transport protocols, verdicts and the stream-consumer
 * contract. Imports nothing.
 */

/**
 * Direction of a packet or of a stream within a flow: 0 = "out" (initiator → responder),
 * 1 = "in" (responder → initiator). The initiator is the sender of the first packet seen for the
 * flow (the SYN sender when the handshake was seen).
 */
export type Dir = 0 | 1;

/** Transport protocols the gateway classifies. */
export type L4 = 'tcp' | 'udp';

/**
 * A verdict for one queued packet (NFQUEUE): accept, drop, or NF_REPEAT with a mark (the mangle
 * chain saves it to the connmark); `packet` replaces the packet's bytes (the kill RST).
 */
export type Verdict =
  | { verdict: 'accept' }
  | { verdict: 'drop' }
  | { verdict: 'repeat'; mark: number; packet?: Uint8Array };

/** The plain verdicts, one frozen object each (shared: never a new object per packet). */
export const ACCEPT: Verdict = Object.freeze({ verdict: 'accept' });
export const DROP: Verdict = Object.freeze({ verdict: 'drop' });

/**
 * Stream consumer contract (Zeek/Suricata style): reassembled, in-order bytes per direction. A
 * consumer must accept input split at any byte; after `onGap` of a direction it stops parsing it.
 */
export interface StreamConsumer {
  /** In-order bytes of direction `dir`; each byte is delivered exactly once. */
  onData(dir: Dir, bytes: Uint8Array): void;
  /** `len` bytes of direction `dir` will never arrive (a lost segment or a cap was hit). */
  onGap(dir: Dir, len: number): void;
  /** Direction `dir` ended (FIN reached in order, or RST). Called at most once per direction. */
  onEnd(dir: Dir): void;
}

/**
 * How a classification was reached (as nDPI reports its confidence): a literal `signature` matched
 * and the dissector confirmed it; the protocol's `structure` alone (message sizes, order, header
 * fields, byte statistics: uTP, MSE/PE, eMule obfuscation); `decryption` of an obfuscated
 * handshake with a key learned from plaintext (eMule obfuscation keyed by a user hash from a source
 * answer); a known peer `endpoint` (learned from DHT, trackers, PEX, LSD, eD2k source answers, Kad
 * or earlier flows); the `host-heuristic` (the inside host was seen doing P2P); a P2P service's
 * `hostname` (DNS query, HTTP Host, TLS SNI).
 */
export type DetectMethod = 'signature' | 'structure' | 'decryption' | 'endpoint' | 'host-heuristic' | 'hostname';

/** One flight of a TCP connection: a maximal run of in-order payload bytes sent by one side. */
export interface Flight {
  dir: Dir;
  /** Payload bytes in the flight (so far, for the last one). */
  bytes: number;
}
