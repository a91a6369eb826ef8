/**
 * MSNFTP file-transfer inspector (MSN Messenger ≤ 6 direct transfer; Mike Mintz, "MSN Messenger
 * Protocol", hypothetical.net/msn, section "MSNFTP"). After an MSNP `text/x-msmsgsinvite`
 * invitation is accepted, the receiver connects to the sender and the two exchange CRLF lines:
 *   receiver `VER MSNFTP` → sender `VER MSNFTP` → receiver `USR <email> <cookie>` → sender
 *   `FIL <size>` → receiver `TFR` (or `CCL` to cancel),
 * then the sender streams the file in blocks, each a 3-byte header [0x00, length low, length
 * high] (length ≤ 2045) and that many octets; a header starting with 0x01 cancels the transfer.
 * The receiver ends with `BYE <code>` (16777989 = success) or `CCL`.
 *
 * Events: the direction that sent `FIL <size>` carries the data: `fileStart(dir, {name: null,
 * size})` when the other side sends `TFR` or at the first block header, whichever comes first
 * (the name travelled in the invitation on the MSNP switchboard, not in this connection), then
 * `fileData` per block payload, and `fileEnd(id, bytes === size)` once `size` octets arrived, on a
 * cancel (block 0x01, or `CCL`/`BYE` from the receiver before the end), at the end of the stream
 * or at a gap. Line commands are free-form otherwise (skipped).
 *
 * Caps: a command line ≤ 8 KiB. Weirds: `msnftp_line_too_long` (direction stops),
 * `msnftp_bad_fil` (FIL without a decimal size), `msnftp_bad_block` (a block header not starting
 * with 0x00/0x01: framing lost, direction stops), `msnftp_block_too_long` (a block over 2045
 * octets; still followed), `msnftp_overrun` (the blocks carry more than FIL announced).
 */
import type { Dir, InspectEvents } from '../types.js';
import { latin1 } from '../bytes.js';
import { LineReader, INSPECT_LIMITS } from '../parse/lines.js';
import { DirInspector } from '../parse/dir-inspector.js';

/** Every weird the inspector may raise (see the file header): the descriptor's `events`. */
export const MSNFTP_WEIRDS = ['msnftp_line_too_long', 'msnftp_bad_fil', 'msnftp_bad_block', 'msnftp_block_too_long', 'msnftp_overrun'] as const;
type Weird = (typeof MSNFTP_WEIRDS)[number];

/** Largest block payload MSNFTP senders use. */
export const MSNFTP_MAX_BLOCK = 2045;

interface Transfer {
  size: number;
  id: number | null;
  got: number;
}

interface DirState {
  state: 'line' | 'header' | 'data' | 'stopped';
  line: LineReader;
  /** Announced by this direction's FIL and not finished. */
  xfer: Transfer | null;
  hdr: number[];
  left: number;
}

const fresh = (): DirState => ({ state: 'line', line: new LineReader(INSPECT_LIMITS.maxLine), xfer: null, hdr: [], left: 0 });

/** MSNFTP inspector of one connection (see the file header). */
export class MsnftpInspector extends DirInspector<DirState, Weird> {
  constructor(events: InspectEvents) {
    super(events, fresh);
  }

  protected consume(dir: Dir, st: DirState, bytes: Uint8Array, off: number): number {
    if (st.state === 'line') {
      const used = st.line.read(bytes, off);
      if (used < 0) {
        this.weird('msnftp_line_too_long');
        return this.stop(dir, false), 0;
      }
      if (st.line.line !== null) this.command(dir, latin1(st.line.line));
      return used;
    }
    if (st.state === 'header') {
      st.hdr.push(bytes[off]);
      if (st.hdr[0] !== 0x00 && st.hdr[0] !== 0x01) {
        this.weird('msnftp_bad_block');
        return this.stop(dir, false), 0;
      }
      if (st.hdr.length === 3) this.header(dir);
      return 1;
    }
    const xfer = st.xfer!;
    const n = Math.min(st.left, bytes.length - off);
    this.events.fileData(this.start(dir), bytes.subarray(off, off + n));
    xfer.got += n;
    st.left -= n;
    if (st.left === 0) this.blockDone(dir);
    return n;
  }

  override onGap(dir: Dir, _len: number): void {
    this.stop(dir, false);
  }

  override onEnd(dir: Dir): void {
    this.stop(dir, false);
  }

  /** Ends this direction's transfer (if any) and stops or returns to lines. */
  private stop(dir: Dir, toLines: boolean): void {
    const st = this.dirs[dir];
    const x = st.xfer;
    if (x !== null && x.id !== null) this.events.fileEnd(x.id, x.got === x.size);
    st.xfer = null;
    st.state = toLines ? 'line' : 'stopped';
  }

  /** The transfer id of `dir`, reporting fileStart on first use. */
  private start(dir: Dir): number {
    const x = this.dirs[dir].xfer!;
    x.id ??= this.events.fileStart(dir, { name: null, size: x.size });
    return x.id;
  }

  private command(dir: Dir, line: string): void {
    const t = line.split(' ');
    const other: Dir = dir === 0 ? 1 : 0;
    const peer = this.dirs[other];
    switch (t[0]) {
      case 'FIL': {
        const st = this.dirs[dir];
        if (!/^[0-9]{1,15}$/.test(t[1] ?? '')) {
          this.weird('msnftp_bad_fil');
          return;
        }
        st.xfer = { size: Number(t[1]), id: null, got: 0 };
        // The sender's next octets are the data blocks.
        st.state = 'header';
        st.hdr = [];
        return;
      }
      case 'TFR':
        if (peer.xfer !== null && peer.state !== 'stopped') {
          this.start(other);
          if (peer.xfer.size === 0) this.stop(other, true);
        }
        return;
      case 'CCL':
      case 'BYE':
        if (peer.xfer !== null && peer.state !== 'stopped') this.stop(other, true);
        return;
      default:
    }
  }

  private header(dir: Dir): void {
    const st = this.dirs[dir];
    const [flag, lo, hi] = st.hdr;
    st.hdr = [];
    if (flag === 0x01) return this.stop(dir, true);
    this.start(dir);
    const len = lo | (hi << 8);
    if (len > MSNFTP_MAX_BLOCK) this.weird('msnftp_block_too_long');
    st.left = len;
    if (len === 0) this.blockDone(dir);
    else st.state = 'data';
  }

  private blockDone(dir: Dir): void {
    const st = this.dirs[dir];
    const x = st.xfer!;
    if (x.got > x.size) this.weird('msnftp_overrun');
    if (x.got >= x.size) this.stop(dir, true);
    else st.state = 'header';
  }
}
