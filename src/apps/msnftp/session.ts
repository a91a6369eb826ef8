/**
 * MSNFTP file transfer (MSN Messenger ≤ 6 direct transfer), following Mike Mintz's MSN Messenger
 * Protocol documentation, "MSNFTP" (hypothetical.net/msn): the receiver connects and sends
 * `VER MSNFTP`, the sender echoes it, the receiver authenticates with `USR <email> <cookie>`, the
 * sender announces `FIL <size>`, the receiver answers `TFR`, the sender streams the file in blocks
 * of at most 2045 bytes, each preceded by a 3-byte header [0x00, length low, length high] (first byte
 * 0x01 would cancel), and the receiver closes with `BYE 16777989` (transfer successful).
 */
import { ascii, concat, prngBytes, u8 } from '../bytes.js';
import { inn, out, type BuildOpts, type SessionTemplate, type Step } from '../session-types.js';

/** Largest data block MSNFTP senders use, bytes. */
export const MSNFTP_MAX_BLOCK = 2045;

/** Splits `file` into MSNFTP data blocks, each `[0x00, len & 0xff, len >> 8] + data`. */
export function msnftpBlocks(file: Uint8Array, max = MSNFTP_MAX_BLOCK): Uint8Array {
  const parts: Uint8Array[] = [];
  for (let off = 0; off < file.length; off += max) {
    const chunk = file.subarray(off, Math.min(file.length, off + max));
    parts.push(u8(0x00, chunk.length & 0xff, chunk.length >> 8), chunk);
  }
  return concat(...parts);
}

const transfer = (o: BuildOpts): Step[] => {
  const file = prngBytes(o.seed, 1024, 'msnftp-file');
  return [
    out(ascii('VER MSNFTP\r\n')),
    inn(ascii('VER MSNFTP\r\n')),
    out(ascii('USR user@example.com 1234567\r\n')),
    inn(ascii(`FIL ${file.length}\r\n`)),
    out(ascii('TFR\r\n')),
    inn(msnftpBlocks(file)),
    out(ascii('BYE 16777989\r\n')),
  ];
};

/** Registry entry for MSNFTP: one 1024-byte file transfer. */
export const MSNFTP: readonly SessionTemplate[] = [
  { app: 'msnftp', variant: 'transfer', l4: 'tcp', source: 'MSNFTP (hypothetical.net/msn)', build: transfer },
];
