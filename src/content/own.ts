/**
 * Held packets outlive the buffers they arrived in: a batched NFQUEUE payload is a view into an
 * arena that the next batch overwrites (src/capture/nfq-batch.ts), and a decoded packet may be a
 * reused object. Before a packet is held (Q2), it gets its own copy of the IP bytes and of the
 * decoded packet, whose payload then views the copy and whose addresses are formatted now, while the
 * arena still holds them (src/decode/packet.ts). Cost: one copy per held packet, none otherwise.
 */
import type { DecodedPacket } from '../decode/types.js';
import { detachPacket } from '../decode/packet.js';

/** What ownPacket needs of a queued packet (hold.ts's QPkt). */
export interface Ownable {
  ip: Uint8Array;
  pkt: DecodedPacket;
  /** Set once the packet has its own bytes. */
  owned?: boolean;
}

/** `q` itself when it already owns its bytes, else a copy of it that does. */
export function ownPacket<T extends Ownable>(q: T): T {
  if (q.owned) return q;
  const ip = q.ip.slice();
  const p = q.pkt.payload;
  const off = p.byteOffset - q.ip.byteOffset;
  const inside = p.buffer === q.ip.buffer && off >= 0 && off + p.length <= q.ip.length;
  const payload = inside ? ip.subarray(off, off + p.length) : p.slice();
  return { ...q, ip, pkt: detachPacket(q.pkt, payload), owned: true };
}
