/**
 * Capture-file reader: classic pcap (draft-ietf-opsawg-pcap) and pcapng
 * (draft-ietf-opsawg-pcapng, in pcapng.ts), detected by magic number. Yields one CaptureRecord per
 * packet with a view at its IP header (linktype.ts). A bad file header throws
 * P2pgwError('P2PGW_ERR_CAPTURE_FORMAT'); damage later in the file never throws: it is counted
 * (CAPTURE_EVENTS) and either skipped, yielded with ip = null, or ends the iteration.
 */
import { u32be, u32le } from '../core/bytes.js';
import { P2pgwError } from '../core/errors.js';
import { DEFAULTS } from '../core/defaults.js';
import { readRegularFile } from '../core/files.js';
import type { Counters } from '../core/counters.js';
import { ipOfFrame, type CaptureRecord } from './linktype.js';
import { PCAPNG_SHB_TYPE, readPcapng } from './pcapng.js';

export type { CaptureRecord };

/**
 * Counter names the readers increment:
 * - capture_truncated_record: the last record or block runs past the end of the file; iteration
 *   stops there.
 * - capture_bad_block: a pcapng block whose length fields are impossible, or a later section
 *   header that cannot be read; the rest of the file cannot be framed, iteration stops.
 * - capture_bad_record: a packet that cannot be read whole (unknown interface, captured length
 *   past its block, block too short for its fields): yielded with ip = null when its bytes can
 *   be located, otherwise skipped.
 */
export const CAPTURE_EVENTS = Object.freeze(['capture_truncated_record', 'capture_bad_block', 'capture_bad_record'] as const);

const PCAP_US = 0xa1b2c3d4;
const PCAP_NS = 0xa1b23c4d;
const PCAP_US_SWAPPED = 0xd4c3b2a1;
const PCAP_NS_SWAPPED = 0x4d3cb2a1;
const PCAP_HEADER_LEN = 24;
const PCAP_RECORD_HEADER_LEN = 16;

/** The P2PGW_ERR_CAPTURE_FORMAT error for `file`. */
function captureFormatError(file: string, reason: string): P2pgwError {
  return new P2pgwError('P2PGW_ERR_CAPTURE_FORMAT', `${file}: ${reason}`);
}

/**
 * Reads a whole capture file held in memory. The format is told by the first 4 bytes: pcap
 * (magic a1b2c3d4 for microseconds or a1b23c4d for nanoseconds, either byte order) or pcapng
 * (Section Header Block 0a0d0d0a). The file header is checked at the call, before the first
 * record, and a bad one throws P2pgwError('P2PGW_ERR_CAPTURE_FORMAT', '<file>: <reason>').
 * Records are then yielded lazily; `data` and `ip` are views into `bytes` (no copy).
 * `file` only names the source in errors (default '<memory>'); `counters` receives
 * CAPTURE_EVENTS.
 */
export function readCapture(bytes: Uint8Array, file = '<memory>', counters?: Counters): Generator<CaptureRecord> {
  // A Node Buffer is a Uint8Array already; take a plain view so records hold no Buffer methods.
  const b = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.length < 4) throw captureFormatError(file, `file too short for a capture header (${b.length} bytes)`);
  const magic = u32le(b, 0);
  if (magic === PCAPNG_SHB_TYPE) return readPcapng(b, file, counters);
  let le: boolean;
  let fracScale: number;
  if (magic === PCAP_US || magic === PCAP_NS) le = true;
  else if (magic === PCAP_US_SWAPPED || magic === PCAP_NS_SWAPPED) le = false;
  else throw captureFormatError(file, `not a pcap or pcapng file (magic 0x${magic.toString(16).padStart(8, '0')})`);
  if (magic === PCAP_US || magic === PCAP_US_SWAPPED) fracScale = 1e-6;
  else fracScale = 1e-9;
  if (b.length < PCAP_HEADER_LEN) throw captureFormatError(file, `pcap header truncated (${b.length} of 24 bytes)`);
  const major = le ? b[4] | (b[5] << 8) : (b[4] << 8) | b[5];
  if (major !== 2) throw captureFormatError(file, `unsupported pcap version ${major}`);
  // The link-type field's upper bits carry FCS information; the link type is the low 16 bits.
  const linktype = (le ? u32le(b, 20) : u32be(b, 20)) & 0xffff;
  return pcapRecords(b, le, fracScale, linktype, counters);
}

/** The records of a pcap file whose header was checked by readCapture. */
function* pcapRecords(b: Uint8Array, le: boolean, fracScale: number, linktype: number, counters?: Counters): Generator<CaptureRecord> {
  const len = b.length;
  const u32 = le ? u32le : u32be;
  let off = PCAP_HEADER_LEN;
  while (off < len) {
    if (off + PCAP_RECORD_HEADER_LEN > len) break;
    const incl = u32(b, off + 8);
    const start = off + PCAP_RECORD_HEADER_LEN;
    if (incl > len - start) break;
    const data = b.subarray(start, start + incl);
    yield {
      ts: u32(b, off) + u32(b, off + 4) * fracScale,
      linktype,
      data,
      origLen: u32(b, off + 12),
      ip: ipOfFrame(linktype, data),
      interfaceId: 0,
    };
    off = start + incl;
  }
  if (off < len) counters?.inc('capture_truncated_record');
}

/**
 * Reads the capture file at `path` whole and returns readCapture over its bytes, with `path`
 * naming the file in format errors. Only a regular file of at most `maxBytes` (default
 * DEFAULTS.files.maxCaptureBytes) is read: a FIFO, a device such as /dev/zero, a directory or a
 * larger file is refused before reading, so memory stays bounded.
 * @throws P2pgwError('P2PGW_ERR_CAPTURE_FORMAT', '<path>: cannot read capture: <reason>') for such
 *   a path or a failed read (ENOENT, EACCES, ELOOP, …); as readCapture for a bad file header
 */
export function readCaptureFile(path: string, counters?: Counters, maxBytes: number = DEFAULTS.files.maxCaptureBytes): Generator<CaptureRecord> {
  const bytes = readRegularFile(path, maxBytes, (why) => captureFormatError(path, `cannot read capture: ${why}`));
  return readCapture(bytes, path, counters);
}
