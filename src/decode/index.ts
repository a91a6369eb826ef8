/** Public face of the packet decoder (src/decode). */
export { decodeIp, DECODE_EVENTS, VERIFY, NO_VERIFY, type DecodeOptions } from './ip.js';
export { formatIpv4, formatIpv6 } from './addr.js';
export {
  sumWords,
  foldSum,
  internetChecksum,
  pseudoSumV4,
  pseudoSumV6,
  transportChecksumOk,
  transportChecksum,
} from './checksum.js';
export { IPV6_MAX_EXT_HEADERS } from './ipv6.js';
export * from './types.js';
