/**
 * What p2pgw exports over IPFIX: its Templates, the Information Elements they use and how one flow
 * record and the application table become Data Records.
 *
 * - Flow records (Templates 256 IPv4, 257 IPv6), one biflow per record (RFC 5103): the 5-tuple
 *   (sourceIPv4Address 8 / sourceIPv6Address 27, destinationIPv4Address 12 / destinationIPv6Address
 *   28, sourceTransportPort 7, destinationTransportPort 11, protocolIdentifier 4), biflowDirection
 *   239 (1 = the source is the initiator, RFC 5103 §6.3; 0 = arbitrary for TCP seen mid-stream),
 *   flowStartMilliseconds 152, flowEndMilliseconds 153, octetDeltaCount 1 and packetDeltaCount 2
 *   (source → destination) and their reverse elements (same numbers, Enterprise Number 29305, RFC
 *   5103 §6.1) for destination → source, flowEndReason 136, applicationId 95 (RFC 6759) and two
 *   enterprise-specific strings: p2pgwMethod and p2pgwVerdict.
 * - The application table (RFC 6759 §5.2 style): Options Template 258, scope applicationId, then
 *   applicationName 96 and applicationDescription 94 as variable-length strings (RFC 7011 §7); and
 *   the same table in Options Template 259 for collectors that read only an options record's
 *   non-scope fields and fixed-length strings (nfdump 1.7's NBAR table): scope
 *   observationDomainId 149, then applicationId, applicationName (32 octets) and
 *   applicationDescription (64 octets), zero-padded.
 *
 * applicationId (RFC 6759 §4.1): Classification Engine ID 13, PANA-L7 ("proprietary layer 7
 * definition": the exporter's own application registry), then a 3-octet Selector ID derived from
 * the application's connmark m (0 = not classified): for m ≤ 255 the selector is m·0x10100 + 13, so
 * the four octets read 13, m, m, 13 in either byte order; nfdump 1.7.1 keeps the identifier as a
 * host-order number (reversed on x86) when it reads flow records but byte for byte in its
 * application table, and only a palindromic identifier matches there. Larger marks are the
 * selector themselves. PANA-L7-PEN (20) is not used: RFC 6759 reserves it for a registry owned by
 * another enterprise than the exporter's, and its PEN-prefixed form does not fit the 4-octet
 * identifiers nfdump keeps.
 *
 * Enterprise-specific elements use Private Enterprise Number 32473, which RFC 5612 reserves for
 * documentation: p2pgw has no PEN of its own, so these elements are for p2pgw-aware collectors;
 * an operator with a PEN changes PEN_P2PGW. Element 1 p2pgwMethod (string: signature, structure,
 * endpoint, host-heuristic, hostname; empty when unclassified), element 2 p2pgwVerdict (string:
 * accept, reset, drop).
 */
import { dataRecord, type FieldSpec, type Template } from './encode.js';

/** Enterprise Number of the reverse Information Elements of a biflow (RFC 5103 §6.1). */
export const PEN_REVERSE = 29305;
/** p2pgw's Private Enterprise Number: 32473, reserved for documentation (RFC 5612 §2). */
export const PEN_P2PGW = 32473;

/** IANA Information Element IDs used here (IANA "IPFIX Information Elements" registry). */
export const IE = Object.freeze({
  octetDeltaCount: 1,
  packetDeltaCount: 2,
  protocolIdentifier: 4,
  sourceTransportPort: 7,
  sourceIPv4Address: 8,
  destinationTransportPort: 11,
  destinationIPv4Address: 12,
  sourceIPv6Address: 27,
  destinationIPv6Address: 28,
  applicationDescription: 94,
  applicationId: 95,
  applicationName: 96,
  flowEndReason: 136,
  observationDomainId: 149,
  flowStartMilliseconds: 152,
  flowEndMilliseconds: 153,
  biflowDirection: 239,
});

/** p2pgw's enterprise-specific elements (PEN_P2PGW). */
export const P2PGW_IE = Object.freeze({ method: 1, verdict: 2 });

/** Template IDs. */
export const TEMPLATE_ID = Object.freeze({ flowV4: 256, flowV6: 257, apps: 258, appsFixed: 259 });

/** flowEndReason values (IANA registry, RFC 5102 §5.11.2 / RFC 7012). */
export const END_REASON = Object.freeze({ idleTimeout: 1, activeTimeout: 2, endOfFlow: 3, forcedEnd: 4, lackOfResources: 5 });
export type EndReason = (typeof END_REASON)[keyof typeof END_REASON];

/** Classification Engine ID of applicationId: PANA-L7 (RFC 6759 §4.1, IANA "Classification Engine IDs"). */
export const ENGINE_PANA_L7 = 13;
/** Octets of an applicationId: engine + 3-octet selector. */
export const APPLICATION_ID_OCTETS = 4;
/** Fixed lengths of the strings in Options Template 259. */
export const FIXED_NAME_OCTETS = 32;
export const FIXED_DESCRIPTION_OCTETS = 64;

const f = (id: number, length: number, pen?: number): FieldSpec => (pen === undefined ? { id, length } : { id, length, pen });
const VAR = 65535;

/** Fields after the addresses, shared by both flow Templates. */
const FLOW_TAIL: readonly FieldSpec[] = [
  f(IE.sourceTransportPort, 2),
  f(IE.destinationTransportPort, 2),
  f(IE.protocolIdentifier, 1),
  f(IE.biflowDirection, 1),
  f(IE.flowStartMilliseconds, 8),
  f(IE.flowEndMilliseconds, 8),
  f(IE.octetDeltaCount, 8),
  f(IE.packetDeltaCount, 8),
  f(IE.octetDeltaCount, 8, PEN_REVERSE),
  f(IE.packetDeltaCount, 8, PEN_REVERSE),
  f(IE.flowEndReason, 1),
  f(IE.applicationId, APPLICATION_ID_OCTETS),
  f(P2PGW_IE.method, VAR, PEN_P2PGW),
  f(P2PGW_IE.verdict, VAR, PEN_P2PGW),
];

/** Every Template p2pgw sends, flow Templates first (Template Set), then the Options Templates. */
export const TEMPLATES: Readonly<{ flowV4: Template; flowV6: Template; apps: Template; appsFixed: Template }> = Object.freeze({
  flowV4: { id: TEMPLATE_ID.flowV4, fields: [f(IE.sourceIPv4Address, 4), f(IE.destinationIPv4Address, 4), ...FLOW_TAIL] },
  flowV6: { id: TEMPLATE_ID.flowV6, fields: [f(IE.sourceIPv6Address, 16), f(IE.destinationIPv6Address, 16), ...FLOW_TAIL] },
  apps: { id: TEMPLATE_ID.apps, scopeCount: 1, fields: [f(IE.applicationId, APPLICATION_ID_OCTETS), f(IE.applicationName, VAR), f(IE.applicationDescription, VAR)] },
  appsFixed: {
    id: TEMPLATE_ID.appsFixed,
    scopeCount: 1,
    fields: [
      f(IE.observationDomainId, 4),
      f(IE.applicationId, APPLICATION_ID_OCTETS),
      f(IE.applicationName, FIXED_NAME_OCTETS),
      f(IE.applicationDescription, FIXED_DESCRIPTION_OCTETS),
    ],
  },
});

/** One flow record to export: a biflow's counts since its previous record (delta), times in ms. */
export interface ExportRecord {
  l4: 'tcp' | 'udp';
  /** Source = the initiator when `initiator` is true (addresses as text, IPv4 or IPv6). */
  src: string;
  dst: string;
  sport: number;
  dport: number;
  /** The source is known to be the initiator (biflowDirection 1), else arbitrary (0). */
  initiator: boolean;
  /** First and last packet of this record, ms since the epoch. */
  startMs: number;
  endMs: number;
  /** Octets (IP header and payload) and packets: [source → destination, destination → source]. */
  octets: readonly [number, number];
  packets: readonly [number, number];
  endReason: EndReason;
  /** Selector ID of applicationId (`selectorOf(mark)`; `selectorOf(0)` = not classified). */
  selector: number;
  /** The application's name (not encoded in the record: it goes into the application table), or null. */
  app: string | null;
  /** How the classification was reached; '' when not classified. */
  method: string;
  verdict: string;
}

/** An entry of the application table. */
export interface AppEntry {
  selector: number;
  name: string;
  description: string;
}

/** The Selector ID of the application with connmark `mark` (0 = not classified); see the module comment. */
export function selectorOf(mark: number): number {
  if (Number.isInteger(mark) && mark >= 0 && mark <= 0xff) return (mark << 16) | (mark << 8) | ENGINE_PANA_L7;
  return mark & 0xffffff;
}

/**
 * The applicationId of a selector (RFC 6759 §4): engine 13 (PANA-L7), Selector ID in 3 octets.
 * @param selector 0..2^24-1
 */
export function applicationId(selector: number): Uint8Array {
  if (!Number.isInteger(selector) || selector < 0 || selector > 0xffffff) throw new RangeError(`selector ${selector} is not 0..16777215`);
  return Uint8Array.of(ENGINE_PANA_L7, selector >>> 16, (selector >>> 8) & 0xff, selector & 0xff);
}

/**
 * Octets of an address in text form: 4 for IPv4 dotted quad, 16 for IPv6 (with `::`, and a dotted
 * IPv4 tail); null when `text` is neither.
 */
export function addressOctets(text: string): Uint8Array | null {
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (v4) {
    const b = v4.slice(1).map(Number);
    return b.every((x) => x <= 255) ? Uint8Array.from(b) : null;
  }
  if (!text.includes(':')) return null;
  let s = text;
  const tail = /(\d{1,3}(?:\.\d{1,3}){3})$/.exec(s);
  if (tail) {
    const t = addressOctets(tail[1]);
    if (!t) return null;
    s = `${s.slice(0, -tail[1].length)}${((t[0] << 8) | t[1]).toString(16)}:${((t[2] << 8) | t[3]).toString(16)}`;
  }
  const halves = s.split('::');
  if (halves.length > 2) return null;
  const parse = (h: string): number[] => (h === '' ? [] : h.split(':').map((g) => (/^[0-9a-fA-F]{1,4}$/.test(g) ? parseInt(g, 16) : NaN)));
  const head = parse(halves[0]);
  const rest = halves.length === 2 ? parse(halves[1]) : [];
  const fill = 8 - head.length - rest.length;
  if ([...head, ...rest].some(Number.isNaN) || (halves.length === 2 ? fill < 1 : fill !== 0)) return null;
  const groups = [...head, ...new Array<number>(fill).fill(0), ...rest];
  const b = new Uint8Array(16);
  groups.forEach((g, i) => {
    b[2 * i] = g >> 8;
    b[2 * i + 1] = g & 0xff;
  });
  return b;
}

/**
 * Encodes one flow record as a Data Record of Template 256 (both addresses IPv4) or 257 (IPv6).
 * @returns the Template ID and the record's octets
 * @throws RangeError for an address that is not IPv4/IPv6 text or mixed families; P2pgwError
 *   (P2PGW_ERR_IPFIX) for a value that does not fit its field
 */
export function flowDataRecord(r: ExportRecord): { templateId: number; bytes: Uint8Array } {
  const src = addressOctets(r.src);
  const dst = addressOctets(r.dst);
  if (!src || !dst || src.length !== dst.length) throw new RangeError(`flow ${r.src} → ${r.dst}: not two addresses of one family`);
  const t = src.length === 4 ? TEMPLATES.flowV4 : TEMPLATES.flowV6;
  const values = [
    src, dst, r.sport, r.dport, r.l4 === 'tcp' ? 6 : 17, r.initiator ? 1 : 0,
    BigInt(Math.round(r.startMs)), BigInt(Math.round(r.endMs)),
    r.octets[0], r.packets[0], r.octets[1], r.packets[1],
    r.endReason, applicationId(r.selector), r.method, r.verdict,
  ];
  return { templateId: t.id, bytes: dataRecord(t.fields, values) };
}

/**
 * The application table as Options Data Records of Template 258 (RFC 6759 layout) and 259 (fixed
 * layout for NBAR-style readers, `domain` as its scope).
 */
export function appTableRecords(apps: readonly AppEntry[], domain: number): { apps: Uint8Array[]; appsFixed: Uint8Array[] } {
  return {
    apps: apps.map((a) => dataRecord(TEMPLATES.apps.fields, [applicationId(a.selector), a.name, a.description])),
    appsFixed: apps.map((a) => dataRecord(TEMPLATES.appsFixed.fields, [domain, applicationId(a.selector), a.name, a.description])),
  };
}
