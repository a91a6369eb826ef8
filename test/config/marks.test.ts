/**
 * Mark collisions (src/config/marks.ts, checked by src/runtime/setup.ts buildClassifier): an
 * application's effective mark, classify.unknown_mark and inspect.kill_mark must all differ, and
 * each collision is refused naming the file, the key or rules line, and the other side.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { APPS } from '../../src/apps/registry.js';
import { main, reportCliError } from '../../src/cli/main.js';
import { DEFAULT_CONFIG_FILE, PACKAGE_ROOT, loadConfig } from '../../src/config/load.js';
import { Counters } from '../../src/core/counters.js';
import { ConfigError, RulesError } from '../../src/core/errors.js';
import { loadForReload } from '../../src/runtime/boot.js';
import { buildClassifier } from '../../src/runtime/setup.js';

const NAMES = APPS.map((a) => a.name);
const RULES = path.join(PACKAGE_ROOT, 'rules', 'p2pgw.rules');
const TAIL = '; application marks, classify.unknown_mark and inspect.kill_mark must all differ';
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'p2pgw-marks-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

let n = 0;
/** Writes `text` to a fresh config file in `dir` and returns its path. */
function write(text: string): string {
  const f = path.join(dir, `c${++n}.yaml`);
  fs.writeFileSync(f, text);
  return f;
}

/** Loads and builds `file`; returns the error thrown (fails when none is). */
function refused(file: string): Error {
  try {
    buildClassifier(loadConfig(file, NAMES));
  } catch (e) {
    return e as Error;
  }
  throw new Error(`expected ${file} to be refused`);
}

describe('mark collisions', () => {
  it('classify.unknown_mark equal to an application mark (the issue: BitTorrent blocked)', () => {
    const f = write('classify:\n  packets: 8\n  unknown_mark: 1\napps:\n  bittorrent: {action: block}\n');
    const e = refused(f);
    expect(e).toBeInstanceOf(ConfigError);
    expect(e.message).toBe(
      `${f}: classify.unknown_mark (line 3): mark 0x1 for unclassified connections is also the mark of application 'bittorrent' (${RULES}:22)${TAIL}`,
    );
  });

  it('a config override equal to another application mark from the rules', () => {
    const f = write('apps:\n  edonkey: {action: allow, mark: 0x01}\n');
    expect(refused(f).message).toBe(
      `${f}: apps.edonkey.mark (line 2): mark 0x1 for application 'edonkey' is also the mark of application 'bittorrent' (${RULES}:22)${TAIL}`,
    );
  });

  it('two config overrides with the same mark: the later key, naming the earlier one', () => {
    const f = write('apps:\n  edonkey: {mark: 0x20}\n  gnutella:\n    action: block\n    mark: 0x20\n');
    expect(refused(f).message).toBe(
      `${f}: apps.gnutella.mark (line 5): mark 0x20 for application 'gnutella' is also the mark of application 'edonkey' (apps.edonkey.mark, line 2)${TAIL}`,
    );
  });

  it('inspect.kill_mark equal to an application mark or to classify.unknown_mark', () => {
    const a = write('inspect:\n  kill_mark: 7\n');
    expect(refused(a).message).toBe(
      `${a}: inspect.kill_mark (line 2): mark 0x7 for connections reset by content inspection is also the mark of application 'http' (${RULES}:28)${TAIL}`,
    );
    const b = write('classify: {unknown_mark: 0x30}\ninspect: {kill_mark: 0x30}\n');
    expect(refused(b).message).toBe(
      `${b}: inspect.kill_mark (line 2): mark 0x30 for connections reset by content inspection is also the mark of unclassified connections (classify.unknown_mark, line 1)${TAIL}`,
    );
  });

  it('an override equal to a default mark names the default', () => {
    const f = write('apps:\n  edonkey: {mark: 0xfe}\n');
    expect(refused(f).message).toBe(
      `${f}: apps.edonkey.mark (line 2): mark 0xfe for application 'edonkey' is also the mark of connections reset by content inspection (inspect.kill_mark, the default; not set in ${f})${TAIL}`,
    );
  });

  it('a rules-file mark equal to a default points at the rules file and line', () => {
    const rules = path.join(dir, 'rules-unknown');
    fs.mkdirSync(rules);
    const text = fs.readFileSync(RULES, 'utf8');
    expect(text.split('\n')[29]).toBe('app p2p        mark 0x08 action allow');
    fs.writeFileSync(path.join(rules, 'p2pgw.rules'), text.replace('app p2p        mark 0x08', 'app p2p        mark 0xff'));
    const f = write(`rules: {dir: ${rules}}\n`);
    const e = refused(f);
    expect(e).toBeInstanceOf(RulesError);
    expect(e.message).toBe(
      `${path.join(rules, 'p2pgw.rules')}:30: mark 0xff for application 'p2p' is also the mark of unclassified connections (classify.unknown_mark, the default; not set in ${f})${TAIL}`,
    );
  });

  it('two applications with one mark inside the rules are refused by the rules loader', () => {
    const rules = path.join(dir, 'rules-dup');
    fs.mkdirSync(rules);
    fs.writeFileSync(path.join(rules, 'p2pgw.rules'), fs.readFileSync(RULES, 'utf8').replace('app edonkey    mark 0x02', 'app edonkey    mark 0x01'));
    const e = refused(write(`rules: {dir: ${rules}}\n`));
    expect(e).toBeInstanceOf(RulesError);
    expect(e.message).toBe(`${path.join(rules, 'p2pgw.rules')}:23: duplicate mark 0x1 (already used by 'bittorrent' at ${path.join(rules, 'p2pgw.rules')}:22)`);
  });

  it('accepts the bundled config, non-colliding overrides, swapped marks and unknown_mark 0', () => {
    expect(() => buildClassifier(loadConfig(undefined, NAMES))).not.toThrow();
    expect(() => buildClassifier(loadConfig(DEFAULT_CONFIG_FILE, NAMES))).not.toThrow();
    const ok = [
      'apps:\n  edonkey: {action: allow, mark: 0x12}\n',
      'apps:\n  bittorrent: {action: block, mark: 2}\n  edonkey: {mark: 1}\n',
      'classify: {unknown_mark: 0}\ninspect: {kill_mark: 0xff}\n',
      'classify: {unknown_mark: 0x40}\ninspect: {kill_mark: 0x41}\napps:\n  http: {action: inspect, mark: 0x42}\n',
    ];
    for (const text of ok) {
      const { classifier } = buildClassifier(loadConfig(write(text), NAMES));
      expect(classifier.apps.length).toBe(NAMES.length);
    }
  });

  it('`p2pgw check-config` exits 2 with that one line; a reload refuses it', async () => {
    const f = write('classify:\n  unknown_mark: 1\napps:\n  bittorrent: {action: block}\n');
    const want = `${f}: classify.unknown_mark (line 2): mark 0x1 for unclassified connections is also the mark of application 'bittorrent' (${RULES}:22)${TAIL}`;
    let err = '';
    const code = await main(['check-config', f]).then(
      () => 0,
      (e) => reportCliError(e, { write: (s: string) => (err += s) }),
    );
    expect(code).toBe(2);
    expect(err).toBe(`p2pgw: ${want}\n`);

    const lines: unknown[][] = [];
    const logger = { error: (fields: unknown, msg: string) => void lines.push([fields, msg]) } as never;
    const counters = new Counters();
    expect(loadForReload(f, logger, counters, 'current.yaml')).toBeNull();
    expect(counters.get('reload_refused')).toBe(1);
    expect(lines).toEqual([[{ err: want, config: 'current.yaml' }, 'reload refused: invalid config; the old config keeps running']]);
  });
});
