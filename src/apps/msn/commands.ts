/**
 * MSNP command lines and their argument structure (MSN Messenger Service 1.0 Protocol,
 * draft-movva-msn-messenger-protocol-00 §7–§8, and the later MSNP versions' commands as documented
 * by the client projects that implemented them). A command is three uppercase letters, usually a
 * numeric transaction id (TrID), then arguments separated by single spaces, ending with CRLF.
 *
 * `validLine` checks one complete line (tokens, without CRLF): the command and the shape of its
 * arguments, not just its three letters. Commands are `strong` (their arguments alone make the
 * line MSNP: an e-mail address, a status code, a list name, `CKI`, a version list) or `weak`
 * (`PNG`, `QNG <seconds>`, `OUT [reason]`: short keep-alive/close lines that need a second MSNP
 * line on the stream or from the other side). `payloadLength` tells how many payload bytes follow
 * the line (MSG, UBX, UUX, QRY, NOT, GCF carry a length as their last argument).
 */
import { ascii } from '../bytes.js';
import { digitRun, isDigit, isUpper } from '../util.js';

/** Strength of a valid line as evidence (see the file header). */
export type LineStrength = 'strong' | 'weak';

const allDigits = (s: string | undefined): boolean => !!s && s.length <= 10 && digitRun(ascii(s), 0) === s.length;
const isMsnp = (s: string): boolean => s.length > 4 && s.startsWith('MSNP') && allDigits(s.slice(4));
const isProtoToken = (s: string): boolean => {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) if (!isUpper(s.charCodeAt(i)) && !isDigit(s.charCodeAt(i))) return false;
  return true;
};
/** A passport (e-mail) address: `local@domain` with a dot in the domain. */
const isEmail = (s: string | undefined): boolean => {
  if (!s || s.length > 320) return false;
  const at = s.indexOf('@');
  return at > 0 && s.indexOf('.', at) > at + 1 && !s.endsWith('.');
};
/** MSNP presence codes (CHG, ILN, NLN). */
const STATUS = new Set(['NLN', 'BSY', 'IDL', 'BRB', 'AWY', 'PHN', 'LUN', 'HDN', 'FLN']);
/** Contact lists (ADC, REM, LST): forward, allow, block, reverse, pending. */
const LISTS = new Set(['FL', 'AL', 'BL', 'RL', 'PL']);
/** User properties (PRP, BPR): names and phone numbers, mobile settings. */
const PROPS = new Set(['MFN', 'PHH', 'PHW', 'PHM', 'MOB', 'MBE', 'WWE', 'HSB']);
const isHostPort = (s: string | undefined): boolean => {
  if (!s) return false;
  const c = s.lastIndexOf(':');
  return c > 0 && allDigits(s.slice(c + 1));
};

/** Session/login commands (VER, USR, CVR, ANS, XFR, MSG): the checks the first MSNP dissector made. */
function sessionLine(t: readonly string[]): boolean {
  const [cmd, trid] = t;
  switch (cmd) {
    case 'VER':
      return allDigits(trid) && t.length >= 3 && t.slice(2).every(isProtoToken) && t.slice(2).some(isMsnp);
    case 'USR':
    case 'CVR':
      return allDigits(trid) && t.length >= 4;
    case 'ANS':
      return allDigits(trid) && t.length >= 5;
    case 'XFR':
      return allDigits(trid) && t.length >= 4 && (t[2] === 'NS' || t[2] === 'SB');
    case 'MSG':
      return t.length === 4 && allDigits(t[3]) && (allDigits(trid) ? ['U', 'N', 'A', 'D'].includes(t[2]) : isEmail(t[1]));
    default:
      return false;
  }
}

/** Presence commands: CHG, ILN, NLN, FLN, UBX, UUX. */
function presenceLine(t: readonly string[]): boolean {
  switch (t[0]) {
    case 'CHG': // CHG <trid> <status> [<clientid> [<msnobject>]]
      return allDigits(t[1]) && STATUS.has(t[2]) && t.length <= 5;
    case 'ILN': // ILN <trid> <status> <email> [<network>] <nick> ...
      return allDigits(t[1]) && STATUS.has(t[2]) && isEmail(t[3]) && t.length >= 5;
    case 'NLN': // NLN <status> <email> [<network>] <nick> ...
      return STATUS.has(t[1]) && isEmail(t[2]) && t.length >= 4;
    case 'FLN': // FLN <email> [<network> [...]]
      return isEmail(t[1]) && t.length <= 4;
    case 'UBX': // UBX <email> [<network>] <length>
      return isEmail(t[1]) && (t.length === 3 || t.length === 4) && allDigits(t[t.length - 1]);
    case 'UUX': // UUX <trid> <length>
      return t.length === 3 && allDigits(t[1]) && allDigits(t[2]);
    default:
      return false;
  }
}

/** Contact-list and switchboard commands: SYN, LST, ADC, REM, BLP, PRP, RNG, JOI, IRO, CAL, BYE. */
function listLine(t: readonly string[]): boolean {
  switch (t[0]) {
    case 'SYN': // SYN <trid> <version> [<version2> <contacts> <groups>]
      return allDigits(t[1]) && t.length >= 3 && t.length <= 6 && t.slice(2).every((x) => x.length > 0 && x.length <= 40);
    case 'LST': // LST <email> <nick> <lists> (MSNP8) or LST N=<email> F=<nick> C=<guid> <lists>
      return t.length >= 3 && (isEmail(t[1]) || (t[1].startsWith('N=') && isEmail(t[1].slice(2))));
    case 'ADC': // ADC <trid> <list> N=<email> [F=<nick>] or C=<guid>
      return allDigits(t[1]) && LISTS.has(t[2]) && t.length >= 4 && (t[3].startsWith('N=') || t[3].startsWith('C='));
    case 'REM': // REM <trid> <list> <email|guid> [<group>]
      return allDigits(t[1]) && LISTS.has(t[2]) && t.length >= 4 && t.length <= 5;
    case 'BLP': // BLP <trid> <AL|BL> (client), BLP <trid> <version> <AL|BL> or BLP <AL|BL> (sync)
      return t.length <= 4 && ((allDigits(t[1]) && (t[2] === 'AL' || t[2] === 'BL' || t[3] === 'AL' || t[3] === 'BL')) || (t.length === 2 && (t[1] === 'AL' || t[1] === 'BL')));
    case 'PRP': // PRP <trid> <property> <value> or PRP <property> <value> (sync)
      return t.length >= 3 && (PROPS.has(t[1]) || (allDigits(t[1]) && PROPS.has(t[2])));
    case 'RNG': // RNG <sessionid> <host:port> CKI <auth> <email> <nick> ...
      return allDigits(t[1]) && isHostPort(t[2]) && t[3] === 'CKI' && t.length >= 6 && isEmail(t[5]);
    case 'JOI': // JOI <email> <nick> [<clientid>]
      return isEmail(t[1]) && t.length >= 3 && t.length <= 4;
    case 'IRO': // IRO <trid> <n> <total> <email> <nick> [<clientid>]
      return allDigits(t[1]) && allDigits(t[2]) && allDigits(t[3]) && isEmail(t[4]) && t.length >= 6;
    case 'CAL': // CAL <trid> <email> (client) or CAL <trid> RINGING <sessionid> (server)
      return allDigits(t[1]) && t.length >= 3 && t.length <= 4 && (isEmail(t[2]) || (t[2] === 'RINGING' && allDigits(t[3])));
    case 'BYE': // BYE <email> [1]
      return isEmail(t[1]) && t.length <= 3;
    default:
      return false;
  }
}

/** Keep-alive and challenge commands: PNG, QNG, OUT (weak), CHL, QRY (strong). */
function keepAliveLine(t: readonly string[]): LineStrength | null {
  switch (t[0]) {
    case 'PNG': // PNG (client, no TrID)
      return t.length === 1 ? 'weak' : null;
    case 'QNG': // QNG (MSNP2–8) or QNG <seconds to next ping> (MSNP9+)
      return t.length === 1 || (t.length === 2 && allDigits(t[1]) && t[1].length <= 5) ? 'weak' : null;
    case 'OUT': // OUT or OUT <OTH|SSD|MIG>
      return t.length === 1 || (t.length === 2 && ['OTH', 'SSD', 'MIG', 'RCT', 'TOU'].includes(t[1])) ? 'weak' : null;
    case 'CHL': // CHL 0 <challenge digits>
      return t.length === 3 && t[1] === '0' && t[2].length >= 8 && allDigits(t[2].slice(0, 10)) ? 'strong' : null;
    case 'QRY': // QRY <trid> <product id> 32, then the 32-byte response
      return t.length === 4 && allDigits(t[1]) && t[2].length >= 8 && t[3] === '32' ? 'strong' : null;
    default:
      return null;
  }
}

/**
 * Checks one complete MSNP command line (tokens split on single spaces): the command and its
 * argument structure. Returns the line's strength as evidence, or null when it is not MSNP.
 */
export function validLine(t: readonly string[]): LineStrength | null {
  if (t.length === 0 || t[0].length !== 3) return null;
  if (sessionLine(t) || presenceLine(t) || listLine(t)) return 'strong';
  return keepAliveLine(t);
}

/** Commands whose last argument is the length of a payload that follows the CRLF. */
const PAYLOAD_CMDS = new Set(['MSG', 'UBX', 'UUX', 'GCF', 'NOT', 'ADL', 'RML', 'UUN', 'UBN']);

/** Bytes of payload following line `t` (0 when it has none); QRY's response is 32 bytes. */
export function payloadLength(t: readonly string[]): number {
  if (t[0] === 'QRY') return 32;
  if (!PAYLOAD_CMDS.has(t[0])) return 0;
  const last = t[t.length - 1];
  return allDigits(last) ? Number(last) : 0;
}
