/**
 * Host names as evidence: the name a client asks for at the start of a flow — the QNAME of a DNS
 * query (UDP or TCP, responder port 53; RFC 1035), the `Host` header of an HTTP/1.x request (TCP,
 * any port; RFC 9110 §7.2) or the SNI of a TLS ClientHello (TCP, any port; RFC 8446 §4.1.2,
 * RFC 6066 §3) — matched against the `host` lines of rules/ (`host bittorrent router.bittorrent.com`,
 * `host <app> *.suffix`). A match labels the flow with that application, method `hostname`.
 *
 * Only names documented as belonging to a P2P service are listed in the bundled rules (DHT
 * bootstrap routers, dedicated trackers, the MSN Messenger dispatch servers), so ordinary web
 * traffic is never labelled. Parsers: src/apps/parse/hostname.ts (bounded, never throwing).
 */
import type { L4 } from '../core/types.js';
import type { Dir } from './types.js';
import { dnsQueryName, dnsTcpQueryName, httpHost, tlsSni, HOSTNAME_PARSE_EVENTS, NEED_MORE, type NameParse, type OnBad } from './parse/hostname.js';

/** Counted events: malformed DNS/HTTP/TLS (the parsers') and names that are not host names. */
export const HOSTNAME_EVENTS = Object.freeze([...HOSTNAME_PARSE_EVENTS, 'hostname_bad_name'] as const);
export type HostnameEvent = (typeof HOSTNAME_EVENTS)[number];

/** A host-name match: the application and the normalised name that matched. */
export interface HostnameMatch {
  app: string;
  name: string;
}

/** `hostnameEvidence` result: a match, `need-more` (the name may still come), or null (none). */
export type HostnameResult = HostnameMatch | typeof NEED_MORE | null;

/** The flow's ports: the initiator's (direction 0 sender) and the responder's. */
export interface FlowPorts {
  initiator: number;
  responder: number;
}

/** RFC 1035 §2.3.1 preferred syntax, plus `_` (service labels): one label's problem, or null. */
function labelProblem(l: string): string | null {
  if (l.length === 0) return 'empty label';
  if (l.length > 63) return 'label longer than 63';
  for (let i = 0; i < l.length; i++) {
    const c = l.charCodeAt(i);
    const ok = (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x5f;
    if (!ok) return `bad character '${l[i]}'`;
  }
  return null;
}

/**
 * Problem with a `host` rule's name (text for the rules error), or null when it is valid: a DNS
 * name (labels of letters, digits, `-`, `_`, 1..63 each, at most 253 in all, at least two labels)
 * or `*.` followed by one (a wildcard matches names strictly below the suffix). Any case.
 */
export function hostPatternProblem(raw: string): string | null {
  const s = raw.toLowerCase();
  const name = s.startsWith('*.') ? s.slice(2) : s;
  if (name.length === 0 || name.length > 253) return 'expected 1..253 characters';
  const labels = name.split('.');
  if (labels.length < 2) return 'expected at least two labels (name.tld)';
  for (const l of labels) {
    const p = labelProblem(l);
    if (p) return `${p}; expected a DNS name or *.suffix`;
  }
  return null;
}

/** A parsed name lowercased, without a trailing dot; null when it is not a host name. */
export function normaliseHostName(raw: string): string | null {
  let s = raw.toLowerCase();
  if (s.endsWith('.')) s = s.slice(0, -1);
  if (s.length === 0 || s.length > 253) return null;
  for (const l of s.split('.')) if (labelProblem(l)) return null;
  return s;
}

/** Name → application, from `host` rules: exact names, and `*.suffix` for names below suffix. */
export class HostnameMatcher {
  private readonly exact = new Map<string, string>();
  private readonly suffix = new Map<string, string>();

  /** `rules`: `{ app, name }` with `name` a valid pattern (rules.ts checked it), any case. */
  constructor(rules: readonly { app: string; name: string }[]) {
    for (const r of rules) {
      const n = r.name.toLowerCase();
      if (n.startsWith('*.')) this.suffix.set(n.slice(2), r.app);
      else this.exact.set(n, r.app);
    }
  }

  /** Number of patterns. */
  get size(): number {
    return this.exact.size + this.suffix.size;
  }

  /** The application of normalised name `name`: exact first, then the longest matching suffix. */
  match(name: string): string | null {
    const e = this.exact.get(name);
    if (e !== undefined) return e;
    if (this.suffix.size === 0) return null;
    for (let dot = name.indexOf('.'); dot >= 0; dot = name.indexOf('.', dot + 1)) {
      const app = this.suffix.get(name.slice(dot + 1));
      if (app !== undefined) return app;
    }
    return null;
  }
}

/**
 * The host name the initiator's first bytes state, parsed by what they look like: DNS when the
 * responder port is 53 (UDP: the datagram; TCP: length-prefixed), else on TCP a TLS handshake
 * record (first byte 22) or an HTTP request. Raw (not normalised).
 */
export function parseHostName(l4: L4, data: Uint8Array, ports: FlowPorts, onBad?: OnBad): NameParse {
  if (ports.responder === 53) return l4 === 'udp' ? dnsQueryName(data, true, onBad) : dnsTcpQueryName(data, onBad);
  if (l4 !== 'tcp') return null;
  if (data.length === 0) return NEED_MORE;
  return data[0] === 22 ? tlsSni(data, onBad) : httpHost(data, onBad);
}

/**
 * Host-name evidence for one flow. Call with direction 0's bytes only (the initiator states the
 * name): TCP `data` = direction 0's in-order stream prefix so far; UDP `data` = one datagram of
 * direction 0. For direction 1, UDP flows not to port 53, and when `names` is empty: null.
 *
 * @returns `{ app, name }` when the stated name matches a `host` rule; NEED_MORE while the
 *   message is incomplete (bounded: HTTP 8 KiB head, TLS 16 KiB ClientHello); null when there is
 *   no name or it matches nothing (final for TCP; for UDP, per datagram). Never throws: malformed
 *   input is reported through `onEvent` (HOSTNAME_EVENTS) and gives null.
 */
export function hostnameEvidence(
  l4: L4,
  dir: Dir,
  data: Uint8Array,
  ports: FlowPorts,
  names: HostnameMatcher,
  onEvent?: (e: HostnameEvent) => void,
): HostnameResult {
  if (dir !== 0 || names.size === 0) return null;
  let raw: NameParse;
  try {
    raw = parseHostName(l4, data, ports, onEvent);
  } catch {
    // The parsers are bounded and index-checked; this only guards the packet path.
    onEvent?.('hostname_bad_name');
    return null;
  }
  if (raw === null || raw === NEED_MORE) return raw;
  const name = normaliseHostName(raw);
  if (name === null) {
    if (!/^[0-9.]+$/.test(raw)) onEvent?.('hostname_bad_name');
    return null;
  }
  const app = names.match(name);
  return app === null ? null : { app, name };
}
