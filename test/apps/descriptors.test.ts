/**
 * The descriptor metadata (src/apps/types.ts AppDescriptor) is well-formed and true to the code:
 * names and categories are valid, declared signature names are unique rule names, the events a
 * descriptor lists cover every weird its inspector raises (lab sessions, mutated sessions and
 * random streams), its lab sessions belong to it, and a signature name outside the declared ones
 * is a compile error.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { APPS } from '../../src/apps/registry.js';
import type { AppDescriptor } from '../../src/apps/types.js';
import { ROOT, TSC } from '../helpers/paths.js';
import { feed, fromSteps, LAB, type Script } from './inspect/harness.js';

/** rules/README.md: lowercase letters, digits, `-` and `_`, starting with a letter, ≤ 32 characters. */
const RULE_NAME = /^[a-z][a-z0-9_-]{0,31}$/;

describe('descriptor metadata', () => {
  it('names are unique rule names; categories, signatures and events are well-formed', () => {
    expect(new Set(APPS.map((a) => a.name)).size).toBe(APPS.length);
    for (const a of APPS) {
      expect(a.name, a.name).toMatch(RULE_NAME);
      expect(['p2p', 'im', 'web'], a.name).toContain(a.category);
      // Only the generic p2p (assigned by the host heuristics, never from payload) has no signature.
      if (a.name !== 'p2p') expect(a.signatures.length, a.name).toBeGreaterThan(0);
      expect(new Set(a.signatures).size, a.name).toBe(a.signatures.length);
      for (const s of a.signatures) expect(s, a.name).toMatch(RULE_NAME);
      const ev = a.events ?? [];
      expect(new Set(ev).size, a.name).toBe(ev.length);
      for (const e of ev) expect(e, a.name).toMatch(/^[a-z][a-z0-9_]*$/);
      if (!a.inspect) expect(ev, `${a.name} has no inspector, so no events`).toEqual([]);
    }
  });

  it('lab sessions belong to their application and have unique variants', () => {
    for (const a of APPS) {
      const ss = a.sessions ?? [];
      expect(new Set(ss.map((t) => t.variant)).size, a.name).toBe(ss.length);
      for (const t of ss) expect(t.app, `${a.name}.${t.variant}`).toBe(a.name);
    }
  });
});

/** Weird names an inspector raised while playing `script`. */
function weirds(app: AppDescriptor, script: Script, end = true): string[] {
  const rec = feed((ev) => app.inspect!(ev), script, { end });
  return rec.raw.flatMap((e) => (e.t === 'weird' ? [e.name] : []));
}

/** `script` with the octet at global offset `at` replaced by `v` (framing fields get broken). */
function mutate(script: Script, at: number, v: number): Script {
  let pos = 0;
  return script.map(([d, b]) => {
    const out = at >= pos && at < pos + b.length ? Uint8Array.from(b, (x, i) => (pos + i === at ? v : x)) : b;
    pos += b.length;
    return [d, out] as const;
  });
}

describe('declared events cover what the inspectors raise', () => {
  const inspected = APPS.filter((a) => a.inspect);
  const raisedAll = new Set<string>();

  for (const app of inspected) {
    it(`${app.name}: every weird raised is in its descriptor's events`, () => {
      const declared = new Set(app.events ?? []);
      const raised = new Set<string>();
      const scripts = (app.sessions ?? []).map((t) => fromSteps(t.build(LAB)));
      for (const s of scripts) {
        for (const w of weirds(app, s)) raised.add(w);
        // The stream ends early: truncated heads and bodies.
        const cut = s.slice(0, Math.max(1, s.length - 1));
        for (const w of weirds(app, cut)) raised.add(w);
      }
      if (scripts.length > 0) fc.assert(
        fc.property(
          fc.integer({ min: 0, max: scripts.length - 1 }),
          fc.nat(),
          fc.integer({ min: 0, max: 255 }),
          (k, at, v) => {
            const s = scripts[k];
            const total = s.reduce((n, [, b]) => n + b.length, 0);
            for (const w of weirds(app, mutate(s, at % total, v))) raised.add(w);
          },
        ),
        { numRuns: 300, seed: 42 },
      );
      fc.assert(
        fc.property(fc.array(fc.tuple(fc.constantFrom(0 as const, 1 as const), fc.uint8Array({ minLength: 1, maxLength: 200 })), { maxLength: 6 }), (script) => {
          for (const w of weirds(app, script)) raised.add(w);
        }),
        { numRuns: 200, seed: 7 },
      );
      for (const w of raised) {
        raisedAll.add(w);
        expect(declared.has(w), `${app.name} raised '${w}' which its descriptor's events do not list`).toBe(true);
      }
    });
  }

  it('the inputs above do raise weirds (the check is not vacuous)', () => {
    expect(raisedAll.size).toBeGreaterThan(3);
  });
});

const tscMissing = !fs.existsSync(TSC);
if (tscMissing) console.warn(`signature typing test skipped: no TypeScript compiler at ${TSC}`);

describe.skipIf(tscMissing)('signature names are checked at compile time', () => {
  it('a name the dissector did not declare is a type error; declared names compile', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'p2pgw-sigtypes-'));
    const util = path.join(ROOT, 'src', 'apps', 'util.js');
    const types = path.join(ROOT, 'src', 'apps', 'types.js');
    const file = path.join(dir, 'check.ts');
    fs.writeFileSync(
      file,
      [
        `import { hitAt, hitInDatagram, hitWithin, sigNames } from ${JSON.stringify(util)};`,
        `import type { SearchContext } from ${JSON.stringify(types)};`,
        'declare const ctx: SearchContext;',
        "const METHODS = ['get', 'head'] as const;",
        "const SIG = sigNames('zz', [...METHODS, 'response', 'peer-id']);",
        "export const ok = hitAt(ctx, SIG, 'get', 0) || hitWithin(ctx, SIG, 'peer-id', 1, 0, 9) || hitInDatagram(ctx, SIG, 'response');",
        '// @ts-expect-error: a typo of a declared name',
        "export const typo = hitAt(ctx, SIG, 'peer_id', 0);",
        '// @ts-expect-error: any string is not a declared name',
        "export const wide = hitWithin(ctx, SIG, 'x' as string, 0, 0, 1);",
        '// @ts-expect-error: undeclared in a datagram look-up too',
        "export const udp = hitInDatagram(ctx, SIG, 'post');",
        '',
      ].join('\n'),
    );
    const args = ['--ignoreConfig', '--noEmit', '--strict', '--skipLibCheck', '--target', 'es2022', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--types', 'node', file];
    const r = spawnSync(process.execPath, [TSC, ...args], { cwd: ROOT, encoding: 'utf8' });
    fs.rmSync(dir, { recursive: true, force: true });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  }, 60_000);
});
