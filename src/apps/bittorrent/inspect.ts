/**
 * BitTorrent metadata inspector: BitTorrent stays classify-only, but a torrent's name is logged
 * when it crosses the peer wire in the clear.
 *
 * Stream (BEP 3 "peer wire protocol"): a 68-octet handshake (`\x13BitTorrent protocol`, 8
 * reserved octets, 20-octet info_hash, 20-octet peer_id), then messages `<length: 4 octets,
 * big-endian><id: 1 octet><payload>` (length 0 = keep-alive). Extension messages (BEP 10) have
 * id 20 and an extended id: 0 is the extension handshake, a bencoded dictionary whose `m` maps
 * extension names to the ids the *sender* wants to receive them with, and whose
 * `metadata_size` (BEP 9) is the info dictionary's size. BEP 9 `ut_metadata` messages are a
 * bencoded dictionary {msg_type: 0 request / 1 data / 2 reject, piece, total_size} followed, for
 * data, by that 16 KiB piece of the info dictionary. A direction that sends data pieces uses
 * the ut_metadata id the other direction advertised.
 *
 * When a direction has delivered every piece, the info dictionary is checked against the
 * handshake's info_hash (SHA-1, BEP 3) and its `name` (BEP 3 info dictionary; `name.utf-8` when
 * present) is reported once: `fileName(dir, name, 'bt-metadata')`. Individual file paths of
 * multi-file torrents are not reported. Streams that do not start with the handshake (MSE/PE
 * encryption, HTTP trackers, uTP is UDP) are left alone without a weird, and so is a direction
 * whose handshake lacks the BEP 10 reserved bit (reserved[5] & 0x10) or that has delivered the
 * metadata.
 *
 * Caps: extension messages ≤ 64 KiB buffered; metadata ≤ 1 MiB; any message ≤ 4 MiB (larger is
 * no peer-wire message; skipped messages are never buffered). Weirds (direction stops):
 * `bt_message_too_long`, `bt_extended_too_long`, `bt_metadata_too_large`. Counted only:
 * `bt_bad_extended` (undecodable bencode), `bt_bad_metadata_piece` (index or length wrong),
 * `bt_metadata_hash_mismatch`, `bt_bad_metadata` (the info dictionary does not decode).
 */
import { createHash } from 'node:crypto';
import type { Dir, InspectEvents } from '../types.js';
import { latin1 } from '../bytes.js';
import { Collector, decodeText, INSPECT_LIMITS } from '../parse/lines.js';
import { DirInspector } from '../parse/dir-inspector.js';

/** Every weird the inspector may raise (see the file header): the descriptor's `events`. */
export const BT_WEIRDS = [
  'bt_message_too_long', 'bt_extended_too_long', 'bt_metadata_too_large', 'bt_bad_extended', 'bt_bad_metadata_piece',
  'bt_metadata_hash_mismatch', 'bt_bad_metadata',
] as const;
type Weird = (typeof BT_WEIRDS)[number];

/** A decoded bencode value (BEP 3 "bencoding"). */
export type BValue = number | Uint8Array | BValue[] | Map<string, BValue>;

/** BEP 9 metadata piece size. */
export const METADATA_PIECE = 16 * 1024;
const PSTR = '\x13BitTorrent protocol';
const EXTENDED = 20;

/**
 * Decodes one bencoded value at `off` (BEP 3): `i<int>e`, `<len>:<octets>`, `l…e`, `d…e` (keys
 * are byte strings, read as latin-1). Returns the value and the offset after it, or null if the
 * octets are not bencode, end early or nest deeper than `depth`. Strings are views of `b`.
 */
export function bdecode(b: Uint8Array, off: number, depth = 32): { v: BValue; end: number } | null {
  const c = b[off];
  if (c === 0x69) {
    const e = b.subarray(0, off + 20).indexOf(0x65, off + 1);
    const s = e < 0 ? '' : latin1(b.subarray(off + 1, e));
    if (!/^-?[0-9]{1,17}$/.test(s)) return null;
    return { v: Number(s), end: e + 1 };
  }
  if (c !== undefined && c >= 0x30 && c <= 0x39) {
    const colon = b.subarray(0, off + 10).indexOf(0x3a, off);
    const s = colon < 0 ? '' : latin1(b.subarray(off, colon));
    if (!/^[0-9]{1,8}$/.test(s)) return null;
    const end = colon + 1 + Number(s);
    return end <= b.length ? { v: b.subarray(colon + 1, end), end } : null;
  }
  if ((c === 0x6c || c === 0x64) && depth > 0) {
    const list: BValue[] = [];
    const dict = new Map<string, BValue>();
    let i = off + 1;
    while (i < b.length && b[i] !== 0x65) {
      let key = '';
      if (c === 0x64) {
        const k = bdecode(b, i, 0);
        if (!k || !(k.v instanceof Uint8Array)) return null;
        key = latin1(k.v);
        i = k.end;
      }
      const r = bdecode(b, i, depth - 1);
      if (!r) return null;
      if (c === 0x64) dict.set(key, r.v);
      else list.push(r.v);
      i = r.end;
    }
    if (i >= b.length) return null;
    return { v: c === 0x64 ? dict : list, end: i + 1 };
  }
  return null;
}

const dictGet = (d: BValue | undefined, k: string): BValue | undefined => (d instanceof Map ? d.get(k) : undefined);
const num = (v: BValue | undefined): number | undefined => (typeof v === 'number' ? v : undefined);

interface DirState {
  state: 'handshake' | 'length' | 'id' | 'extended' | 'skip' | 'stopped';
  buf: Collector;
  infoHash: Uint8Array | null;
  /** ut_metadata id this direction's sender wants to receive (from its extension handshake). */
  utId: number | undefined;
  /** metadata_size this direction's sender announced. */
  metaSize: number | undefined;
  msgLen: number;
  skip: number;
  meta: { buf: Uint8Array; have: boolean[]; left: number } | null;
  metaDone: boolean;
}

const fresh = (): DirState => ({
  state: 'handshake', buf: new Collector(68), infoHash: null, utId: undefined, metaSize: undefined,
  msgLen: 0, skip: 0, meta: null, metaDone: false,
});

/** BitTorrent peer-wire metadata inspector of one connection (see the file header). */
export class BitTorrentMetaInspector extends DirInspector<DirState, Weird> {
  constructor(events: InspectEvents) {
    super(events, fresh);
  }

  protected consume(dir: Dir, st: DirState, bytes: Uint8Array, off: number): number {
    if (st.state === 'skip') {
      const n = this.skipOctets(st, bytes, off);
      if (st.skip === 0) this.expectLength(st);
      return n;
    }
    const n = st.buf.read(bytes, off);
    if (st.buf.done) this.step(dir, st);
    return n;
  }

  private expectLength(st: DirState): void {
    st.state = 'length';
    st.buf = new Collector(4);
  }

  /** A buffered unit (handshake, length, id, extended message) is complete. */
  private step(dir: Dir, st: DirState): void {
    const b = st.buf.bytes;
    switch (st.state) {
      case 'handshake':
        if (latin1(b.subarray(0, 20)) !== PSTR) {
          st.state = 'stopped';
          return;
        }
        st.infoHash = b.slice(28, 48);
        // Without the BEP 10 reserved bit (reserved[5] & 0x10) no extension message will follow.
        if ((b[25] & 0x10) === 0) {
          st.state = 'stopped';
          return;
        }
        return this.expectLength(st);
      case 'length': {
        const len = ((b[0] << 24) >>> 0) + (b[1] << 16) + (b[2] << 8) + b[3];
        if (len === 0) return this.expectLength(st);
        if (len > INSPECT_LIMITS.maxBtMessage) return this.fail(dir, 'bt_message_too_long');
        st.msgLen = len;
        st.state = 'id';
        st.buf = new Collector(1);
        return;
      }
      case 'id': {
        const rest = st.msgLen - 1;
        if (b[0] !== EXTENDED) {
          if (rest === 0) return this.expectLength(st);
          st.state = 'skip';
          st.skip = rest;
          return;
        }
        if (rest > INSPECT_LIMITS.maxMessage) return this.fail(dir, 'bt_extended_too_long');
        if (rest === 0) return this.expectLength(st);
        st.state = 'extended';
        st.buf = new Collector(rest);
        return;
      }
      case 'extended':
        this.expectLength(st);
        return this.extended(dir, st, b);
      default:
    }
  }

  /** BEP 10 extended message `b` = <extended id><payload> sent in direction `dir`. */
  private extended(dir: Dir, st: DirState, b: Uint8Array): void {
    const r = bdecode(b, 1);
    if (!r || !(r.v instanceof Map)) return this.weird('bt_bad_extended');
    if (b[0] === 0) {
      st.utId = num(dictGet(r.v.get('m'), 'ut_metadata')) ?? st.utId;
      st.metaSize = num(r.v.get('metadata_size')) ?? st.metaSize;
      return;
    }
    const peer = this.dirs[dir === 0 ? 1 : 0];
    if (peer.utId === undefined || b[0] !== peer.utId || st.metaDone) return;
    if (num(r.v.get('msg_type')) !== 1) return;
    this.piece(dir, st, num(r.v.get('piece')), num(r.v.get('total_size')), b.subarray(r.end));
  }

  /** A BEP 9 data piece. */
  private piece(dir: Dir, st: DirState, index: number | undefined, total: number | undefined, data: Uint8Array): void {
    if (st.meta === null) {
      const size = st.metaSize ?? total;
      if (size === undefined || size <= 0) return this.weird('bt_bad_metadata_piece');
      if (size > INSPECT_LIMITS.maxMetadata) return this.fail(dir, 'bt_metadata_too_large');
      const n = Math.ceil(size / METADATA_PIECE);
      st.meta = { buf: new Uint8Array(size), have: new Array<boolean>(n).fill(false), left: n };
    }
    const m = st.meta;
    const size = m.buf.length;
    const expected = index === undefined ? -1 : Math.min(METADATA_PIECE, size - index * METADATA_PIECE);
    if (index === undefined || index < 0 || index >= m.have.length || data.length !== expected) {
      return this.weird('bt_bad_metadata_piece');
    }
    if (m.have[index]) return;
    m.buf.set(data, index * METADATA_PIECE);
    m.have[index] = true;
    if (--m.left > 0) return;
    st.metaDone = true;
    st.meta = null;
    // Nothing more to learn from this direction.
    st.state = 'stopped';
    this.metadata(dir, st, m.buf);
  }

  /** The complete info dictionary: verify it (BEP 3 info_hash) and report its name. */
  private metadata(dir: Dir, st: DirState, info: Uint8Array): void {
    const hash = createHash('sha1').update(info).digest();
    if (st.infoHash === null || !hash.equals(st.infoHash)) return this.weird('bt_metadata_hash_mismatch');
    const r = bdecode(info, 0);
    const raw = r && r.end === info.length ? (dictGet(r.v, 'name.utf-8') ?? dictGet(r.v, 'name')) : undefined;
    if (!(raw instanceof Uint8Array)) return this.weird('bt_bad_metadata');
    const name = decodeText(raw).trim();
    if (name) this.events.fileName(dir, name, 'bt-metadata');
  }
}
