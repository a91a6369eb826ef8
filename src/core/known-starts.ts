/**
 * Stream starts of well-known protocols that are not P2P, shared by the dissectors that must not
 * mistake them for an encrypted P2P handshake (BitTorrent MSE/PE, eDonkey obfuscation: random-
 * looking first octets) and by the host heuristics (a flow that opens like this is no unknown
 * P2P flow). Pure functions on the first payload octets of one direction.
 */

/**
 * Whether `b` starts with a TLS record header: content type 20–23, major version 3, minor 0–4
 * (RFC 8446 §5.1; SSL 3.0 to TLS 1.3 record versions). Fewer than 3 bytes: false.
 */
export function isTlsRecordStart(b: Uint8Array): boolean {
  return b.length >= 3 && b[0] >= 0x14 && b[0] <= 0x17 && b[1] === 3 && b[2] <= 4;
}

/** Whether `b` starts with an SSH identification string, `SSH-` (RFC 4253 §4.2). Fewer than 4 bytes: false. */
export function isSshIdentStart(b: Uint8Array): boolean {
  return b.length >= 4 && b[0] === 0x53 && b[1] === 0x53 && b[2] === 0x48 && b[3] === 0x2d;
}
