/**
 * The pipeline's verdict objects without an allocation per packet (issue 13 item 3): one frozen
 * `repeat` per mark (a mark per application, so a handful; core's ACCEPT otherwise), and the one
 * reused queued-packet object handed to the inspect engine.
 */
import { ACCEPT, type Verdict, type Dir } from '../core/types.js';
import type { DecodedPacket } from '../decode/types.js';
import type { QPkt } from '../content/hold.js';

/** `repeat` verdicts by mark, made once each. */
export class RepeatVerdicts {
  private readonly byMark = new Map<number, Verdict>();

  /**
   * The verdict of a packet of a flow: accept while it is being classified (`mark` null), else
   * NF_REPEAT with its mark, or with `unknownMark` when it got none (0: accept).
   */
  of(classified: boolean, mark: number | null, unknownMark: number): Verdict {
    if (!classified) return ACCEPT;
    const m = mark ?? unknownMark;
    if (!m) return ACCEPT;
    let v = this.byMark.get(m);
    if (!v) this.byMark.set(m, (v = Object.freeze({ verdict: 'repeat', mark: m })));
    return v;
  }
}

/**
 * One reused queued packet for the inspect engine. The engine reads it during the call and copies
 * whatever it keeps (src/content/own.ts: held packets), so the next packet may overwrite it.
 */
export class QueuedSlot {
  private readonly q: QPkt = { id: 0, pkt: null as unknown as DecodedPacket, ip: new Uint8Array(0), dir: 0, t: 0, rcvNxt: undefined, owned: false };

  /** Fills the slot: queue id, decoded packet, IP bytes, direction, packet time in seconds (stored as ms). */
  fill(id: number, pkt: DecodedPacket, ip: Uint8Array, dir: Dir, ts: number): QPkt {
    const q = this.q;
    q.id = id;
    q.pkt = pkt;
    q.ip = ip;
    q.dir = dir;
    q.t = ts * 1000;
    q.rcvNxt = undefined;
    q.owned = false;
    return q;
  }
}
