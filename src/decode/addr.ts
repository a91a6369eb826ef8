/**
 * Text forms of IP addresses read straight from packet bytes: IPv4 dotted quad and IPv6 in the
 * canonical form of RFC 5952 §4. Neither function checks bounds: callers pass offsets already
 * checked against the buffer.
 */

const HEX = '0123456789abcdef';

/** Dotted-quad text of the 4 bytes at `buf[off]`, e.g. `192.0.2.1`. */
export function formatIpv4(buf: Uint8Array, off: number): string {
  return `${buf[off]}.${buf[off + 1]}.${buf[off + 2]}.${buf[off + 3]}`;
}

/** Lowercase hex of a 16-bit group without leading zeros (RFC 5952 §4.1, §4.3). */
function group(v: number): string {
  if (v < 0x10) return HEX[v];
  if (v < 0x100) return HEX[v >> 4] + HEX[v & 15];
  if (v < 0x1000) return HEX[v >> 8] + HEX[(v >> 4) & 15] + HEX[v & 15];
  return HEX[v >> 12] + HEX[(v >> 8) & 15] + HEX[(v >> 4) & 15] + HEX[v & 15];
}

/**
 * RFC 5952 canonical text of the 16-byte IPv6 address at `buf[off]`: lowercase hex, no leading
 * zeros, the longest run of two or more all-zero groups replaced by `::` (the first such run on a
 * tie), a single zero group never compressed. IPv4-mapped and -compatible addresses get no dotted
 * tail (`::ffff:102:304`), which keeps one text form per address for flow keys.
 */
export function formatIpv6(buf: Uint8Array, off: number): string {
  // Find the longest run of zero groups (length >= 2), first one on a tie.
  let bestStart = -1;
  let bestLen = 1;
  let runStart = -1;
  for (let g = 0; g < 8; g++) {
    const zero = buf[off + 2 * g] === 0 && buf[off + 2 * g + 1] === 0;
    if (zero) {
      if (runStart < 0) runStart = g;
      const len = g - runStart + 1;
      if (len > bestLen) {
        bestLen = len;
        bestStart = runStart;
      }
    } else {
      runStart = -1;
    }
  }
  let out = '';
  for (let g = 0; g < 8; g++) {
    if (g === bestStart) {
      out += g === 0 ? '::' : ':';
      g += bestLen - 1;
      continue;
    }
    out += group((buf[off + 2 * g] << 8) | buf[off + 2 * g + 1]);
    if (g < 7) out += ':';
  }
  return out;
}
