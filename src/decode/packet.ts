/**
 * The decoder's packet object (issue 13 item 3: no address text per packet). Every field of
 * DecodedPacket is a plain field except `src` and `dst`, which are formatted from the packet bytes
 * the first time they are read and then kept: a packet of a known flow (found by its binary key,
 * ./key.ts) is judged without ever formatting an address; a new flow reads them once to name its
 * endpoints, and a log line reads them from the flow.
 *
 * The bytes must still be valid when `src`/`dst` are first read: read them during the call that
 * decoded the packet, or after copying the packet (src/content/own.ts materialises them first).
 */
import { formatIpv4, formatIpv6 } from './addr.js';
import type { DecodedPacket, L4 } from './types.js';

export class IpPacket implements DecodedPacket {
  private srcText: string | undefined = undefined;
  private dstText: string | undefined = undefined;

  /**
   * @param buf the IP packet the addresses are read from (the decoder's input)
   * @param srcOff byte offset of the source address in `buf`; the destination follows it (4 or 16 bytes)
   * Other parameters: the DecodedPacket fields of the same names (./types.ts).
   */
  constructor(
    private readonly buf: Uint8Array,
    private readonly srcOff: number,
    readonly family: 4 | 6,
    readonly proto: number,
    readonly l4: L4,
    readonly sport: number,
    readonly dport: number,
    readonly key: string,
    readonly fwd: boolean,
    readonly ipLen: number,
    readonly seq: number,
    readonly ack: number,
    readonly flags: number,
    readonly payload: Uint8Array,
    readonly fragment: boolean,
  ) {}

  /** Source address text (IPv4 dotted quad, IPv6 RFC 5952), formatted at the first read. */
  get src(): string {
    return (this.srcText ??= this.addr(this.srcOff));
  }

  /** Destination address text, formatted at the first read. */
  get dst(): string {
    return (this.dstText ??= this.addr(this.srcOff + (this.family === 4 ? 4 : 16)));
  }

  private addr(off: number): string {
    return this.family === 4 ? formatIpv4(this.buf, off) : formatIpv6(this.buf, off);
  }
}

/**
 * A plain copy of `pkt` (every field, addresses as text) with `payload` replaced: for a packet
 * that outlives the buffer it was decoded from (src/content/own.ts).
 */
export function detachPacket(pkt: DecodedPacket, payload: Uint8Array): DecodedPacket {
  return {
    family: pkt.family, src: pkt.src, dst: pkt.dst, proto: pkt.proto, l4: pkt.l4, sport: pkt.sport, dport: pkt.dport,
    key: pkt.key, fwd: pkt.fwd, ipLen: pkt.ipLen, seq: pkt.seq, ack: pkt.ack, flags: pkt.flags, payload, fragment: pkt.fragment,
  };
}
