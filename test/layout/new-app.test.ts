/**
 * Adding an application touches three places (src/apps/README.md): one new folder
 * src/apps/<name>/, its entry in src/apps/registry.ts, and its `app`/`sig` lines in
 * rules/p2pgw.rules. This test does exactly that to a copy of the project (a throwaway `zapp`,
 * category p2p, one literal signature), compiles the copy with the project's compiler and shows,
 * with no other file touched, that replay labels a zapp flow `zapp` and that analysis counts zapp
 * as P2P (its P2P set is derived from the registry). It fails if any list of applications
 * elsewhere (analysis, rules loader, config, classifier) had to be edited by hand.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { pcapOf, tcpSession } from '../helpers/packets.js';
import { ROOT, TSC } from '../helpers/paths.js';

const APP_DIR = 'src/apps/zapp';
const REGISTRY = 'src/apps/registry.ts';
const RULES = 'rules/p2pgw.rules';

/** The throwaway dissector: `ZAPP/1 HELLO` at the start of the initiator's stream. */
const ZAPP_DETECT = `/**
 * Zapp, a throwaway application of test/layout/new-app.test.ts: the initiator opens with
 * \`ZAPP/1 HELLO\` (signature \`hello\`, rules/p2pgw.rules).
 */
import type { AppDescriptor, SearchContext, SearchResult } from '../types.js';
import { DETECTED, EXCLUDED, NEED_MORE } from '../types.js';
import { hitAt, sigNames } from '../util.js';

const SIG = sigNames('zapp', ['hello']);
const HELLO_LEN = 12;

/** Zapp dissector: the hello signature at offset 0 of direction 0. */
export function search(ctx: SearchContext): SearchResult {
  if (hitAt(ctx, SIG, 'hello', 0)) return DETECTED;
  return ctx.prefix[0].length >= HELLO_LEN ? EXCLUDED : NEED_MORE;
}

export const zapp: AppDescriptor = {
  name: 'zapp',
  title: 'Zapp (layout test)',
  category: 'p2p',
  l4: ['tcp'],
  defaultPorts: {},
  source: 'test/layout/new-app.test.ts',
  signatures: SIG.names,
  search,
};
`;
const REGISTRY_IMPORT = "import { zapp } from './zapp/detect.js';";
const REGISTRY_ENTRY = '  zapp,';
const RULES_ENTRY = ['', '# --- Zapp (layout test) ---', 'app zapp mark 0x20 action allow', 'sig zapp hello tcp @0 "ZAPP/1 HELLO"', ''];

/** sha256 of every file under `dirs` of `root`, by path relative to `root`. */
function snapshot(root: string, dirs: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (rel: string): void => {
    for (const e of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
      const r = path.posix.join(rel, e.name);
      if (e.isDirectory()) walk(r);
      else out.set(r, createHash('sha256').update(fs.readFileSync(path.join(root, r))).digest('hex'));
    }
  };
  for (const d of dirs) walk(d);
  return out;
}

/** Inserts `line` before the first line of `text` equal to `before` (which must exist). */
function insertBefore(text: string, before: string, line: string): string {
  const lines = text.split('\n');
  const i = lines.indexOf(before);
  if (i < 0) throw new Error(`no line ${JSON.stringify(before)} in the registry`);
  lines.splice(i, 0, line);
  return lines.join('\n');
}

/** Lines of `b` that are not in `a` (multiset difference), and lines of `a` missing from `b`. */
function lineDiff(a: string, b: string): { added: string[]; removed: string[] } {
  const count = new Map<string, number>();
  for (const l of a.split('\n')) count.set(l, (count.get(l) ?? 0) + 1);
  const added: string[] = [];
  for (const l of b.split('\n')) {
    const n = count.get(l) ?? 0;
    if (n > 0) count.set(l, n - 1);
    else added.push(l);
  }
  const removed = [...count].flatMap(([l, n]) => Array<string>(n).fill(l));
  return { added, removed };
}

const run = (args: string[], cwd: string) => spawnSync(process.execPath, args, { cwd, encoding: 'utf8', timeout: 45_000 });

const tscMissing = !fs.existsSync(TSC);
if (tscMissing) console.warn(`new-app layout test skipped: no TypeScript compiler at ${TSC} (npm install)`);

describe.skipIf(tscMissing)('adding an application', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'p2pgw-new-app-'));
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('needs one folder, one registry entry and one rules entry: replay labels it, analysis counts it as P2P', () => {
    // A copy of the project: sources and rules copied, build inputs linked.
    for (const d of ['src', 'rules']) fs.cpSync(path.join(ROOT, d), path.join(tmp, d), { recursive: true });
    for (const f of ['package.json', 'tsconfig.json']) fs.copyFileSync(path.join(ROOT, f), path.join(tmp, f));
    for (const l of ['asm', 'node_modules']) fs.symlinkSync(path.join(ROOT, l), path.join(tmp, l), 'dir');
    const before = snapshot(tmp, ['src', 'rules']);
    const registryBefore = fs.readFileSync(path.join(tmp, REGISTRY), 'utf8');
    const rulesBefore = fs.readFileSync(path.join(tmp, RULES), 'utf8');

    // The three places.
    fs.mkdirSync(path.join(tmp, APP_DIR));
    fs.writeFileSync(path.join(tmp, APP_DIR, 'detect.ts'), ZAPP_DETECT);
    let registry = insertBefore(registryBefore, "import { http } from './http/detect.js';", REGISTRY_IMPORT);
    registry = insertBefore(registry, '  http,', REGISTRY_ENTRY);
    fs.writeFileSync(path.join(tmp, REGISTRY), registry);
    fs.writeFileSync(path.join(tmp, RULES), rulesBefore + RULES_ENTRY.join('\n'));

    // Nothing else changed: same files with the same contents, besides those three.
    const after = snapshot(tmp, ['src', 'rules']);
    const added = [...after.keys()].filter((f) => !before.has(f));
    const removed = [...before.keys()].filter((f) => !after.has(f));
    const changed = [...after.keys()].filter((f) => before.has(f) && before.get(f) !== after.get(f)).sort();
    expect(added).toEqual([`${APP_DIR}/detect.ts`]);
    expect(removed).toEqual([]);
    expect(changed).toEqual([RULES, REGISTRY]);
    expect(lineDiff(registryBefore, registry)).toEqual({ added: [REGISTRY_IMPORT, REGISTRY_ENTRY], removed: [] });
    const rulesAfter = fs.readFileSync(path.join(tmp, RULES), 'utf8');
    expect(rulesAfter.startsWith(rulesBefore) && rulesAfter.slice(rulesBefore.length)).toBe(RULES_ENTRY.join('\n'));

    // It compiles.
    const tsc = run([TSC, '-p', path.join(tmp, 'tsconfig.json')], tmp);
    expect(tsc.stdout + tsc.stderr, 'tsc output').toBe('');
    expect(tsc.status).toBe(0);
    const main = path.join(tmp, 'dist', 'cli', 'main.js');

    // (a) replay labels a zapp flow `zapp` (and a non-zapp control flow not).
    const pcap = path.join(tmp, 'zapp.pcap');
    fs.writeFileSync(
      pcap,
      pcapOf([
        ...tcpSession('10.9.0.1', 40001, '10.9.0.2', 47001, [{ dir: 0, data: 'ZAPP/1 HELLO\r\n' }, { dir: 1, data: 'ZAPP/1 OK\r\n' }]),
        ...tcpSession('10.9.0.1', 40002, '10.9.0.2', 47002, [{ dir: 0, data: 'ZAPX/1 HELLO\r\n' }, { dir: 1, data: 'ZAPX/1 OK\r\n' }]),
      ]),
    );
    const replay = run([main, 'replay', pcap, '--flows', '-'], tmp);
    expect(replay.status, replay.stderr).toBe(0);
    const records = replay.stdout.trim().split('\n').map((l) => JSON.parse(l) as { dport: number; app: string | null });
    expect(records.find((r) => r.dport === 47001)?.app).toBe('zapp');
    expect(records.find((r) => r.dport === 47002)?.app).not.toBe('zapp');

    // (b) analysis treats zapp as P2P.
    const input = pathToFileURL(path.join(tmp, 'dist', 'tools', 'analyze', 'input.js')).href;
    const p2p = run(['--input-type=module', '-e', `const m = await import(${JSON.stringify(input)}); process.stdout.write(JSON.stringify([...m.P2P_APPS]));`], tmp);
    expect(p2p.status, p2p.stderr).toBe(0);
    expect(JSON.parse(p2p.stdout)).toContain('zapp');

    // And the rules listing shows it with its mark.
    const rules = run([main, 'rules'], tmp);
    expect(rules.status, rules.stderr).toBe(0);
    expect(rules.stdout).toMatch(/^zapp\s+0x20\s+allow\s+tcp\s+1$/m);
  }, 90_000);
});
