/**
 * The per-direction skeleton the line- and message-framed stream inspectors share (BitTorrent
 * peer wire, MSNP chat, MSNFTP): one state object per direction (dir 0 = initiator → responder,
 * dir 1 = back), a direction that hit a gap, its end or a framing error is `stopped` and ignores
 * further bytes, and named weirds go to the content manager (like Zeek's weirds).
 *
 * Subclasses write `consume` (the framing: one step on the bytes at an offset) and may override
 * `onGap`/`onEnd` (both stop the direction here, as reassembly cannot resynchronise a framed
 * stream after a gap).
 */
import type { Dir, InspectEvents, StreamInspector } from '../types.js';

/** What the skeleton needs of a direction's state: its state name (`stopped` ends it). */
export interface DirStateBase {
  state: string;
}

/**
 * Base of a stream inspector with per-direction state `S` and weird names `W`.
 * `fresh` builds one direction's initial state (called twice, once per direction).
 */
export abstract class DirInspector<S extends DirStateBase, W extends string> implements StreamInspector {
  protected readonly dirs: [S, S];

  constructor(
    protected readonly events: InspectEvents,
    fresh: () => S,
  ) {
    this.dirs = [fresh(), fresh()];
  }

  /**
   * Bytes of direction `dir`, in stream order (the StreamConsumer contract, src/core/types.ts):
   * `consume` steps through them until they are used up or the direction stops.
   */
  onData(dir: Dir, bytes: Uint8Array): void {
    const st = this.dirs[dir];
    let off = 0;
    while (off < bytes.length && st.state !== 'stopped') off += this.consume(dir, st, bytes, off);
  }

  /**
   * One framing step of direction `dir` (state `st`) on `bytes` from `off` (< bytes.length).
   * @returns octets used: at least 1 unless the step stopped the direction
   */
  protected abstract consume(dir: Dir, st: S, bytes: Uint8Array, off: number): number;

  /**
   * Skips up to `st.skip` octets of `bytes` from `off` (a message not worth buffering).
   * @returns octets skipped; `st.skip` is then what is still to skip
   */
  protected skipOctets(st: S & { skip: number }, bytes: Uint8Array, off: number): number {
    const n = Math.min(st.skip, bytes.length - off);
    st.skip -= n;
    return n;
  }

  /** A gap of `len` octets in `dir`: the framing is lost, the direction stops. */
  onGap(dir: Dir, _len: number): void {
    this.stopDir(dir);
  }

  /** Direction `dir` ended (FIN, RST or flow end): it stops. */
  onEnd(dir: Dir): void {
    this.stopDir(dir);
  }

  /** Counts weird `name` (one of the dissector's declared events). */
  protected weird(name: W): void {
    this.events.weird(name);
  }

  /** Counts weird `name` and stops direction `dir` (a framing error it cannot read past). */
  protected fail(dir: Dir, name: W): void {
    this.weird(name);
    this.stopDir(dir);
  }

  /** Marks direction `dir` stopped: later bytes of it are ignored. */
  protected stopDir(dir: Dir): void {
    const st: DirStateBase = this.dirs[dir];
    st.state = 'stopped';
  }
}
