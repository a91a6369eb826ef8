import { afterAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DEFAULT_RULES_DIR, loadRules, parseRules, type KnownApp } from '../../src/apps/rules.js';
import { APPS, appByName } from '../../src/apps/registry.js';
import { RulesError, ErrorCodes } from '../../src/core/errors.js';
import { ROOT } from '../helpers/paths.js';
import { errorOf } from '../helpers/errors.js';

const F = 'test.rules';

/** Applications assigned by the host heuristics only (no signatures). */
const HEURISTIC_ONLY = ['p2p'];
/**
 * Signatures defined in rules/p2pgw.rules for a dissector change not yet made (issue 12: BEP 14 LSD
 * and BEP 15 later messages, src/apps/bittorrent/detect.ts). Remove each id once the dissector
 * declares it; until then its sig line is accepted and has no effect.
 */

/** The RulesError thrown by `fn` (fails the test if none). */
const rulesError = (fn: () => unknown): RulesError => errorOf(fn, RulesError);

const parseErr = (text: string): string => rulesError(() => parseRules(text, F)).message;

const made: string[] = [];
afterAll(() => {
  for (const d of made) fs.rmSync(d, { recursive: true, force: true });
});

/** A temporary rules directory holding `files` (removed after the tests). */
function dir(files: Record<string, string>): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'p2pgw-rules-'));
  made.push(d);
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(d, name), text);
  return d;
}

const KNOWN = ['alpha', 'beta'];
const BASE = 'app alpha mark 1 action allow\napp beta mark 2 action block\n';

describe('parseRules: syntax', () => {
  it('parses app and sig lines, comments, blank lines, escapes, hex and options', () => {
    const r = parseRules(
      [
        '# header comment',
        '',
        'app alpha mark 0x10 action inspect   # trailing comment',
        'sig alpha one tcp @0 "\\x13Bit\\r\\n\\t\\0\\\\\\"#x" nocase dir=in',
        'sig alpha two udp any hex:E3ff00',
        'sig alpha three any @12 "a b" dir=out',
        'sig alpha four tcp any "z" dir=any',
      ].join('\n'),
      F,
    );
    expect(r.apps).toEqual([{ name: 'alpha', mark: 16, action: 'inspect', file: F, line: 3 }]);
    expect(r.sigs).toHaveLength(4);
    const [one, two, three, four] = r.sigs;
    expect(one).toMatchObject({ app: 'alpha', sig: 'one', id: 'alpha.one', l4: 'tcp', anchor: 0, nocase: true, dir: 1, line: 4 });
    expect(Array.from(one.bytes)).toEqual([0x13, 0x42, 0x69, 0x74, 0x0d, 0x0a, 0x09, 0x00, 0x5c, 0x22, 0x23, 0x78]);
    expect(two).toMatchObject({ l4: 'udp', anchor: null, nocase: false, dir: null });
    expect(Array.from(two.bytes)).toEqual([0xe3, 0xff, 0x00]);
    expect(three).toMatchObject({ l4: 'any', anchor: 12, dir: 0 });
    expect(Array.from(three.bytes)).toEqual([0x61, 0x20, 0x62]);
    expect(four.dir).toBeNull();
  });

  it('accepts decimal and hex marks at both ends of the range', () => {
    expect(parseRules('app a mark 1 action allow', F).apps[0].mark).toBe(1);
    expect(parseRules('app a mark 0xfffe action allow', F).apps[0].mark).toBe(0xfffe);
    expect(parseRules('app a mark 65534 action allow', F).apps[0].mark).toBe(0xfffe);
  });

  it('carries the stable error code', () => {
    const e = rulesError(() => parseRules('bogus', F));
    expect(e.code).toBe(ErrorCodes.P2PGW_ERR_RULES);
    expect(e.file).toBe(F);
    expect(e.line).toBe(1);
  });

  const cases: [string, string, string][] = [
    ['unknown keyword', '\n\nrule alpha', "test.rules:3: unknown keyword 'rule' (expected app, sig or host)"],
    ['missing field (app mark)', 'app alpha', "test.rules:1: missing field: 'mark'"],
    ['missing field (app action value)', 'app alpha mark 1 action', 'test.rules:1: missing field: action'],
    ['missing field (sig pattern)', 'sig alpha one tcp @0', 'test.rules:1: missing field: pattern'],
    ['missing field (sig anchor)', 'sig alpha one tcp', 'test.rules:1: missing field: anchor (@N or any)'],
    ['bad number (mark not a number)', 'app alpha mark x1 action allow', "test.rules:1: bad number 'x1' for mark (expected 1..0xfffe, decimal or 0x hex)"],
    ['bad number (mark 0)', 'app alpha mark 0 action allow', "test.rules:1: bad number '0' for mark (expected 1..0xfffe, decimal or 0x hex)"],
    ['bad number (mark too big)', 'app alpha mark 0xffff action allow', "test.rules:1: bad number '0xffff' for mark (expected 1..0xfffe, decimal or 0x hex)"],
    ['bad number (anchor)', 'sig alpha one tcp @x "a"', "test.rules:1: bad number '@x' for anchor (expected @N with N in 0..65535, or any)"],
    ['bad action', 'app alpha mark 1 action drop', "test.rules:1: bad action 'drop' (expected allow, block or inspect)"],
    ['bad l4', 'sig alpha one sctp @0 "a"', "test.rules:1: bad l4 'sctp' (expected tcp, udp or any)"],
    ['unterminated string', 'sig alpha one tcp @0 "abc', 'test.rules:1: unterminated string'],
    ['unterminated string (escaped quote)', 'sig alpha one tcp @0 "abc\\"', 'test.rules:1: unterminated string'],
    ['bad escape', 'sig alpha one tcp @0 "a\\qb"', "test.rules:1: bad escape '\\q' (expected \\\\ \\\" \\xHH \\r \\n \\t \\0)"],
    ['bad escape (\\x)', 'sig alpha one tcp @0 "a\\xZZ"', "test.rules:1: bad escape '\\xZZ' (expected \\xHH)"],
    ['odd hex', 'sig alpha one tcp @0 hex:abc', 'test.rules:1: odd number of hex digits in pattern (3)'],
    ['invalid hex', 'sig alpha one tcp @0 hex:zz', "test.rules:1: invalid hex digit 'z' in pattern"],
    ['empty pattern (string)', 'sig alpha one tcp @0 ""', 'test.rules:1: empty pattern'],
    ['empty pattern (hex)', 'sig alpha one tcp @0 hex:', 'test.rules:1: empty pattern'],
    ['unknown option', 'sig alpha one tcp @0 "a" fast', "test.rules:1: unknown option 'fast' (expected nocase, dir=out, dir=in or dir=any)"],
    ['unknown option (bad dir)', 'sig alpha one tcp @0 "a" dir=up', "test.rules:1: unknown option 'dir=up' (expected nocase, dir=out, dir=in or dir=any)"],
    ['unknown option (app line)', 'app alpha mark 1 action allow now', "test.rules:1: unknown option 'now'"],
    ['bad app name', 'app Alpha mark 1 action allow', "test.rules:1: bad app name 'Alpha' (lowercase letters, digits, - and _)"],
    ['bad pattern form', 'sig alpha one tcp @0 abc', 'test.rules:1: bad pattern \'abc\' (expected a "quoted string" or hex:BYTES)'],
  ];
  for (const [name, text, msg] of cases) {
    it(`reports ${name}`, () => expect(parseErr(text)).toBe(msg));
  }
});

describe('loadRules: merge and validation', () => {
  it('loads files sorted by name and merges them', () => {
    const d = dir({ 'b.rules': 'sig alpha one tcp @0 "x"\n', 'a.rules': BASE, 'ignored.txt': 'garbage' });
    const r = loadRules(d, KNOWN);
    expect(r.files).toEqual([path.join(d, 'a.rules'), path.join(d, 'b.rules')]);
    expect([...r.apps.keys()]).toEqual(['alpha', 'beta']);
    expect(r.sigs.map((s) => s.id)).toEqual(['alpha.one']);
  });

  it('reports a duplicate mark at the second app line', () => {
    const d = dir({ 'a.rules': BASE, 'b.rules': '\napp gamma mark 0x2 action allow\n' });
    expect(rulesError(() => loadRules(d, [...KNOWN, 'gamma'])).message).toBe(
      `${path.join(d, 'b.rules')}:2: duplicate mark 0x2 (already used by 'beta' at ${path.join(d, 'a.rules')}:2)`,
    );
  });

  it('reports a duplicate app', () => {
    const d = dir({ 'a.rules': BASE + 'app alpha mark 3 action allow\n' });
    const f = path.join(d, 'a.rules');
    expect(rulesError(() => loadRules(d, KNOWN)).message).toBe(`${f}:3: duplicate app 'alpha' (first defined at ${f}:1)`);
  });

  it('reports a duplicate sig name within an app, across files', () => {
    const d = dir({ 'a.rules': BASE + 'sig alpha one tcp @0 "x"\n', 'b.rules': 'sig beta one tcp @0 "x"\nsig alpha one udp any "y"\n' });
    expect(rulesError(() => loadRules(d, KNOWN)).message).toBe(
      `${path.join(d, 'b.rules')}:2: duplicate sig 'alpha.one' (first defined at ${path.join(d, 'a.rules')}:3)`,
    );
  });

  it('reports a sig for an app with no app line at the sig line', () => {
    const d = dir({ 'a.rules': BASE + '\n\nsig gamma one tcp @0 "x"\n' });
    expect(rulesError(() => loadRules(d, KNOWN)).message).toBe(`${path.join(d, 'a.rules')}:5: sig for app 'gamma' which has no app line`);
  });

  it('reports an app without a dissector and lists the known ones', () => {
    const d = dir({ 'a.rules': BASE + 'app gamma mark 3 action allow\n' });
    expect(rulesError(() => loadRules(d, KNOWN)).message).toBe(`${path.join(d, 'a.rules')}:3: app 'gamma' has no dissector (known: alpha, beta)`);
  });

  it('reports a registered app that no rules file declares, naming the directory', () => {
    const d = dir({ 'a.rules': 'app alpha mark 1 action allow\n' });
    expect(rulesError(() => loadRules(d, KNOWN)).message).toBe(`${d}:0: no app line for 'beta' in any rules file (every application needs one)`);
  });

  it('reports a syntax error with the file path', () => {
    const d = dir({ 'a.rules': BASE, 'z.rules': '# ok\nsig alpha one tcp @0 "x\n' });
    expect(rulesError(() => loadRules(d, KNOWN)).message).toBe(`${path.join(d, 'z.rules')}:2: unterminated string`);
  });

  it('reports a signature whose l4 the dissector does not handle', () => {
    const d = dir({ 'a.rules': 'app msn mark 5 action allow\nsig msn one udp @0 "x"\n' });
    expect(rulesError(() => loadRules(d, ['msn'])).message).toBe(
      `${path.join(d, 'a.rules')}:2: sig 'msn.one' is udp but the msn dissector only handles tcp`,
    );
  });

  it('reports a missing or empty rules directory', () => {
    const missing = path.join(os.tmpdir(), 'p2pgw-no-such-dir');
    expect(rulesError(() => loadRules(missing, KNOWN)).message).toMatch(new RegExp(`^${missing}:0: cannot read rules directory: `));
    const empty = dir({});
    expect(rulesError(() => loadRules(empty, KNOWN)).message).toBe(`${empty}:0: no *.rules files in the rules directory`);
  });
});

describe('loadRules: signatures the dissectors declare', () => {
  const alpha: KnownApp = { name: 'alpha', l4: ['tcp'], signatures: ['one', 'two', 'three'] };

  it('accepts rules that define every declared signature, in any file', () => {
    const d = dir({ 'a.rules': BASE + 'sig alpha one tcp @0 "x"\nsig alpha two tcp any "y"\n', 'b.rules': 'sig alpha three any @0 "z"\n' });
    expect(loadRules(d, [alpha, 'beta']).sigs.map((s) => s.id)).toEqual(['alpha.one', 'alpha.two', 'alpha.three']);
  });

  it('reports a declared signature no rules file defines, at the app line, with the app and the name', () => {
    const d = dir({ 'a.rules': '# local\n' + BASE + 'sig alpha one tcp @0 "x"\nsig alpha three tcp @0 "z"\n' });
    const e = rulesError(() => loadRules(d, [alpha, 'beta']));
    expect(e.code).toBe(ErrorCodes.P2PGW_ERR_RULES);
    expect(e.message).toBe(`${path.join(d, 'a.rules')}:2: app 'alpha' declares signature 'two' but no rules file defines it (add a 'sig alpha two …' line)`);
  });

  it('lists every missing name of the application', () => {
    const d = dir({ 'a.rules': BASE + 'sig alpha two tcp @0 "x"\n' });
    expect(rulesError(() => loadRules(d, [alpha, 'beta'])).message).toBe(
      `${path.join(d, 'a.rules')}:1: app 'alpha' declares signatures 'one', 'three' but no rules file defines them (add a 'sig alpha one …' line)`,
    );
  });

  it('checks registered dissectors by name: the bundled rules without one sig line fail to load', () => {
    const text = fs.readFileSync(path.join(DEFAULT_RULES_DIR, 'p2pgw.rules'), 'utf8');
    for (const app of APPS.filter((a) => a.signatures.length > 0)) {
      const sig = app.signatures[app.signatures.length - 1];
      const lines = text.split('\n');
      const at = lines.findIndex((l) => new RegExp(`^sig\\s+${app.name}\\s+${sig}\\s`).test(l));
      expect(at, `${app.name}.${sig} in the bundled rules`).toBeGreaterThanOrEqual(0);
      lines.splice(at, 1);
      const d = dir({ 'p2pgw.rules': lines.join('\n') });
      const appLine = lines.findIndex((l) => new RegExp(`^app\\s+${app.name}\\s`).test(l)) + 1;
      expect(rulesError(() => loadRules(d)).message).toBe(
        `${path.join(d, 'p2pgw.rules')}:${appLine}: app '${app.name}' declares signature '${sig}' but no rules file defines it (add a 'sig ${app.name} ${sig} …' line)`,
      );
    }
  });
});

describe('bundled rules', () => {
  it('resolve from the package root', () => {
    expect(DEFAULT_RULES_DIR).toBe(path.join(ROOT, 'rules'));
  });

  it('load, declare every registered app with a distinct mark, allow everything', () => {
    const r = loadRules();
    expect([...r.apps.keys()].sort()).toEqual(APPS.map((a) => a.name).sort());
    const marks = [...r.apps.values()].map((a) => a.mark);
    expect(new Set(marks).size).toBe(marks.length);
    expect([...r.apps.values()].every((a) => a.action === 'allow')).toBe(true);
  });

  it('keep the marks of released applications (connmarks users match in their firewall rules)', () => {
    const released: Record<string, number> = { bittorrent: 1, edonkey: 2, gnutella: 3, fasttrack: 4, msn: 5, msnftp: 6, http: 7, p2p: 8 };
    const r = loadRules();
    for (const [name, mark] of Object.entries(released)) if (appByName(name)) expect(r.apps.get(name)?.mark, name).toBe(mark);
  });

  it('define exactly the signatures each dissector declares, and every payload dissector declares some', () => {
    const r = loadRules();
    for (const a of APPS) {
      if (!HEURISTIC_ONLY.includes(a.name)) expect(a.signatures.length, a.name).toBeGreaterThan(0);
      const defined = r.sigs.filter((s) => s.app === a.name).map((s) => s.sig);
      const declared = a.signatures;
      expect([...defined].sort(), a.name).toEqual([...declared].sort());
    }
  });

  it('heuristic-only applications have an app line and no sig line', () => {
    const r = loadRules();
    for (const name of HEURISTIC_ONLY) {
      expect(r.apps.get(name), name).toBeDefined();
      expect(r.sigs.filter((s) => s.app === name), name).toEqual([]);
      expect(appByName(name)?.signatures, name).toEqual([]);
    }
  });

  it('host lines name registered applications, valid and unique names', () => {
    const r = loadRules();
    expect(r.hosts.length).toBeGreaterThan(0);
    for (const h of r.hosts) expect(appByName(h.app), h.name).toBeDefined();
    expect(new Set(r.hosts.map((h) => h.name)).size).toBe(r.hosts.length);
    expect(r.hosts.map((h) => h.name)).toContain('router.bittorrent.com');
  });

  it('registry order keeps specific applications before generic ones', () => {
    const order = APPS.map((a) => a.name);
    expect(order.indexOf('fasttrack')).toBeLessThan(order.indexOf('http'));
    expect(order.indexOf('bittorrent')).toBeLessThan(order.indexOf('http'));
    expect(order.indexOf('gnutella')).toBeLessThan(order.indexOf('http'));
    expect(order.indexOf('msnftp')).toBeLessThan(order.indexOf('msn'));
    // The generic p2p (host heuristics only, never detects) is last; http is the last dissector.
    expect(order[order.length - 1]).toBe('p2p');
    expect(order[order.length - 2]).toBe('http');
  });
});
