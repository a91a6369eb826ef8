/**
 * HTTP/1.x (RFC 9112): a request line `<method> SP <request-target> SP HTTP/1.<d> CRLF` with a
 * standard method (RFC 9110 §9: GET HEAD POST PUT DELETE CONNECT OPTIONS TRACE, and PATCH from
 * RFC 5789), or a status line `HTTP/1.<d> SP <3 digits>`, at offset 0 of either direction.
 *
 * Registered last: applications that ride on HTTP (FastTrack, the BitTorrent tracker, Gnutella
 * downloads) look at the header section, so this dissector waits, once the start line is
 * complete, until the header section has ended, the other side has spoken or a second segment has
 * arrived, giving them the same bytes first.
 *
 * Literal signatures (rules/p2pgw.rules): one per method (`get`, `head`, ...) and `response`.
 */
import type { AppDescriptor, Dir, SearchContext, SearchResult } from '../types.js';
import { DETECTED, EXCLUDED, NEED_MORE } from '../types.js';
import { ascii } from '../bytes.js';
import { anyPrefixState, headerBlockEnd, hitAt, indexOfCrlf, isDigit, isVisible, prefixState, sigNames } from '../util.js';
import { HTTP_WEIRDS, HttpInspector } from '../parse/http-parser.js';
import { HTTP as HTTP_SESSIONS } from './session.js';

const APP = 'http';
/** The methods recognised, each by the signature named after it in lowercase (`get` = "GET "). */
const METHOD_SIGS = ['get', 'head', 'post', 'put', 'delete', 'options', 'connect', 'patch', 'trace'] as const;
/** The literal signatures this dissector reads (rules/p2pgw.rules defines each). */
const SIG = sigNames(APP, [...METHOD_SIGS, 'response']);
const METHOD_TOKENS = METHOD_SIGS.map((m) => ascii(`${m.toUpperCase()} `));
const HTTP1 = ascii('HTTP/1.');
/** RFC 9112 §3: servers should accept request lines of at least 8000 octets; we look at 2 KiB. */
const MAX_LINE = 2048;

type DirState = 'line' | 'candidate' | 'no' | 'empty';

/** `HTTP/1.<digit>` at `off`: 'match', 'partial' or 'mismatch'. */
function version(p: Uint8Array, off: number): 'match' | 'partial' | 'mismatch' {
  const s = prefixState(p, HTTP1, off);
  if (s !== 'match') return s;
  const i = off + HTTP1.length;
  if (i >= p.length) return 'partial';
  return isDigit(p[i]) ? 'match' : 'mismatch';
}

/**
 * RFC 9112 §3 request line: method SP request-target (visible octets) SP HTTP-version CRLF.
 * Returns 'line' once complete and valid, 'candidate' while it may still become one.
 */
export function requestLine(ctx: SearchContext, d: Dir, p: Uint8Array): DirState {
  const m = METHOD_TOKENS.findIndex((t) => prefixState(p, t) === 'match');
  if (m < 0) return 'no';
  let i = METHOD_TOKENS[m].length;
  const targetStart = i;
  while (i < p.length && isVisible(p[i])) i++;
  if (i === p.length) return p.length < MAX_LINE ? 'candidate' : 'no';
  if (i === targetStart || p[i] !== 0x20) return 'no';
  const v = version(p, i + 1);
  if (v === 'partial') return 'candidate';
  if (v === 'mismatch') return 'no';
  const end = i + 1 + HTTP1.length + 1;
  if (end >= p.length || (end + 1 === p.length && p[end] === 0x0d)) return 'candidate';
  if (indexOfCrlf(p, end) !== end) return 'no';
  return hitAt(ctx, SIG, METHOD_SIGS[m], d) ? 'line' : 'no';
}

/** RFC 9112 §4 status line: HTTP-version SP 3DIGIT SP ... */
export function statusLine(ctx: SearchContext, d: Dir, p: Uint8Array): DirState {
  const v = version(p, 0);
  if (v === 'partial') return 'candidate';
  if (v === 'mismatch') return 'no';
  const i = HTTP1.length + 1;
  for (let k = 0; k < 5; k++) {
    if (i + k >= p.length) return 'candidate';
    const c = p[i + k];
    const ok = k === 0 ? c === 0x20 : k <= 3 ? isDigit(c) : c === 0x20 || c === 0x0d;
    if (!ok) return 'no';
  }
  return hitAt(ctx, SIG, 'response', d) ? 'line' : 'no';
}

function direction(ctx: SearchContext, d: Dir): DirState {
  const p = ctx.prefix[d];
  if (p.length === 0) return 'empty';
  const tokens = anyPrefixState(p, [...METHOD_TOKENS, HTTP1]);
  if (tokens === 'partial') return 'candidate';
  if (tokens === 'mismatch') return 'no';
  return p[0] === 0x48 && prefixState(p, HTTP1) === 'match' ? statusLine(ctx, d, p) : requestLine(ctx, d, p);
}

/** HTTP/1.x dissector (RFC 9112; see the file header for when it claims a flow). */
export function search(ctx: SearchContext): SearchResult {
  const s: DirState[] = [direction(ctx, 0), direction(ctx, 1)];
  for (const d of [0, 1] as const) {
    if (s[d] !== 'line') continue;
    const o: Dir = d === 0 ? 1 : 0;
    if (headerBlockEnd(ctx.prefix[d]) >= 0 || ctx.packets[d] >= 2 || ctx.prefix[o].length > 0) return DETECTED;
  }
  if (s[0] === 'no' && s[1] === 'no') return EXCLUDED;
  return NEED_MORE;
}

export const http: AppDescriptor = {
  name: APP,
  title: 'HTTP',
  category: 'web',
  l4: ['tcp'],
  defaultPorts: { tcp: [80, 8080] },
  source: 'RFC 9112 (HTTP/1.1 message syntax), RFC 9110 methods',
  signatures: SIG.names,
  events: HTTP_WEIRDS,
  sessions: HTTP_SESSIONS,
  search,
  inspect: (events) => new HttpInspector(events),
};
