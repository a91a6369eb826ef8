/**
 * FastTrack (Kazaa, Grokster, iMesh): file transfers are HTTP/1.1 (RFC 9112) with FastTrack's own
 * request target `GET /.hash=<hex UUHash>` and `X-Kazaa-*` header fields (X-Kazaa-Username,
 * X-Kazaa-Network, X-Kazaa-IP, ...) in requests and responses; firewalled peers answer a push
 * with `GIVE <number>\r\n`.
 *
 * Literal signatures (rules/p2pgw.rules): `get-hash`, `x-kazaa`, `give`.
 */
import type { AppDescriptor, Dir, SearchContext, SearchResult } from '../types.js';
import { ascii } from '../bytes.js';
import { digitRun, headerBlockEnd, hitAt, hitWithin, isUpper, prefixState, eitherDirection, sigNames, type DirState } from '../util.js';
import { FASTTRACK_WEIRDS, FastTrackInspector } from './inspect.js';
import { FASTTRACK } from './session.js';

const APP = 'fasttrack';
/** The literal signatures this dissector reads (rules/p2pgw.rules defines each). */
const SIG = sigNames(APP, ['get-hash', 'x-kazaa', 'give']);
const GIVE = ascii('GIVE ');
const MAX_HEADER = 2048;


/**
 * First line looks like an RFC 9112 request or status line: `HTTP/` (status line), or an uppercase
 * method token then SP. Once the line is complete (CRLF seen), a request line must end with
 * ` HTTP/<d>.<d>` (RFC 9112 §3), so other line protocols that start with an uppercase command
 * (MSNP `USR 1 …`, FTP, SMTP) are excluded at once instead of waiting for a header section.
 */
function httpStart(p: Uint8Array): 'yes' | 'partial' | 'no' {
  const h = prefixState(p, ascii('HTTP/'));
  if (h !== 'mismatch') return h === 'match' ? 'yes' : 'partial';
  let i = 0;
  while (i < p.length && i < 16 && isUpper(p[i])) i++;
  if (i === p.length) return 'partial';
  if (i === 0 || p[i] !== 0x20) return 'no';
  const eol = p.indexOf(0x0d);
  if (eol < 0) return 'yes';
  const v = eol - 9; // " HTTP/1.1" is 9 bytes
  const isVersion = v > i && p[v] === 0x20 && prefixState(p.subarray(v + 1, eol), ascii('HTTP/')) === 'match' &&
    p[eol - 3] >= 0x30 && p[eol - 3] <= 0x39 && p[eol - 2] === 0x2e && p[eol - 1] >= 0x30 && p[eol - 1] <= 0x39;
  return isVersion ? 'yes' : 'no';
}

/**
 * One direction of a FastTrack transfer: `GET /.hash=` request at offset 0, `GIVE <n>\r\n` push
 * answer, or any HTTP message whose header section carries an `X-Kazaa-` field.
 */
export function tcpDirection(ctx: SearchContext, d: Dir): DirState {
  const p = ctx.prefix[d];
  if (p.length === 0) return 'empty';
  if (hitAt(ctx, SIG, 'get-hash', d)) return 'detected';
  const g = prefixState(p, GIVE);
  if (g === 'partial') return 'candidate';
  if (g === 'match') {
    const n = digitRun(p, GIVE.length);
    const eol = GIVE.length + n;
    if (eol === p.length) return 'candidate';
    if (n === 0 || p[eol] !== 0x0d) return 'no';
    if (eol + 1 === p.length) return 'candidate';
    return p[eol + 1] === 0x0a && hitAt(ctx, SIG, 'give', d) ? 'detected' : 'no';
  }
  const h = httpStart(p);
  if (h === 'partial') return 'candidate';
  if (h === 'no') return 'no';
  const end = headerBlockEnd(p);
  // A field's leading CRLF starts before the CRLF of the empty line that ends the section.
  if (hitWithin(ctx, SIG, 'x-kazaa', d, 0, end < 0 ? p.length : end - 2)) return 'detected';
  return end < 0 && p.length < MAX_HEADER ? 'candidate' : 'no';
}

/** FastTrack dissector (FastTrack/Kazaa HTTP transfers; see the file header). */
export function search(ctx: SearchContext): SearchResult {
  return eitherDirection(ctx, tcpDirection);
}

export const fasttrack: AppDescriptor = {
  name: APP,
  title: 'FastTrack (Kazaa)',
  category: 'p2p',
  l4: ['tcp'],
  defaultPorts: { tcp: [1214] },
  source: 'FastTrack/Kazaa HTTP transfers (GET /.hash=, X-Kazaa- headers, GIVE push)',
  signatures: SIG.names,
  events: FASTTRACK_WEIRDS,
  sessions: FASTTRACK,
  search,
  inspect: (events) => new FastTrackInspector(events),
};
