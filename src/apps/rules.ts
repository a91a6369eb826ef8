/**
 * The rules loader: parses `rules/*.rules` (format documented in rules/README.md and at the top of
 * rules/p2pgw.rules), merges the files in name order and validates them against the dissector
 * registry, including that every signature name a dissector declares is defined. Every problem is
 * a `RulesError(file, line, problem)`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { RulesError } from '../core/errors.js';
import { DEFAULTS } from '../core/defaults.js';
import { fsReason, readRegularFile } from '../core/files.js';
import { APPS, appByName } from './registry.js';
import type { AppDescriptor } from './types.js';
import { hostPatternProblem } from './hostnames.js';

export type Action = 'allow' | 'block' | 'inspect';

export interface AppRule {
  name: string;
  mark: number;
  action: Action;
  file: string;
  line: number;
}

export interface SigRule {
  app: string;
  sig: string;
  /** `app.sig` */
  id: string;
  l4: 'tcp' | 'udp' | 'any';
  /** Required start offset of the match (stream offset for TCP, datagram offset for UDP); null = anywhere. */
  anchor: number | null;
  bytes: Uint8Array;
  nocase: boolean;
  /** 0 = out (initiator → responder), 1 = in, null = either. */
  dir: 0 | 1 | null;
  file: string;
  line: number;
}

/** What loadRules checks the rules against for one application: name, transports, declared signatures. */
export type KnownApp = Pick<AppDescriptor, 'name' | 'l4' | 'signatures'>;

/** `host <app> <name|*.suffix>`: host-name evidence (src/apps/hostnames.ts); `name` lowercase. */
export interface HostRule {
  app: string;
  name: string;
  file: string;
  line: number;
}

export interface RuleSet {
  apps: Map<string, AppRule>;
  sigs: SigRule[];
  /** Host-name evidence, in file order (names are unique across files). */
  hosts: HostRule[];
  files: string[];
}

/** `<package root>/rules`: resolves the same from src/apps/rules.ts and dist/apps/rules.js. */
export const DEFAULT_RULES_DIR: string = fileURLToPath(new URL('../../rules', import.meta.url));

const MARK_MAX = 0xfffe;
const ANCHOR_MAX = 0xffff;
const NAME_OK = (s: string): boolean => {
  if (s.length === 0 || s.length > 32) return false;
  const c0 = s.charCodeAt(0);
  if (c0 < 0x61 || c0 > 0x7a) return false;
  for (let i = 1; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const ok = (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x5f;
    if (!ok) return false;
  }
  return true;
};

/** One token; `quoted`: the decoded bytes of a quoted string. */
interface Token { text: string; quoted?: Uint8Array }

const HEXVAL = (c: number): number => {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1;
};

/** Splits one line into tokens; `#` outside a string starts a comment. */
function tokenize(src: string, file: string, line: number): Token[] {
  const out: Token[] = [];
  let i = 0;
  const n = src.length;
  while (i < n) {
    const c = src[i];
    if (c === ' ' || c === '\t' || c === '\r') {
      i++;
      continue;
    }
    if (c === '#') break;
    if (c === '"') {
      const bytes: number[] = [];
      let j = i + 1;
      let closed = false;
      while (j < n) {
        const d = src[j];
        if (d === '"') {
          closed = true;
          j++;
          break;
        }
        if (d === '\\') {
          const e = src[j + 1];
          if (e === undefined) break;
          switch (e) {
            case '\\': bytes.push(0x5c); j += 2; continue;
            case '"': bytes.push(0x22); j += 2; continue;
            case 'r': bytes.push(0x0d); j += 2; continue;
            case 'n': bytes.push(0x0a); j += 2; continue;
            case 't': bytes.push(0x09); j += 2; continue;
            case '0': bytes.push(0x00); j += 2; continue;
            case 'x': {
              const h1 = HEXVAL(src.charCodeAt(j + 2));
              const h2 = HEXVAL(src.charCodeAt(j + 3));
              if (h1 < 0 || h2 < 0 || j + 3 >= n) {
                throw new RulesError(file, line, `bad escape '\\x${src.slice(j + 2, j + 4)}' (expected \\xHH)`);
              }
              bytes.push(h1 * 16 + h2);
              j += 4;
              continue;
            }
            default:
              throw new RulesError(file, line, `bad escape '\\${e}' (expected \\\\ \\" \\xHH \\r \\n \\t \\0)`);
          }
        }
        const cp = src.codePointAt(j) ?? 0;
        const ch = String.fromCodePoint(cp);
        for (const b of Buffer.from(ch, 'utf8')) bytes.push(b);
        j += ch.length;
      }
      if (!closed) throw new RulesError(file, line, 'unterminated string');
      out.push({ text: src.slice(i, j), quoted: Uint8Array.from(bytes) });
      i = j;
      continue;
    }
    let j = i;
    while (j < n && src[j] !== ' ' && src[j] !== '\t' && src[j] !== '\r' && src[j] !== '#') j++;
    out.push({ text: src.slice(i, j) });
    i = j;
  }
  return out;
}

function parseNumber(s: string): number | null {
  if (s.length > 2 && (s.startsWith('0x') || s.startsWith('0X'))) {
    let v = 0;
    for (let i = 2; i < s.length; i++) {
      const h = HEXVAL(s.charCodeAt(i));
      if (h < 0) return null;
      v = v * 16 + h;
      if (v > 0xffffffff) return null;
    }
    return v;
  }
  if (s.length === 0 || s.length > 10) return null;
  let v = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return null;
    v = v * 10 + (c - 0x30);
  }
  return v;
}

function parsePattern(tok: Token, file: string, line: number): Uint8Array {
  if (tok.quoted) {
    if (tok.quoted.length === 0) throw new RulesError(file, line, 'empty pattern');
    return tok.quoted;
  }
  if (!tok.text.startsWith('hex:')) {
    throw new RulesError(file, line, `bad pattern '${tok.text}' (expected a "quoted string" or hex:BYTES)`);
  }
  const h = tok.text.slice(4);
  if (h.length === 0) throw new RulesError(file, line, 'empty pattern');
  for (let i = 0; i < h.length; i++) {
    if (HEXVAL(h.charCodeAt(i)) < 0) throw new RulesError(file, line, `invalid hex digit '${h[i]}' in pattern`);
  }
  if (h.length % 2 !== 0) throw new RulesError(file, line, `odd number of hex digits in pattern (${h.length})`);
  const out = new Uint8Array(h.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = HEXVAL(h.charCodeAt(2 * i)) * 16 + HEXVAL(h.charCodeAt(2 * i + 1));
  return out;
}

function need(toks: Token[], i: number, what: string, file: string, line: number): Token {
  const t = toks[i];
  if (!t) throw new RulesError(file, line, `missing field: ${what}`);
  return t;
}

function plain(t: Token, what: string, file: string, line: number): string {
  if (t.quoted) throw new RulesError(file, line, `${what} must not be a quoted string`);
  return t.text;
}

/** `app <name> mark <n> action <allow|block|inspect>` (tokens of one line). */
function parseAppLine(toks: Token[], file: string, line: number): AppRule {
  const name = plain(need(toks, 1, 'app name', file, line), 'app name', file, line);
  if (!NAME_OK(name)) throw new RulesError(file, line, `bad app name '${name}' (lowercase letters, digits, - and _)`);
  const mk = plain(need(toks, 2, "'mark'", file, line), "'mark'", file, line);
  if (mk !== 'mark') throw new RulesError(file, line, `expected 'mark', got '${mk}'`);
  const ns = plain(need(toks, 3, 'mark number', file, line), 'mark number', file, line);
  const mark = parseNumber(ns);
  if (mark === null || mark < 1 || mark > MARK_MAX) {
    throw new RulesError(file, line, `bad number '${ns}' for mark (expected 1..0xfffe, decimal or 0x hex)`);
  }
  const ak = plain(need(toks, 4, "'action'", file, line), "'action'", file, line);
  if (ak !== 'action') throw new RulesError(file, line, `expected 'action', got '${ak}'`);
  const act = plain(need(toks, 5, 'action', file, line), 'action', file, line);
  if (act !== 'allow' && act !== 'block' && act !== 'inspect') {
    throw new RulesError(file, line, `bad action '${act}' (expected allow, block or inspect)`);
  }
  if (toks[6]) throw new RulesError(file, line, `unknown option '${toks[6].text}'`);
  return { name, mark, action: act, file, line };
}

/** `sig <app> <signame> <tcp|udp|any> <@N|any> <pattern> [nocase] [dir=…]` (tokens of one line). */
function parseSigLine(toks: Token[], file: string, line: number): SigRule {
  const app = plain(need(toks, 1, 'app name', file, line), 'app name', file, line);
  if (!NAME_OK(app)) throw new RulesError(file, line, `bad app name '${app}' (lowercase letters, digits, - and _)`);
  const sig = plain(need(toks, 2, 'signature name', file, line), 'signature name', file, line);
  if (!NAME_OK(sig)) throw new RulesError(file, line, `bad signature name '${sig}' (lowercase letters, digits, - and _)`);
  const l4 = plain(need(toks, 3, 'l4 (tcp, udp or any)', file, line), 'l4', file, line);
  if (l4 !== 'tcp' && l4 !== 'udp' && l4 !== 'any') {
    throw new RulesError(file, line, `bad l4 '${l4}' (expected tcp, udp or any)`);
  }
  const an = plain(need(toks, 4, 'anchor (@N or any)', file, line), 'anchor', file, line);
  let anchor: number | null = null;
  if (an !== 'any') {
    const v = an.startsWith('@') ? parseNumber(an.slice(1)) : null;
    if (v === null || v > ANCHOR_MAX) {
      throw new RulesError(file, line, `bad number '${an}' for anchor (expected @N with N in 0..65535, or any)`);
    }
    anchor = v;
  }
  const bytes = parsePattern(need(toks, 5, 'pattern', file, line), file, line);
  let nocase = false;
  let dir: 0 | 1 | null = null;
  for (let k = 6; k < toks.length; k++) {
    const o = toks[k].text;
    if (o === 'nocase' && !toks[k].quoted) nocase = true;
    else if (o === 'dir=out') dir = 0;
    else if (o === 'dir=in') dir = 1;
    else if (o === 'dir=any') dir = null;
    else throw new RulesError(file, line, `unknown option '${o}' (expected nocase, dir=out, dir=in or dir=any)`);
  }
  return { app, sig, id: `${app}.${sig}`, l4, anchor, bytes, nocase, dir, file, line };
}

/** `host <app> <name|*.suffix>` (tokens of one line); the name is kept lowercase. */
function parseHostLine(toks: Token[], file: string, line: number): HostRule {
  const app = plain(need(toks, 1, 'app name', file, line), 'app name', file, line);
  if (!NAME_OK(app)) throw new RulesError(file, line, `bad app name '${app}' (lowercase letters, digits, - and _)`);
  const raw = plain(need(toks, 2, 'host name', file, line), 'host name', file, line);
  const problem = hostPatternProblem(raw);
  if (problem) throw new RulesError(file, line, `bad host name '${raw}' (${problem})`);
  if (toks[3]) throw new RulesError(file, line, `unknown option '${toks[3].text}'`);
  return { app, name: raw.toLowerCase(), file, line };
}

/**
 * Parses one rules file (syntax only: references between lines and files are checked by
 * `loadRules`). Line numbers in errors are 1-based.
 */
export function parseRules(text: string, file: string): { apps: AppRule[]; sigs: SigRule[]; hosts: HostRule[] } {
  const apps: AppRule[] = [];
  const sigs: SigRule[] = [];
  const hosts: HostRule[] = [];
  const lines = text.split('\n');
  for (let ln = 0; ln < lines.length; ln++) {
    const line = ln + 1;
    const toks = tokenize(lines[ln], file, line);
    if (toks.length === 0) continue;
    const kw = toks[0].text;
    if (kw === 'app') apps.push(parseAppLine(toks, file, line));
    else if (kw === 'sig') sigs.push(parseSigLine(toks, file, line));
    else if (kw === 'host') hosts.push(parseHostLine(toks, file, line));
    else throw new RulesError(file, line, `unknown keyword '${kw}' (expected app, sig or host)`);
  }
  return { apps, sigs, hosts };
}

const hex = (n: number): string => `0x${n.toString(16)}`;

/** `known` entries as descriptors: a name resolves through the registry (null = no dissector there). */
function resolveKnown(known: readonly (string | KnownApp)[]): Map<string, KnownApp | null> {
  const out = new Map<string, KnownApp | null>();
  for (const k of known) out.set(typeof k === 'string' ? k : k.name, typeof k === 'string' ? (appByName(k) ?? null) : k);
  return out;
}

/**
 * Reads every `*.rules` file of `dir` (sorted by name), merges and validates them: unique app
 * names and marks, every app has a dissector in `known`, every sig names an app declared by an
 * `app` line (in any file), is unique inside that app and uses a transport its dissector handles,
 * every name in `known` has an app line, and every signature name a known dissector declares
 * (`AppDescriptor.signatures`) is defined by a sig line.
 *
 * `known`: the applications the rules may name, as descriptors or as names (a name is looked up
 * in the registry; one it lacks has no transport or signature checks). Default: the registry.
 * @throws RulesError (code P2PGW_ERR_RULES) `file:line: problem` for the first problem found; a
 *   declared but undefined signature names the application's `app` line, e.g.
 *   `rules/p2pgw.rules:19: app 'bittorrent' declares signature 'handshake' but no rules file defines it (add a 'sig bittorrent handshake …' line)`
 */
export function loadRules(dir: string = DEFAULT_RULES_DIR, known: readonly (string | KnownApp)[] = APPS): RuleSet {
  const descs = resolveKnown(known);
  const names = [...descs.keys()];
  const files = rulesFiles(dir);
  const apps = new Map<string, AppRule>();
  const marks = new Map<number, AppRule>();
  const allSigs: SigRule[] = [];
  const allHosts: HostRule[] = [];
  for (const file of files) {
    const r = parseRules(readRegularFile(file, DEFAULTS.files.maxRulesBytes, (why) => new RulesError(file, 0, `cannot read rules file: ${why}`)).toString('utf8'), file);
    for (const a of r.apps) {
      const dup = apps.get(a.name);
      if (dup) throw new RulesError(a.file, a.line, `duplicate app '${a.name}' (first defined at ${dup.file}:${dup.line})`);
      const dm = marks.get(a.mark);
      if (dm) {
        throw new RulesError(a.file, a.line, `duplicate mark ${hex(a.mark)} (already used by '${dm.name}' at ${dm.file}:${dm.line})`);
      }
      if (!descs.has(a.name)) {
        throw new RulesError(a.file, a.line, `app '${a.name}' has no dissector (known: ${names.join(', ')})`);
      }
      apps.set(a.name, a);
      marks.set(a.mark, a);
    }
    allSigs.push(...r.sigs);
    allHosts.push(...r.hosts);
  }
  const seen = new Map<string, SigRule>();
  for (const s of allSigs) {
    if (!apps.has(s.app)) throw new RulesError(s.file, s.line, `sig for app '${s.app}' which has no app line`);
    const dup = seen.get(s.id);
    if (dup) throw new RulesError(s.file, s.line, `duplicate sig '${s.id}' (first defined at ${dup.file}:${dup.line})`);
    seen.set(s.id, s);
    const d = descs.get(s.app);
    if (d && s.l4 !== 'any' && !d.l4.includes(s.l4)) {
      throw new RulesError(s.file, s.line, `sig '${s.id}' is ${s.l4} but the ${s.app} dissector only handles ${d.l4.join(', ')}`);
    }
  }
  for (const k of names) {
    if (!apps.has(k)) throw new RulesError(dir, 0, `no app line for '${k}' in any rules file (every application needs one)`);
  }
  checkDeclared(descs, apps, seen);
  checkHosts(allHosts, apps);
  return { apps, sigs: allSigs, hosts: allHosts, files };
}

/** The `*.rules` files of `dir`, sorted by name. */
function rulesFiles(dir: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir).filter((f) => f.endsWith('.rules')).sort();
  } catch (err) {
    throw new RulesError(dir, 0, `cannot read rules directory: ${fsReason(err)}`);
  }
  if (names.length === 0) throw new RulesError(dir, 0, 'no *.rules files in the rules directory');
  return names.map((f) => path.join(dir, f));
}

/**
 * Every signature a known dissector declares must be defined (else its check would silently never
 * match): the error points at the application's `app` line and lists the missing names.
 */
function checkDeclared(descs: Map<string, KnownApp | null>, apps: Map<string, AppRule>, sigs: Map<string, SigRule>): void {
  for (const [name, d] of descs) {
    if (!d) continue;
    const missing = d.signatures.filter((sig) => !sigs.has(`${name}.${sig}`));
    if (missing.length === 0) continue;
    const a = apps.get(name)!;
    const list = missing.map((m) => `'${m}'`).join(', ');
    const what = missing.length === 1 ? `signature ${list}` : `signatures ${list}`;
    throw new RulesError(
      a.file,
      a.line,
      `app '${name}' declares ${what} but no rules file defines ${missing.length === 1 ? 'it' : 'them'} (add a 'sig ${name} ${missing[0]} …' line)`,
    );
  }
}

/** Every `host` line names an application with an `app` line, and no name is listed twice. */
function checkHosts(hosts: readonly HostRule[], apps: Map<string, AppRule>): void {
  const seen = new Map<string, HostRule>();
  for (const h of hosts) {
    if (!apps.has(h.app)) throw new RulesError(h.file, h.line, `host for app '${h.app}' which has no app line`);
    const dup = seen.get(h.name);
    if (dup) throw new RulesError(h.file, h.line, `duplicate host '${h.name}' (first defined at ${dup.file}:${dup.line} for '${dup.app}')`);
    seen.set(h.name, h);
  }
}
