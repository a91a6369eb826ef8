/**
 * eDonkey2000 / eMule sessions, byte-accurate to "The eMule Protocol Specification" (Y. Kulbak,
 * D. Bickson, Hebrew University, 2005) and the eMule 0.50a sources (opcodes.h, KademliaUDPListener.cpp):
 * - TCP client-client: header `0xE3`, 4-byte little-endian size (opcode + payload), opcode;
 *   OP_HELLO 0x01 (hash size 16, user hash, client id, TCP port, tag count, tags, server ip/port),
 *   OP_HELLOANSWER 0x4C (same without the hash-size byte); tags are type byte, 2-byte LE name
 *   length, 1-byte special name, value (string: 2-byte LE length + bytes; integer: 4 bytes LE).
 * - Kad over UDP: `0xE4` KADEMLIA2_BOOTSTRAP_REQ 0x01 (no payload) and KADEMLIA2_BOOTSTRAP_RES 0x09
 *   (sender Kad id 16, TCP port 2, version 1, contact count 2, contacts of 16+4+2+2+1 bytes).
 */
import { ascii, concat, ipv4Bytes, le16, le32, prngBytes, u8 } from '../bytes.js';
import { inn, out, type BuildOpts, type SessionTemplate, type Step } from '../session-types.js';

/** Protocol bytes. */
export const ED = Object.freeze({
  OP_EDONKEYPROT: 0xe3,
  OP_KADEMLIAHEADER: 0xe4,
  OP_HELLO: 0x01,
  OP_HELLOANSWER: 0x4c,
  KADEMLIA2_BOOTSTRAP_REQ: 0x01,
  KADEMLIA2_BOOTSTRAP_RES: 0x09,
  TAGTYPE_STRING: 0x02,
  TAGTYPE_UINT32: 0x03,
  CT_NAME: 0x01,
  CT_VERSION: 0x11,
  CT_PORT: 0x0f,
});

/** A TCP eDonkey message: 0xE3, LE32 size (= 1 + payload length), opcode, payload. */
export function edMessage(opcode: number, payload: Uint8Array): Uint8Array {
  return concat(u8(ED.OP_EDONKEYPROT), le32(1 + payload.length), u8(opcode), payload);
}

/** A tag with a one-byte special name: string (`value` string) or uint32 (`value` number). */
export function edTag(name: number, value: string | number): Uint8Array {
  if (typeof value === 'string') {
    const v = ascii(value);
    return concat(u8(ED.TAGTYPE_STRING), le16(1), u8(name), le16(v.length), v);
  }
  return concat(u8(ED.TAGTYPE_UINT32), le16(1), u8(name), le32(value));
}

/** 16-byte user hash; bytes 5 and 14 are 14 and 111, how eMule marks its own hashes. */
export function edUserHash(seed: number, label: string): Uint8Array {
  const h = prngBytes(seed, 16, label);
  h[5] = 14;
  h[14] = 111;
  return h;
}

/** Hello body shared by OP_HELLO (after the hash-size byte) and OP_HELLOANSWER. */
function helloBody(hash: Uint8Array, ip: string, port: number, nick: string): Uint8Array {
  const tags = [edTag(ED.CT_NAME, nick), edTag(ED.CT_VERSION, 0x3c), edTag(ED.CT_PORT, port)];
  return concat(hash, ipv4Bytes(ip), le16(port), le32(tags.length), ...tags, le32(0), le16(0));
}

const tcpHello = (o: BuildOpts): Step[] => [
  out(edMessage(ED.OP_HELLO, concat(u8(16), helloBody(edUserHash(o.seed, 'ed-c'), o.clientAddr, 4662, 'labclient')))),
  inn(edMessage(ED.OP_HELLOANSWER, helloBody(edUserHash(o.seed, 'ed-s'), o.serverAddr, 4662, 'labserver'))),
];

const kadBootstrap = (o: BuildOpts): Step[] => {
  const contacts = [0, 1, 2].map((i) =>
    concat(prngBytes(o.seed + i, 16, 'kad-contact'), u8(10, 232, 3, 10 + i), le16(4672 + i), le16(4662 + i), u8(8)),
  );
  const res = concat(
    u8(ED.OP_KADEMLIAHEADER, ED.KADEMLIA2_BOOTSTRAP_RES),
    prngBytes(o.seed, 16, 'kad-self'),
    le16(4662),
    u8(8),
    le16(contacts.length),
    ...contacts,
  );
  return [out(u8(ED.OP_KADEMLIAHEADER, ED.KADEMLIA2_BOOTSTRAP_REQ)), inn(res)];
};

/** Registry entries for eDonkey: TCP Hello/HelloAnswer and Kad2 bootstrap over UDP. */
export const EDONKEY: readonly SessionTemplate[] = [
  { app: 'edonkey', variant: 'hello', l4: 'tcp', source: 'eMule Protocol Specification §6 (Hello)', build: tcpHello },
  { app: 'edonkey', variant: 'kad', l4: 'udp', source: 'eMule 0.50a Kademlia2 bootstrap', build: kadBootstrap },
];
