/**
 * MSN Messenger (MSNP, "MSN Messenger Service 1.0 Protocol", draft-movva-msn-messenger-protocol,
 * and later MSNP versions): line-based commands of three uppercase letters, a transaction id
 * (TrID) and arguments, ending with CRLF. A connection opens with `VER <trid> MSNP<n> ...`
 * (notification server), `USR <trid> ...` or `ANS <trid> ...` (switchboard); a capture that starts
 * after login sees whatever command comes next: presence (`CHG`, `ILN`, `NLN`, `FLN`, `UBX`,
 * `UUX`), lists (`SYN`, `LST`, `ADC`, `REM`, `BLP`, `PRP`), switchboard (`RNG`, `JOI`, `IRO`,
 * `CAL`, `BYE`, `MSG`), challenges (`CHL`, `QRY`) or keep-alives (`PNG`, `QNG`, `OUT`).
 *
 * Evidence is a command at a line start of a direction's stream, checked with its argument
 * structure (src/apps/msn/commands.ts), beginning at stream offset 0, where its literal signature
 * (rules/p2pgw.rules, named after the command in lowercase; `msnp` for the VER version token) must
 * have matched. A strong line detects; a weak keep-alive line (`PNG`, `QNG <s>`, `OUT`) needs a
 * further valid line in the same stream (after any payload the line announces) or a weak line
 * from the other side. A first line that is not MSNP excludes that direction.
 */
import type { AppDescriptor, Dir, SearchContext, SearchResult } from '../types.js';
import { DETECTED, EXCLUDED, NEED_MORE } from '../types.js';
import { ascii } from '../bytes.js';
import { anyPrefixState, hitAt, hitWithin, indexOfCrlf, sigNames, type DirState } from '../util.js';
import { payloadLength, validLine } from './commands.js';
import { MSN_WEIRDS, MsnChatInspector } from './inspect.js';
import { MSN as MSN_SESSIONS } from './session.js';

export { validLine } from './commands.js';

const APP = 'msn';
/** The commands recognised at stream offset 0, each by the signature named after it in lowercase. */
const COMMAND_SIGS = [
  'ver', 'usr', 'cvr', 'ans', 'xfr', 'msg', 'png', 'qng', 'chg', 'iln', 'nln', 'fln', 'ubx', 'uux', 'rng', 'syn', 'lst', 'adc',
  'rem', 'blp', 'prp', 'joi', 'iro', 'cal', 'bye', 'out', 'chl', 'qry',
] as const;
/** The literal signatures this dissector reads (rules/p2pgw.rules defines each). */
const SIG = sigNames(APP, [...COMMAND_SIGS, 'msnp']);
const TOKENS = COMMAND_SIGS.map((c) => ascii(c.toUpperCase()));
/** MSNP command lines are short; a longer line is not MSNP. */
const MAX_LINE = 1024;

/** Splits the MSNP command line [from, eol) (without CRLF) on single spaces, as MSNP separates parameters. */
export function lineTokens(p: Uint8Array, eol: number, from = 0): string[] {
  let s = '';
  for (let i = from; i < eol; i++) s += String.fromCharCode(p[i]);
  return s.split(' ');
}

/** One direction's evidence: DirState plus `weak` (a keep-alive line, not yet corroborated). */
export type MsnDirState = DirState | 'weak';

/** The first line (offset 0): its tokens and end, 'candidate' while incomplete, or 'no'. */
function firstLine(ctx: SearchContext, d: Dir): { t: string[]; eol: number } | 'candidate' | 'no' | 'empty' {
  const p = ctx.prefix[d];
  if (p.length === 0) return 'empty';
  const st = anyPrefixState(p, TOKENS);
  if (st === 'mismatch') return 'no';
  if (st === 'partial') return 'candidate';
  const eol = indexOfCrlf(p);
  if (eol < 0) return p.length < MAX_LINE ? 'candidate' : 'no';
  const t = lineTokens(p, eol);
  const sig = COMMAND_SIGS.find((c) => c.toUpperCase() === t[0]);
  if (sig === undefined || !hitAt(ctx, SIG, sig, d)) return 'no';
  if (t[0] === 'VER' && !hitWithin(ctx, SIG, 'msnp', d, 4, eol)) return 'no';
  return { t, eol };
}

/** After a weak first line: the next line start (past any payload) corroborates it or not. */
function nextLine(p: Uint8Array, off: number): MsnDirState {
  if (off >= p.length) return 'weak';
  const st = anyPrefixState(p, TOKENS, off);
  if (st === 'mismatch') return 'no';
  if (st === 'partial') return 'weak';
  const eol = indexOfCrlf(p, off);
  if (eol < 0) return p.length - off < MAX_LINE ? 'weak' : 'no';
  return validLine(lineTokens(p, eol, off)) !== null ? 'detected' : 'no';
}

/** State of one direction's stream (see the file header). */
export function tcpDirection(ctx: SearchContext, d: Dir): MsnDirState {
  const first = firstLine(ctx, d);
  if (typeof first === 'string') return first;
  const strength = validLine(first.t);
  if (strength === null) return 'no';
  if (strength === 'strong') return 'detected';
  return nextLine(ctx.prefix[d], first.eol + 2 + payloadLength(first.t));
}

/** MSNP dissector: a strong line from either side, or weak lines from both (see the file header). */
export function search(ctx: SearchContext): SearchResult {
  const s0 = tcpDirection(ctx, 0);
  const s1 = tcpDirection(ctx, 1);
  if (s0 === 'detected' || s1 === 'detected' || (s0 === 'weak' && s1 === 'weak')) return DETECTED;
  const done = (s: MsnDirState): boolean => s === 'no' || s === 'weak';
  if (done(s0) && done(s1)) return EXCLUDED;
  return NEED_MORE;
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
