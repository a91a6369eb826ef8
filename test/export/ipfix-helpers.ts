/**
 * Helpers of the IPFIX tests: an in-memory transport that keeps every Message, flow records to
 * export, a classic pcap file of IPFIX Messages as UDP datagrams (for tshark), and a free port.
 */
import dgram from 'node:dgram';
import type { Outgoing, Transport, TransportOptions } from '../../src/observe/ipfix/transport.js';
import type { ExportRecord } from '../../src/observe/ipfix/template.js';
import { pcapFileHeader, pcapRecord } from '../../src/observe/pcapexport.js';

/** A transport that takes every Message (up to `maxBacklog` unflushed when `hold` is set). */
export class MemoryTransport implements Transport {
  readonly sent: Outgoing[] = [];
  ready = true;
  /** Messages taken but held (not yet "written"): `release()` writes them. */
  held: Outgoing[] = [];
  hold = false;
  constructor(readonly o: TransportOptions) {}
  get backlog(): number {
    return this.held.length;
  }
  get writable(): boolean {
    return this.ready && this.held.length < this.o.maxBacklog;
  }
  send(m: Outgoing): boolean {
    if (!this.writable) return false;
    if (this.hold) this.held.push(m);
    else this.sent.push(m);
    return true;
  }
  release(): void {
    this.sent.push(...this.held.splice(0));
    this.o.onWritable();
  }
  async close(): Promise<void> {
    this.ready = false;
  }
}

/** A flow record with defaults (IPv4 TCP, BitTorrent's selector), overridable field by field. */
export function exportRecord(over: Partial<ExportRecord> = {}): ExportRecord {
  return {
    l4: 'tcp', src: '192.0.2.1', dst: '198.51.100.7', sport: 40000, dport: 6881, initiator: true,
    startMs: 1_700_000_000_000, endMs: 1_700_000_005_000, octets: [1234, 5678], packets: [10, 12],
    endReason: 1, selector: 0x01010d, app: 'bittorrent', method: 'signature', verdict: 'accept',
    ...over,
  };
}

const u16 = (v: number): number[] => [(v >>> 8) & 0xff, v & 0xff];

/**
 * A classic pcap (LINKTYPE_RAW, 101) holding each Message as one IPv4/UDP datagram from
 * 192.0.2.1:50000 to 192.0.2.2:`port` (checksums left 0: tshark does not verify them by default).
 */
export function udpPcap(messages: readonly Uint8Array[], port: number): Buffer {
  const parts: Buffer[] = [pcapFileHeader(65535)];
  messages.forEach((m, i) => {
    const udpLen = 8 + m.length;
    const ipLen = 20 + udpLen;
    const ip = [0x45, 0, ...u16(ipLen), 0, 0, 0x40, 0, 64, 17, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2];
    const udp = [...u16(50000), ...u16(port), ...u16(udpLen), 0, 0];
    const pkt = [...ip, ...udp, ...m];
    parts.push(pcapRecord(Uint8Array.from(pkt), 1_700_000_000 + i, 65535));
  });
  return Buffer.concat(parts);
}

/** A UDP port free on 127.0.0.1 now (bound, read, released). */
export async function freeUdpPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  const { port } = s.address();
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}
