/**
 * The IPFIX wire format (RFC 7011), independent of what is exported: Message header (§3.1), Set
 * header (§3.3.2), Template and Options Template Records (§3.4.1, §3.4.2), Field Specifiers with
 * and without an Enterprise Number (§3.2), and Data Records whose fields are encoded by their
 * Template: unsigned integers in network byte order, reduced-size where the Template says so
 * (§6.1.1, §6.2), octet arrays and strings at a fixed length, and variable-length fields with a
 * one- or three-octet length prefix (§7). Everything here is a pure function over bytes; the
 * byte-exact tests take the RFC's Appendix A examples.
 */
import { P2pgwError } from '../../core/errors.js';

/** Version of the IPFIX Message header (RFC 7011 §3.1). */
export const IPFIX_VERSION = 0x000a;
/** Set IDs (RFC 7011 §3.3.2): Template Set, Options Template Set; Data Sets use their Template ID (≥ 256). */
export const SET_TEMPLATE = 2;
export const SET_OPTIONS_TEMPLATE = 3;
export const MIN_DATA_SET_ID = 256;
/** Octets of the Message header and of a Set header. */
export const MESSAGE_HEADER_OCTETS = 16;
export const SET_HEADER_OCTETS = 4;
/** The Field Length that marks a variable-length Information Element (RFC 7011 §7). */
export const VARLEN = 65535;
/** Largest Message: its Length field is 16 bits (RFC 7011 §3.1). */
export const MAX_MESSAGE_OCTETS = 65535;

/**
 * A Field Specifier (RFC 7011 §3.2): Information Element `id` (15 bits), its `length` in octets in
 * the Data Records (VARLEN = variable), and for an enterprise-specific element its Private
 * Enterprise Number (the Enterprise bit is then set on the wire).
 */
export interface FieldSpec {
  readonly id: number;
  readonly length: number;
  readonly pen?: number;
}

/**
 * A Template (RFC 7011 §3.4.1) or, with `scopeCount` > 0, an Options Template (§3.4.2) whose first
 * `scopeCount` fields are its Scope Fields. `id` is 256–65535.
 */
export interface Template {
  readonly id: number;
  readonly fields: readonly FieldSpec[];
  readonly scopeCount?: number;
}

/** A field value: an unsigned integer (number ≤ 2^53 or bigint), raw octets, or a UTF-8 string. */
export type FieldValue = number | bigint | Uint8Array | string;

const fail = (msg: string): never => {
  throw new P2pgwError('P2PGW_ERR_IPFIX', `IPFIX: ${msg}`);
};

const u16 = (b: Uint8Array, off: number, v: number): void => {
  b[off] = (v >>> 8) & 0xff;
  b[off + 1] = v & 0xff;
};
const u32 = (b: Uint8Array, off: number, v: number): void => {
  u16(b, off, Math.floor(v / 0x10000) & 0xffff);
  u16(b, off + 2, v & 0xffff);
};

/** Concatenates byte arrays. */
export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** Octets of one Field Specifier on the wire: 4, or 8 with an Enterprise Number. */
const specOctets = (f: FieldSpec): number => (f.pen === undefined ? 4 : 8);

function writeSpec(b: Uint8Array, off: number, f: FieldSpec): number {
  if (!Number.isInteger(f.id) || f.id < 0 || f.id > 0x7fff) fail(`Information Element id ${f.id} is not 0..32767`);
  if (!Number.isInteger(f.length) || f.length < 0 || f.length > VARLEN) fail(`field length ${f.length} of element ${f.id} is not 0..65535`);
  u16(b, off, f.pen === undefined ? f.id : f.id | 0x8000);
  u16(b, off + 2, f.length);
  if (f.pen === undefined) return off + 4;
  if (!Number.isInteger(f.pen) || f.pen < 0 || f.pen > 0xffffffff) fail(`enterprise number ${f.pen} is not 32-bit`);
  u32(b, off + 4, f.pen);
  return off + 8;
}

/**
 * Encodes a Template Record (RFC 7011 §3.4.1: Template ID, Field Count, Field Specifiers) or an
 * Options Template Record (§3.4.2: Template ID, Field Count, Scope Field Count, Field Specifiers
 * with the scope fields first) when `t.scopeCount` > 0.
 * @returns the record's octets (to be put in a Set with `set(SET_TEMPLATE | SET_OPTIONS_TEMPLATE, …)`)
 * @throws P2pgwError(P2PGW_ERR_IPFIX) for a Template ID below 256, no fields, a scope count above
 *   the field count, or a field specifier out of range
 */
export function templateRecord(t: Template): Uint8Array {
  const scope = t.scopeCount ?? 0;
  if (!Number.isInteger(t.id) || t.id < MIN_DATA_SET_ID || t.id > 0xffff) fail(`Template ID ${t.id} is not 256..65535`);
  if (!t.fields.length || t.fields.length > 0xffff) fail(`template ${t.id} needs 1..65535 fields`);
  if (scope < 0 || scope > t.fields.length) fail(`template ${t.id}: scope count ${scope} is not 0..${t.fields.length}`);
  const head = scope ? 6 : 4;
  const b = new Uint8Array(head + t.fields.reduce((n, f) => n + specOctets(f), 0));
  u16(b, 0, t.id);
  u16(b, 2, t.fields.length);
  if (scope) u16(b, 4, scope);
  let off = head;
  for (const f of t.fields) off = writeSpec(b, off, f);
  return b;
}

/** UTF-8 octets of `s` cut to at most `max` octets at a character boundary. */
export function utf8Prefix(s: string, max: number): Uint8Array {
  const all = new TextEncoder().encode(s);
  if (all.length <= max) return all;
  let end = max;
  while (end > 0 && (all[end] & 0xc0) === 0x80) end--; // do not split a multi-octet character
  return all.slice(0, end);
}

/** `v` as an unsigned integer in `length` octets, network byte order (RFC 7011 §6.1.1, reduced size §6.2). */
function writeUnsigned(b: Uint8Array, off: number, length: number, v: number | bigint, f: FieldSpec): void {
  let x = typeof v === 'bigint' ? v : BigInt(Number.isInteger(v) && v >= 0 ? v : fail(`element ${f.id}: ${v} is not an unsigned integer`));
  if (x < 0n || length > 8 || x >> BigInt(8 * length) !== 0n) fail(`element ${f.id}: ${v} does not fit ${length} octet(s)`);
  for (let i = length - 1; i >= 0; i--) {
    b[off + i] = Number(x & 0xffn);
    x >>= 8n;
  }
}

/** The octets of a string or octet-array value (strings in UTF-8, RFC 7011 §6.1.6). */
const octetsOf = (v: FieldValue, f: FieldSpec): Uint8Array =>
  typeof v === 'string' ? new TextEncoder().encode(v) : v instanceof Uint8Array ? v : fail(`element ${f.id}: a number for a string/octet field`);

/**
 * Encodes one Data Record by its Template's fields (RFC 7011 §3.4.3): integers in the field's
 * length (reduced-size encoding allowed, §6.2), fixed-length strings cut at a character boundary
 * and padded with zero octets, octet arrays of exactly the field's length, and variable-length
 * fields (length VARLEN) as a one-octet length (< 255) or 255 followed by a two-octet length (§7).
 * @param fields the Template's Field Specifiers, in order
 * @param values one value per field
 * @throws P2pgwError(P2PGW_ERR_IPFIX) when a value does not fit or has the wrong kind
 */
export function dataRecord(fields: readonly FieldSpec[], values: readonly FieldValue[]): Uint8Array {
  if (values.length !== fields.length) fail(`${values.length} value(s) for ${fields.length} field(s)`);
  const parts: Uint8Array[] = [];
  fields.forEach((f, i) => {
    const v = values[i];
    if (f.length === VARLEN) {
      const body = octetsOf(v, f);
      if (body.length > 0xffff) fail(`element ${f.id}: ${body.length} octets exceed a variable-length field`);
      const pre = body.length < 255 ? Uint8Array.of(body.length) : Uint8Array.of(255, body.length >>> 8, body.length & 0xff);
      parts.push(pre, body);
      return;
    }
    const b = new Uint8Array(f.length);
    if (typeof v === 'number' || typeof v === 'bigint') writeUnsigned(b, 0, f.length, v, f);
    else if (typeof v === 'string') b.set(utf8Prefix(v, f.length));
    else if (v.length === f.length) b.set(v);
    else fail(`element ${f.id}: ${v.length} octets for a ${f.length}-octet field`);
    parts.push(b);
  });
  return concat(parts);
}

/**
 * Encodes a Set (RFC 7011 §3.3): Set ID, Length, the records, and optional zero padding to a
 * multiple of 4 octets (§3.3.1: padding shorter than the smallest record; the caller asks for it
 * only where that holds).
 * @param setId 2 (Template Set), 3 (Options Template Set) or the Template ID of a Data Set
 * @throws P2pgwError(P2PGW_ERR_IPFIX) for a reserved Set ID or a Set over 65535 octets
 */
export function set(setId: number, records: readonly Uint8Array[], padTo4 = false): Uint8Array {
  if (setId !== SET_TEMPLATE && setId !== SET_OPTIONS_TEMPLATE && (setId < MIN_DATA_SET_ID || setId > 0xffff)) fail(`Set ID ${setId} is reserved`);
  const body = records.reduce((n, r) => n + r.length, 0);
  const pad = padTo4 ? (4 - ((SET_HEADER_OCTETS + body) % 4)) % 4 : 0;
  const len = SET_HEADER_OCTETS + body + pad;
  if (len > MAX_MESSAGE_OCTETS - MESSAGE_HEADER_OCTETS) fail(`Set of ${len} octets does not fit a Message`);
  const b = new Uint8Array(len);
  u16(b, 0, setId);
  u16(b, 2, len);
  let off = SET_HEADER_OCTETS;
  for (const r of records) {
    b.set(r, off);
    off += r.length;
  }
  return b;
}

/** The Message header's variable fields (RFC 7011 §3.1). */
export interface MessageHeader {
  /** Seconds since 1970-01-01 UTC when the Message leaves the Exporter. */
  exportTime: number;
  /** Data Records sent before this Message in this Transport Session and Observation Domain, mod 2^32. */
  sequence: number;
  /** Observation Domain ID (32 bits). */
  domain: number;
}

/**
 * Encodes an IPFIX Message (RFC 7011 §3): the 16-octet header (Version 10, Length, Export Time,
 * Sequence Number, Observation Domain ID) followed by the Sets.
 * @throws P2pgwError(P2PGW_ERR_IPFIX) when the Message exceeds 65535 octets
 */
export function message(h: MessageHeader, sets: readonly Uint8Array[]): Uint8Array {
  const len = MESSAGE_HEADER_OCTETS + sets.reduce((n, s) => n + s.length, 0);
  if (len > MAX_MESSAGE_OCTETS) fail(`Message of ${len} octets exceeds 65535`);
  const b = new Uint8Array(len);
  u16(b, 0, IPFIX_VERSION);
  u16(b, 2, len);
  u32(b, 4, Math.floor(h.exportTime) >>> 0);
  u32(b, 8, h.sequence >>> 0);
  u32(b, 12, h.domain >>> 0);
  let off = MESSAGE_HEADER_OCTETS;
  for (const s of sets) {
    b.set(s, off);
    off += s.length;
  }
  return b;
}
