/**
 * MSN Messenger (MSNP, "MSN Messenger Service 1.0 Protocol", draft-movva-msn-messenger-protocol,
 * and later MSNP versions): line-based commands of three uppercase letters, a transaction id
 * (TrID) and arguments, ending with CRLF. A connection opens with `VER <trid> MSNP<n> ...`
 * (notification server), `USR <trid> ...` or `ANS <trid> ...` (switchboard), and servers answer
 * in kind; `CVR`, `XFR` and `MSG` lines are also recognised when a capture starts later.
 *
 * Literal signatures (rules/p2pgw.rules): the command at offset 0 (`ver`, `usr`, `cvr`, `ans`,
 * `xfr`, `msg`) and `msnp` (a protocol version token).
 */
import type { AppDescriptor, Dir, SearchContext, SearchResult } from '../types.js';
import { DETECTED, EXCLUDED, NEED_MORE } from '../types.js';
import { ascii } from '../bytes.js';
import { anyPrefixState, digitRun, hitAt, hitWithin, indexOfCrlf, isDigit, isUpper, eitherDirection, sigNames, type DirState } from '../util.js';
import { MSN_WEIRDS, MsnChatInspector } from './inspect.js';
import { MSN as MSN_SESSIONS } from './session.js';

const APP = 'msn';
/** The first-line commands recognised, each by the signature named after it in lowercase (`ver` = "VER "). */
const COMMAND_SIGS = ['ver', 'usr', 'cvr', 'ans', 'xfr', 'msg'] as const;
/** The literal signatures this dissector reads (rules/p2pgw.rules defines each). */
const SIG = sigNames(APP, [...COMMAND_SIGS, 'msnp']);
const TOKENS = COMMAND_SIGS.map((c) => ascii(`${c.toUpperCase()} `));
/** MSNP command lines are short; a longer first line is not MSNP. */
const MAX_LINE = 1024;


/** Splits an MSNP command line (without CRLF) on single spaces, as MSNP separates parameters. */
export function lineTokens(p: Uint8Array, eol: number): string[] {
  let s = '';
  for (let i = 0; i < eol; i++) s += String.fromCharCode(p[i]);
  return s.split(' ');
}

const allDigits = (s: string): boolean => s.length > 0 && s.length <= 10 && digitRun(ascii(s), 0) === s.length;
const isMsnp = (s: string): boolean => s.length > 4 && s.startsWith('MSNP') && allDigits(s.slice(4));
const isProtoToken = (s: string): boolean => {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (!isUpper(c) && !isDigit(c)) return false;
  }
  return true;
};

/**
 * Validates a complete MSNP first line by command: VER lists protocol names including
 * `MSNP<n>` (not MSNFTP), USR/CVR/ANS/XFR carry a numeric TrID and their arguments, MSG is either
 * the client form `MSG <trid> <U|N|A|D> <length>` or the server form `MSG <email> <nick> <length>`.
 */
export function validLine(t: string[]): boolean {
  const [cmd, trid] = t;
  switch (cmd) {
    case 'VER':
      return allDigits(trid ?? '') && t.length >= 3 && t.slice(2).every(isProtoToken) && t.slice(2).some(isMsnp);
    case 'USR':
    case 'CVR':
      return allDigits(trid ?? '') && t.length >= 4;
    case 'ANS':
      return allDigits(trid ?? '') && t.length >= 5;
    case 'XFR':
      return allDigits(trid ?? '') && t.length >= 4 && (t[2] === 'NS' || t[2] === 'SB');
    case 'MSG':
      return t.length === 4 && allDigits(t[3]) && (allDigits(trid ?? '') ? ['U', 'N', 'A', 'D'].includes(t[2]) : t[1].includes('@'));
    default:
      return false;
  }
}

/** State of one direction's stream: its first line must be an MSNP command (MSNP §"Commands"). */
export function tcpDirection(ctx: SearchContext, d: Dir): DirState {
  const p = ctx.prefix[d];
  if (p.length === 0) return 'empty';
  const st = anyPrefixState(p, TOKENS);
  if (st === 'mismatch') return 'no';
  if (st === 'partial') return 'candidate';
  const eol = indexOfCrlf(p);
  if (eol < 0) return p.length < MAX_LINE ? 'candidate' : 'no';
  const t = lineTokens(p, eol);
  if (!validLine(t)) return 'no';
  const sig = COMMAND_SIGS.find((c) => c.toUpperCase() === t[0]);
  if (sig === undefined || !hitAt(ctx, SIG, sig, d)) return 'no';
  if (t[0] === 'VER' && !hitWithin(ctx, SIG, 'msnp', d, 4, eol)) return 'no';
  return 'detected';
}

/** MSNP dissector (MSN Messenger protocol; see the file header). */
export function search(ctx: SearchContext): SearchResult {
  return eitherDirection(ctx, tcpDirection);
}

export const msn: AppDescriptor = {
  name: APP,
  title: 'MSN Messenger',
  category: 'im',
  l4: ['tcp'],
  defaultPorts: { tcp: [1863] },
  source: 'MSNP (draft-movva-msn-messenger-protocol-00 and later MSNP versions)',
  signatures: SIG.names,
  events: MSN_WEIRDS,
  sessions: MSN_SESSIONS,
  search,
  inspect: (events) => new MsnChatInspector(events),
};
