/**
 * Import boundaries of src/ (issue 11): dependency-cruiser, through its API, with the rules of
 * test/dependency-cruiser.cjs (layers, no cycles, application folders independent, shipped code
 * without devDependencies, every import resolvable; type-only imports count). Plus a mutation proof
 * that the rules do fire, on a small fixture tree that breaks each of them once, and a check that
 * every folder directly under src/ is one of the layers.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cruise, type ICruiseOptions, type ICruiseResult, type IViolation } from 'dependency-cruiser';
import extractDepcruiseOptions from 'dependency-cruiser/config-utl/extract-depcruise-options';
import extractTSConfig from 'dependency-cruiser/config-utl/extract-ts-config';

const ROOT = path.resolve(fileURLToPath(new URL('../..', import.meta.url)));
const CONFIG = path.join(ROOT, 'test', 'dependency-cruiser.cjs');
const require = createRequire(import.meta.url);
/** The layers, lowest first (a non-enumerable property of the config). */
const LAYERS = (require(CONFIG) as { LAYERS: string[] }).LAYERS;

/** One violation as a line: `rule: from → to`, or the cycle for the cycle rules. */
function describeViolation(v: IViolation): string {
  const cycle = v.cycle?.map((c) => (typeof c === 'string' ? c : c.name));
  return `${v.rule.name}: ${cycle?.length ? [v.from, ...cycle].join(' → ') : `${v.from} → ${v.to}`}`;
}

/** Cruises `dirs` (relative to `baseDir`) with the project's rules; returns the result. */
async function cruiseWithRules(baseDir: string, dirs: string[]): Promise<ICruiseResult> {
  const options: ICruiseOptions = { ...(await extractDepcruiseOptions(CONFIG)), baseDir };
  const tsConfig = extractTSConfig(path.join(baseDir, 'tsconfig.json'));
  const cwd = process.cwd();
  // The rules' paths (^src/...) and the tsConfig fileName are relative to the cruise's base.
  process.chdir(baseDir);
  try {
    const r = await cruise(dirs, options, {}, { tsConfig });
    return r.output as ICruiseResult;
  } finally {
    process.chdir(cwd);
  }
}

describe('layout: imports', () => {
  it('src/ has no dependency violations', async () => {
    const result = await cruiseWithRules(ROOT, ['src']);
    expect(result.summary.totalCruised).toBeGreaterThan(100);
    const lines = result.summary.violations.map(describeViolation);
    expect(lines, `dependency violations in src/ (see test/dependency-cruiser.cjs and the README's "Development"):\n${lines.join('\n')}`).toEqual([]);
  }, 120_000);

  it('every folder directly under src/ is a layer, and every layer is a folder', () => {
    const dirs = fs.readdirSync(path.join(ROOT, 'src'), { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
    expect(dirs.filter((d) => !LAYERS.includes(d)), 'folders of src/ that are no layer (add them to LAYERS in test/dependency-cruiser.cjs)').toEqual([]);
    expect(LAYERS.filter((l) => !dirs.includes(l)), 'layers without a folder').toEqual([]);
    expect(fs.readdirSync(path.join(ROOT, 'src')).filter((f) => !dirs.includes(f)), 'files directly in src/').toEqual([]);
  });

  describe('the rules can fail (a fixture tree that breaks each once)', () => {
    let tmp: string;
    beforeAll(() => {
      tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'p2pgw-layout-'));
      const put = (rel: string, text: string): void => {
        fs.mkdirSync(path.dirname(path.join(tmp, rel)), { recursive: true });
        fs.writeFileSync(path.join(tmp, rel), text);
      };
      fs.copyFileSync(path.join(ROOT, 'tsconfig.json'), path.join(tmp, 'tsconfig.json'));
      fs.writeFileSync(path.join(tmp, 'package.json'), JSON.stringify({ name: 'fixture', type: 'module', dependencies: {}, devDependencies: { vitest: '*' } }));
      // core imports apps: a lower layer importing a higher one.
      put('src/core/a.ts', "import { b } from '../apps/b.js';\nexport const a = b;\n");
      put('src/apps/b.ts', 'export const b = 1;\n');
      // A two-file cycle inside one folder.
      put('src/flow/x.ts', "import { y } from './y.js';\nexport const x = (): number => y();\n");
      put('src/flow/y.ts', "import { x } from './x.js';\nexport const y = (): number => x();\n");
      // A type-only import upwards counts too (tsPreCompilationDeps).
      put('src/decode/t.ts', "import type { R } from '../runtime/r.js';\nexport type T = R;\n");
      put('src/runtime/r.ts', 'export type R = number;\n');
      // One application folder importing another.
      put('src/apps/bittorrent/p.ts', "import { q } from '../edonkey/q.js';\nexport const p = q;\n");
      put('src/apps/edonkey/q.ts', 'export const q = 1;\n');
      // A folder cycle without a file cycle: cli → stream is fine, stream → cli is not.
      put('src/stream/s.ts', "import { c } from '../cli/c.js';\nexport const s = c;\n");
      put('src/cli/c.ts', "import { s2 } from '../stream/s2.js';\nexport const c = s2;\n");
      put('src/stream/s2.ts', 'export const s2 = 1;\n');
      // Shipped code using a devDependency, and an import that does not resolve.
      put('src/observe/o.ts', "import { expect } from 'vitest';\nimport { gone } from '../core/gone.js';\nexport const o = [expect, gone];\n");
      fs.mkdirSync(path.join(tmp, 'node_modules', 'vitest'), { recursive: true });
      fs.writeFileSync(path.join(tmp, 'node_modules', 'vitest', 'package.json'), JSON.stringify({ name: 'vitest', version: '0.0.0', main: 'index.js' }));
      fs.writeFileSync(path.join(tmp, 'node_modules', 'vitest', 'index.js'), 'exports.expect = 1;\n');
    });
    afterAll(() => {
      if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
    });

    it('each rule fires where the fixture breaks it, and only there', async () => {
      const result = await cruiseWithRules(tmp, ['src']);
      const got = result.summary.violations.map(describeViolation).sort();
      const by = (rule: string): string[] => got.filter((l) => l.startsWith(`${rule}:`));
      expect(by('layer-core'), got.join('\n')).toEqual(['layer-core: src/core/a.ts → src/apps/b.ts']);
      expect(by('layer-decode'), got.join('\n')).toEqual(['layer-decode: src/decode/t.ts → src/runtime/r.ts']);
      expect(by('layer-stream'), got.join('\n')).toEqual(['layer-stream: src/stream/s.ts → src/cli/c.ts']);
      expect(by('no-file-cycles'), got.join('\n')).toEqual(['no-file-cycles: src/flow/x.ts → src/flow/y.ts → src/flow/x.ts']);
      expect(by('no-folder-cycles'), got.join('\n')).toEqual([
        'no-folder-cycles: src/cli → src/stream → src/cli',
        'no-folder-cycles: src/stream → src/cli → src/stream',
      ]);
      expect(by('apps-folders-are-independent'), got.join('\n')).toEqual(['apps-folders-are-independent: src/apps/bittorrent/p.ts → src/apps/edonkey/q.ts']);
      expect(by('shipped-code-no-dev-deps'), got.join('\n')).toEqual(['shipped-code-no-dev-deps: src/observe/o.ts → node_modules/vitest/index.js']);
      expect(by('no-unresolvable'), got.join('\n')).toEqual(['no-unresolvable: src/observe/o.ts → ../core/gone.js']);
      const expected = ['layer-core', 'layer-decode', 'layer-stream', 'no-file-cycles', 'no-folder-cycles', 'apps-folders-are-independent', 'shipped-code-no-dev-deps', 'no-unresolvable'];
      expect(got.filter((l) => !expected.some((r) => l.startsWith(`${r}:`))), 'unexpected violations').toEqual([]);
    }, 120_000);
  });
});
