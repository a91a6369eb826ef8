/**
 * MSNFTP, the MSN Messenger file-transfer protocol: after an MSNP invitation the receiver connects
 * to the sender and both open with `VER MSNFTP\r\n` (older clients) or `VER <trid> MSNFTP\r\n`,
 * followed by `USR <email> <cookie>`, `FIL <size>`, `TFR`, binary blocks and `BYE`.
 *
 * Literal signatures (rules/p2pgw.rules): `ver` (command at offset 0) and `msnftp` (the protocol
 * token). Registered before `msn`, whose VER line must name an MSNP version.
 */
import type { AppDescriptor, Dir, SearchContext, SearchResult } from '../types.js';
import { ascii } from '../bytes.js';
import { digitRun, hitAt, hitWithin, indexOfCrlf, prefixState, eitherDirection, sigNames, type DirState } from '../util.js';
import { MSNFTP_WEIRDS, MsnftpInspector } from './inspect.js';
import { MSNFTP as MSNFTP_SESSIONS } from './session.js';

const APP = 'msnftp';
/** The literal signatures this dissector reads (rules/p2pgw.rules defines each). */
const SIG = sigNames(APP, ['ver', 'msnftp']);
const VER = ascii('VER ');
const MSNFTP = ascii('MSNFTP');
const MAX_LINE = 64;


/** `VER MSNFTP` or `VER <digits> MSNFTP`, exactly, as the first line of direction `d`. */
export function tcpDirection(ctx: SearchContext, d: Dir): DirState {
  const p = ctx.prefix[d];
  if (p.length === 0) return 'empty';
  const v = prefixState(p, VER);
  if (v === 'partial') return 'candidate';
  if (v === 'mismatch') return 'no';
  const eol = indexOfCrlf(p);
  if (eol < 0) return p.length < MAX_LINE ? 'candidate' : 'no';
  let off = VER.length;
  const n = digitRun(p, off);
  if (n > 0) {
    if (p[off + n] !== 0x20) return 'no';
    off += n + 1;
  }
  if (eol !== off + MSNFTP.length || prefixState(p, MSNFTP, off) !== 'match') return 'no';
  return hitAt(ctx, SIG, 'ver', d) && hitWithin(ctx, SIG, 'msnftp', d, off, off + 1) ? 'detected' : 'no';
}

/** MSNFTP dissector (MSN Messenger file transfer; see the file header). */
export function search(ctx: SearchContext): SearchResult {
  return eitherDirection(ctx, tcpDirection);
}

export const msnftp: AppDescriptor = {
  name: APP,
  title: 'MSN file transfer (MSNFTP)',
  category: 'im',
  l4: ['tcp'],
  defaultPorts: { tcp: [6891] },
  source: 'MSNFTP (MSN Messenger file transfer, VER MSNFTP / USR / FIL / TFR)',
  signatures: SIG.names,
  events: MSNFTP_WEIRDS,
  sessions: MSNFTP_SESSIONS,
  search,
  inspect: (events) => new MsnftpInspector(events),
};
