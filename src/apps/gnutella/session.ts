/**
 * Gnutella sessions, byte-accurate to the Gnutella 0.6 draft (RFC-Gnutella, T. Klingberg,
 * R. Manfredi, 2002: §2.2 connection handshake, §2.3 descriptor header) and the Gnutella Protocol
 * Specification v0.4 (ping 0x00 / pong 0x01 payloads):
 * - TCP: `GNUTELLA CONNECT/0.6`, `GNUTELLA/0.6 200 OK` with headers, the initiator's final
 *   `GNUTELLA/0.6 200 OK`, then a ping descriptor (23-byte header, payload length 0) answered by a
 *   pong (14-byte payload: port LE, IPv4 big-endian, files LE, kilobytes LE);
 * - UDP: the same ping/pong descriptors as datagrams (GUESS / UDP pings).
 * Header: 16-byte descriptor id (byte 8 = 0xFF, byte 15 = 0x00 marks a modern servent),
 * payload descriptor, TTL, hops, 4-byte little-endian payload length.
 */
import { ascii, concat, ipv4Bytes, le16, le32, prngBytes, u8 } from '../bytes.js';
import { inn, out, type BuildOpts, type SessionTemplate, type Step } from '../session-types.js';

/** Payload descriptors (v0.4 §Descriptor Header). */
export const GNUTELLA = Object.freeze({ PING: 0x00, PONG: 0x01, PUSH: 0x40, QUERY: 0x80, QUERY_HIT: 0x81, HEADER: 23 });

/** A 16-byte descriptor id with the 0.6 modern-servent marks. */
export function gnutellaGuid(seed: number, label: string): Uint8Array {
  const g = prngBytes(seed, 16, label);
  g[8] = 0xff;
  g[15] = 0x00;
  return g;
}

/** A descriptor: 23-byte header (id, type, TTL, hops, LE32 payload length) + payload. */
export function gnutellaDescriptor(guid: Uint8Array, type: number, ttl: number, hops: number, payload: Uint8Array): Uint8Array {
  return concat(guid, u8(type, ttl, hops), le32(payload.length), payload);
}

/** Pong payload: port (LE16), IPv4 (network order), shared files (LE32), shared kilobytes (LE32). */
export function gnutellaPong(ip: string, port: number, files: number, kb: number): Uint8Array {
  return concat(le16(port), ipv4Bytes(ip), le32(files), le32(kb));
}

const tcp = (o: BuildOpts): Step[] => {
  const guid = gnutellaGuid(o.seed, 'gnut-ping');
  const connect =
    'GNUTELLA CONNECT/0.6\r\n' +
    'User-Agent: LimeWire/4.12.6\r\n' +
    'X-Ultrapeer: False\r\n' +
    'X-Query-Routing: 0.1\r\n' +
    `Listen-IP: ${o.clientAddr}:6346\r\n` +
    '\r\n';
  const ok =
    'GNUTELLA/0.6 200 OK\r\n' +
    'User-Agent: gtk-gnutella/1.2.2\r\n' +
    'X-Ultrapeer: True\r\n' +
    'X-Query-Routing: 0.1\r\n' +
    `Remote-IP: ${o.clientAddr}\r\n` +
    '\r\n';
  return [
    out(ascii(connect)),
    inn(ascii(ok)),
    out(ascii('GNUTELLA/0.6 200 OK\r\n\r\n')),
    out(gnutellaDescriptor(guid, GNUTELLA.PING, 1, 0, new Uint8Array(0))),
    inn(gnutellaDescriptor(guid, GNUTELLA.PONG, 1, 0, gnutellaPong(o.serverAddr, 6346, 42, 123456))),
  ];
};

const udp = (o: BuildOpts): Step[] => {
  const guid = gnutellaGuid(o.seed, 'gnut-udp-ping');
  return [
    out(gnutellaDescriptor(guid, GNUTELLA.PING, 1, 0, new Uint8Array(0))),
    inn(gnutellaDescriptor(guid, GNUTELLA.PONG, 1, 0, gnutellaPong(o.serverAddr, 6346, 7, 2048))),
  ];
};

/** Registry entries for Gnutella: 0.6 handshake + ping/pong over TCP, ping/pong over UDP. */
export const GNUTELLA_SESSIONS: readonly SessionTemplate[] = [
  { app: 'gnutella', variant: 'handshake', l4: 'tcp', source: 'RFC-Gnutella 0.6 §2.2-2.3', build: tcp },
  { app: 'gnutella', variant: 'udp-ping', l4: 'udp', source: 'Gnutella v0.4 ping/pong over UDP', build: udp },
];
