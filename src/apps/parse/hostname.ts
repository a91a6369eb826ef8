/**
 * Bounded, never-throwing parsers for the host name a client states at the start of a flow:
 *
 *  - the QNAME of a DNS query's first question (RFC 1035 §4.1.1 header, §4.1.2 question, §3.1
 *    labels; over TCP each message has a 2-byte length prefix, RFC 1035 §4.2.2);
 *  - the `Host` header field of an HTTP/1.x request (RFC 9110 §7.2, RFC 9112 §3 and §5);
 *  - the `server_name` extension of a TLS ClientHello (RFC 8446 §4.1.2 and §4.2, RFC 6066 §3),
 *    reassembled from the handshake records at the start of the stream (RFC 8446 §5.1: a handshake
 *    message may span records), so a ClientHello split over packets or records gives `need-more`.
 *
 * Each returns the raw name (latin-1 text, not yet normalised), `NEED_MORE` when the bytes so far
 * are a consistent but incomplete message, or null when the bytes are not that message (or carry
 * no name). Malformed input of a recognised protocol reports one named event through `onBad`
 * (`HOSTNAME_PARSE_EVENTS`) and returns null. Every loop is bounded by the input length and the
 * constants below; nothing allocates more than the name.
 */

export const NEED_MORE = 'need-more';
export type NameParse = string | typeof NEED_MORE | null;

/** Counted events of malformed input (counter names). */
export const HOSTNAME_PARSE_EVENTS = Object.freeze(['hostname_dns_bad', 'hostname_http_bad', 'hostname_tls_bad'] as const);
export type HostnameParseEvent = (typeof HOSTNAME_PARSE_EVENTS)[number];
export type OnBad = (event: HostnameParseEvent) => void;

/** RFC 1035 §2.3.4: a name is at most 255 octets on the wire, a label at most 63. */
const DNS_MAX_NAME = 255;
/** Longest HTTP request head (request line + fields) we wait for. */
export const HTTP_MAX_HEAD = 8192;
/** Longest ClientHello we wait for (RFC 8446 §5.1: one record's plaintext is at most 2^14 bytes). */
export const TLS_MAX_HELLO = 16384;

const latin1 = (b: Uint8Array, s: number, e: number): string => {
  let out = '';
  for (let i = s; i < e; i++) out += String.fromCharCode(b[i]);
  return out;
};
const lower = (c: number): number => (c >= 0x41 && c <= 0x5a ? c + 32 : c);

/**
 * The first question's QNAME of a DNS query (QR = 0, OPCODE = 0 QUERY, QDCOUNT ≥ 1) as dotted
 * text. `msg` is one message (UDP datagram, or a TCP message without its length prefix);
 * `complete` = false when more bytes of it may follow (TCP). Responses and other opcodes: null.
 */
export function dnsQueryName(msg: Uint8Array, complete: boolean, onBad?: OnBad): NameParse {
  if (msg.length < 12) return complete ? bad(onBad, 'hostname_dns_bad') : NEED_MORE;
  const qr = msg[2] & 0x80;
  const opcode = (msg[2] >> 3) & 0x0f;
  const qd = (msg[4] << 8) | msg[5];
  if (qr !== 0 || opcode !== 0) return null;
  if (qd === 0) return bad(onBad, 'hostname_dns_bad');
  const labels: string[] = [];
  let off = 12;
  let wire = 0;
  for (;;) {
    if (off >= msg.length) return complete ? bad(onBad, 'hostname_dns_bad') : NEED_MORE;
    const len = msg[off];
    // A first question has no earlier name to point to: a pointer (0xc0) or extended label is bad.
    if ((len & 0xc0) !== 0) return bad(onBad, 'hostname_dns_bad');
    wire += len + 1;
    if (wire > DNS_MAX_NAME) return bad(onBad, 'hostname_dns_bad');
    if (len === 0) break;
    if (off + 1 + len > msg.length) return complete ? bad(onBad, 'hostname_dns_bad') : NEED_MORE;
    labels.push(latin1(msg, off + 1, off + 1 + len));
    off += 1 + len;
  }
  // QTYPE and QCLASS follow the name (RFC 1035 §4.1.2).
  if (off + 5 > msg.length) return complete ? bad(onBad, 'hostname_dns_bad') : NEED_MORE;
  return labels.length === 0 ? null : labels.join('.');
}

/** DNS over TCP (RFC 1035 §4.2.2, RFC 7766): the 2-byte length, then the message. */
export function dnsTcpQueryName(stream: Uint8Array, onBad?: OnBad): NameParse {
  if (stream.length < 2) return NEED_MORE;
  const len = (stream[0] << 8) | stream[1];
  if (len < 12) return bad(onBad, 'hostname_dns_bad');
  const have = Math.min(len, stream.length - 2);
  return dnsQueryName(stream.subarray(2, 2 + have), have >= len, onBad);
}

const isTchar = (c: number): boolean =>
  (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || '!#$%&\'*+-.^_`|~'.includes(String.fromCharCode(c));
const HOST = [0x68, 0x6f, 0x73, 0x74, 0x3a]; // "host:"

/**
 * The `Host` field value of an HTTP/1.x request at the start of `stream` (the client's bytes),
 * without port and surrounding whitespace. The request line must be `method SP target SP
 * HTTP/…`; a stream that does not start with a method token followed by a space is not HTTP
 * (null). Waits for the field while the head is incomplete and shorter than HTTP_MAX_HEAD.
 */
export function httpHost(stream: Uint8Array, onBad?: OnBad): NameParse {
  let i = 0;
  while (i < stream.length && i < 32 && isTchar(stream[i])) i++;
  if (i === stream.length) return i < 32 ? NEED_MORE : null;
  if (i === 0 || stream[i] !== 0x20) return null;
  let line = 0;
  let start = 0;
  for (let k = 0; k + 1 < stream.length && k < HTTP_MAX_HEAD; k++) {
    if (stream[k] !== 0x0d || stream[k + 1] !== 0x0a) continue;
    if (line === 0 && !requestLineOk(stream, start, k)) return null;
    if (line > 0 && k === start) return null; // end of the header section: no Host field
    if (line > 0 && k - start >= 5 && HOST.every((h, j) => lower(stream[start + j]) === h)) return hostValue(stream, start + 5, k, onBad);
    line++;
    start = k + 2;
    k++;
  }
  return stream.length < HTTP_MAX_HEAD ? NEED_MORE : bad(onBad, 'hostname_http_bad');
}

/** RFC 9112 §3: the request line ends with ` HTTP/` and a version. */
function requestLineOk(b: Uint8Array, s: number, e: number): boolean {
  const v = e - 8;
  return v > s && latin1(b, v - 1, v + 5) === ' HTTP/';
}

/** The Host value in [s, e): OWS trimmed, `:port` removed; an IP literal `[…]` gives null. */
function hostValue(b: Uint8Array, s: number, e: number, onBad?: OnBad): NameParse {
  while (s < e && (b[s] === 0x20 || b[s] === 0x09)) s++;
  while (e > s && (b[e - 1] === 0x20 || b[e - 1] === 0x09)) e--;
  if (s === e) return bad(onBad, 'hostname_http_bad');
  if (b[s] === 0x5b) return null;
  let c = s;
  while (c < e && b[c] !== 0x3a) c++;
  return c > s ? latin1(b, s, c) : bad(onBad, 'hostname_http_bad');
}

/**
 * The first handshake message carried by the TLS records at the start of `stream` (RFC 8446
 * §5.1: ContentType 22, legacy version 3.x, length ≤ 2^14 + 256; a handshake message may span
 * records), concatenated up to its declared length or TLS_MAX_HELLO + 4 bytes, whichever is less.
 * Null when the stream does not start with a handshake record; 'bad' on a malformed record.
 */
function handshakeBytes(stream: Uint8Array): Uint8Array | null | 'bad' {
  const out = new Uint8Array(Math.min(TLS_MAX_HELLO + 4, stream.length));
  let want = out.length;
  let n = 0;
  let off = 0;
  while (n < want && off + 5 <= stream.length) {
    const len = (stream[off + 3] << 8) | stream[off + 4];
    if (stream[off] !== 22 || stream[off + 1] !== 3 || stream[off + 2] > 4) return off === 0 ? null : 'bad';
    if (len === 0 || len > 16384 + 256) return 'bad';
    const body = stream.subarray(off + 5, Math.min(off + 5 + len, stream.length));
    const take = Math.min(body.length, want - n);
    out.set(body.subarray(0, take), n);
    n += take;
    off += 5 + len;
    if (n >= 4) want = Math.min(out.length, 4 + ((out[1] << 16) | (out[2] << 8) | out[3]));
  }
  return out.subarray(0, n);
}

/**
 * The `host_name` of the `server_name` extension (RFC 6066 §3) of a TLS ClientHello at the start
 * of `stream` (the client's bytes). A stream that does not start with a TLS handshake record
 * (or whose handshake is not a ClientHello) is null; a ClientHello without SNI is null.
 */
export function tlsSni(stream: Uint8Array, onBad?: OnBad): NameParse {
  if (stream.length === 0) return NEED_MORE;
  if (stream[0] !== 22) return null;
  if (stream.length < 5) return stream.length < 2 || stream[1] === 3 ? NEED_MORE : null;
  const hs = handshakeBytes(stream);
  if (hs === null) return null;
  if (hs === 'bad') return bad(onBad, 'hostname_tls_bad');
  if (hs.length < 4) return NEED_MORE;
  if (hs[0] !== 1) return null; // not a ClientHello (RFC 8446 §4: msg_type client_hello = 1)
  const len = (hs[1] << 16) | (hs[2] << 8) | hs[3];
  if (len < 38) return bad(onBad, 'hostname_tls_bad');
  const partial = hs.length < 4 + len;
  const r = clientHelloSni(hs.subarray(4, Math.min(hs.length, 4 + len)), partial);
  if (r === 'bad') return bad(onBad, 'hostname_tls_bad');
  if (r === NEED_MORE && (len > TLS_MAX_HELLO || stream.length >= TLS_MAX_HELLO + 5)) return null;
  return r;
}

/**
 * Walks a ClientHello body (RFC 8446 §4.1.2: legacy_version, random[32], session id ≤ 32,
 * cipher_suites, compression methods, extensions) up to the `server_name` extension.
 * `partial`: the body is cut short (more bytes will follow): running out gives NEED_MORE.
 */
function clientHelloSni(b: Uint8Array, partial: boolean): NameParse | 'bad' {
  const short = (need: number): NameParse | 'bad' | undefined => (need > b.length ? (partial ? NEED_MORE : 'bad') : undefined);
  let off = 34; // legacy_version + random
  const r0 = short(off + 1);
  if (r0) return r0;
  const sid = b[off];
  if (sid > 32) return 'bad';
  off += 1 + sid;
  const r1 = short(off + 2);
  if (r1) return r1;
  const cs = (b[off] << 8) | b[off + 1];
  if (cs < 2 || cs % 2 !== 0) return 'bad';
  off += 2 + cs;
  const r2 = short(off + 1);
  if (r2) return r2;
  const comp = b[off];
  if (comp < 1) return 'bad';
  off += 1 + comp;
  if (off === b.length && !partial) return null; // no extensions (legal before TLS 1.3)
  const r3 = short(off + 2);
  if (r3) return r3;
  const extEnd = off + 2 + ((b[off] << 8) | b[off + 1]);
  off += 2;
  for (let n = 0; n < 256 && off < extEnd; n++) {
    const r4 = short(off + 4);
    if (r4) return r4;
    const type = (b[off] << 8) | b[off + 1];
    const len = (b[off + 2] << 8) | b[off + 3];
    off += 4;
    if (off + len > extEnd) return 'bad';
    if (type === 0) {
      const r5 = short(off + len);
      if (r5) return r5;
      return serverName(b, off, off + len);
    }
    off += len;
  }
  return off > extEnd ? 'bad' : partial && extEnd > b.length ? NEED_MORE : null;
}

/** RFC 6066 §3 ServerNameList in [s, e): the first entry of name_type host_name (0). */
function serverName(b: Uint8Array, s: number, e: number): NameParse | 'bad' {
  if (e - s < 2) return 'bad';
  const listEnd = s + 2 + ((b[s] << 8) | b[s + 1]);
  if (listEnd > e) return 'bad';
  let off = s + 2;
  while (off + 3 <= listEnd) {
    const type = b[off];
    const len = (b[off + 1] << 8) | b[off + 2];
    off += 3;
    if (off + len > listEnd || len === 0) return 'bad';
    if (type === 0) return latin1(b, off, off + len);
    off += len;
  }
  return off === listEnd ? null : 'bad';
}

function bad(onBad: OnBad | undefined, e: HostnameParseEvent): null {
  onBad?.(e);
  return null;
}
