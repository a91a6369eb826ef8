/**
 * pcapng reader (draft-ietf-opsawg-pcapng): Section Header Blocks in either byte order (several
 * sections per file), Interface Description Blocks with if_tsresol and if_tsoffset, Enhanced,
 * Simple and (obsolete) Packet Blocks; every other block is skipped. Used by readCapture.
 */
import { u32be, u32le } from '../core/bytes.js';
import { P2pgwError } from '../core/errors.js';
import type { Counters } from '../core/counters.js';
import { ipOfFrame, type CaptureRecord } from './linktype.js';

/** Block type of the Section Header Block; the same in both byte orders, so it is the magic. */
export const PCAPNG_SHB_TYPE = 0x0a0d0d0a;
const BYTE_ORDER_MAGIC = 0x1a2b3c4d;
const IDB = 1;
const OPB = 2; // obsolete Packet Block
const SPB = 3;
const EPB = 6;
const OPT_END = 0;
const IF_TSRESOL = 9;
const IF_TSOFFSET = 14;
const TWO_32 = 4294967296;

/** What an IDB says about its interface. */
interface Iface {
  linktype: number;
  snaplen: number;
  /** Timestamp units per second (if_tsresol; 1e6 by default). */
  units: number;
  /** Seconds added to every timestamp (if_tsoffset). */
  offset: number;
}

/**
 * Reads the pcapng file `b` (a whole file in memory) whose first 4 bytes are the SHB type. The
 * first Section Header Block is checked at the call: too short, an unknown byte-order magic, a
 * major version other than 1 or a bad block length throws
 * P2pgwError('P2PGW_ERR_CAPTURE_FORMAT', '<file>: <reason>'). The records are then yielded lazily
 * as readCapture describes; `ts` is in seconds (if_tsresol: 10^-n or 2^-n units, default
 * microseconds, plus if_tsoffset). Simple Packet Blocks carry no time: they get the previous
 * packet's `ts` (0 before any). Interface ids restart at 0 in each section.
 * Counters: capture_truncated_record, capture_bad_block, capture_bad_record (see CAPTURE_EVENTS).
 */
export function readPcapng(b: Uint8Array, file: string, counters?: Counters): Generator<CaptureRecord> {
  const fail = (reason: string): P2pgwError => new P2pgwError('P2PGW_ERR_CAPTURE_FORMAT', `${file}: ${reason}`);
  if (b.length < 28) throw fail(`pcapng section header truncated (${b.length} of at least 28 bytes)`);
  const bom = u32le(b, 8);
  if (bom !== BYTE_ORDER_MAGIC && u32be(b, 8) !== BYTE_ORDER_MAGIC) {
    throw fail(`bad pcapng byte-order magic 0x${bom.toString(16).padStart(8, '0')}`);
  }
  const u32 = bom === BYTE_ORDER_MAGIC ? u32le : u32be;
  const major = bom === BYTE_ORDER_MAGIC ? b[12] | (b[13] << 8) : (b[12] << 8) | b[13];
  if (major !== 1) throw fail(`unsupported pcapng version ${major}`);
  const blen = u32(b, 4);
  if (blen < 28 || blen % 4 !== 0 || blen > b.length || u32(b, blen - 4) !== blen) {
    throw fail(`bad pcapng section header block length ${blen}`);
  }
  return pcapngBlocks(b, counters);
}

/** The blocks of a pcapng file whose first section header was checked by readPcapng. */
function* pcapngBlocks(b: Uint8Array, counters?: Counters): Generator<CaptureRecord> {
  const len = b.length;
  let u32 = u32le;
  let le = true;
  let ifaces: Iface[] = [];
  let lastTs = 0;
  let off = 0;
  while (off < len) {
    if (off + 12 > len) {
      counters?.inc('capture_truncated_record');
      return;
    }
    const type = u32(b, off);
    if (type === PCAPNG_SHB_TYPE) {
      const bom = u32le(b, off + 8);
      if (bom === BYTE_ORDER_MAGIC) le = true;
      else if (u32be(b, off + 8) === BYTE_ORDER_MAGIC) le = false;
      else {
        counters?.inc('capture_bad_block');
        return;
      }
      u32 = le ? u32le : u32be;
      ifaces = [];
    }
    const blen = u32(b, off + 4);
    if (blen < 12 || blen % 4 !== 0) {
      counters?.inc('capture_bad_block');
      return;
    }
    if (blen > len - off) {
      counters?.inc('capture_truncated_record');
      return;
    }
    if (u32(b, off + blen - 4) !== blen) {
      counters?.inc('capture_bad_block');
      return;
    }
    const end = off + blen - 4; // end of the block body (before the trailing length)
    if (type === PCAPNG_SHB_TYPE) {
      const major = blen >= 28 ? (le ? b[off + 12] | (b[off + 13] << 8) : (b[off + 12] << 8) | b[off + 13]) : 0;
      if (major !== 1) {
        counters?.inc('capture_bad_block');
        return;
      }
    } else if (type === IDB) {
      ifaces.push(readIdb(b, off, end, le, counters));
    } else if (type === EPB || type === OPB) {
      if (blen < 32) {
        counters?.inc('capture_bad_record');
      } else {
        const id = type === EPB ? u32(b, off + 8) : le ? b[off + 8] | (b[off + 9] << 8) : (b[off + 8] << 8) | b[off + 9];
        const iface = ifaces[id];
        const units = iface ? iface.units : 1e6;
        const ts = (iface ? iface.offset : 0) + u32(b, off + 12) * (TWO_32 / units) + u32(b, off + 16) / units;
        lastTs = ts;
        const cap = u32(b, off + 20);
        const start = off + 28;
        const ok = iface !== undefined && cap <= end - start;
        if (!ok) counters?.inc('capture_bad_record');
        const data = b.subarray(start, start + Math.min(cap, end - start));
        yield {
          ts,
          linktype: iface ? iface.linktype : -1,
          data,
          origLen: u32(b, off + 24),
          ip: ok ? ipOfFrame(iface.linktype, data) : null,
          interfaceId: id,
        };
      }
    } else if (type === SPB) {
      const iface = ifaces[0];
      if (blen < 16) {
        counters?.inc('capture_bad_record');
      } else {
        const origLen = u32(b, off + 8);
        const start = off + 12;
        let cap = Math.min(origLen, end - start);
        if (iface && iface.snaplen > 0) cap = Math.min(cap, iface.snaplen);
        if (!iface) counters?.inc('capture_bad_record');
        const data = b.subarray(start, start + cap);
        yield {
          ts: lastTs,
          linktype: iface ? iface.linktype : -1,
          data,
          origLen,
          ip: iface ? ipOfFrame(iface.linktype, data) : null,
          interfaceId: 0,
        };
      }
    }
    off += blen;
  }
}

/**
 * Reads the Interface Description Block whose body is `b[off + 8, end)`: link type (uint16),
 * snap length, and the options if_tsresol (9) and if_tsoffset (14). A block too short for its
 * fixed part gives an interface of link type -1 (so later interface ids still line up) and
 * counts capture_bad_record; options that run past the block are ignored from there on.
 */
function readIdb(b: Uint8Array, off: number, end: number, le: boolean, counters?: Counters): Iface {
  const u16 = (o: number): number => (le ? b[o] | (b[o + 1] << 8) : (b[o] << 8) | b[o + 1]);
  const u32 = le ? u32le : u32be;
  if (end - off < 16) {
    counters?.inc('capture_bad_record');
    return { linktype: -1, snaplen: 0, units: 1e6, offset: 0 };
  }
  const iface: Iface = { linktype: u16(off + 8), snaplen: u32(b, off + 12), units: 1e6, offset: 0 };
  let o = off + 16;
  while (o + 4 <= end) {
    const code = u16(o);
    const olen = u16(o + 2);
    const v = o + 4;
    if (code === OPT_END || v + olen > end) break;
    if (code === IF_TSRESOL && olen >= 1) {
      const r = b[v];
      iface.units = r & 0x80 ? 2 ** (r & 0x7f) : 10 ** r;
    } else if (code === IF_TSOFFSET && olen >= 8) {
      const lo = u32(b, le ? v : v + 4);
      const hi = u32(b, le ? v + 4 : v);
      iface.offset = (hi | 0) * TWO_32 + lo;
    }
    o = v + ((olen + 3) & ~3);
  }
  return iface;
}
