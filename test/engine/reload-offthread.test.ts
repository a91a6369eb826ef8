/**
 * A reload's config read off the main thread (src/runtime/reload-config.ts, issue 14 item 6): the
 * worker reads and validates the config and compiles its keyword lists; the main thread gets the
 * config, compiles the classifier and adopts the keywords, or refuses the reload with the same
 * error line as loadForReload. Runs dist/runtime/reload-worker.js (built by `npm run build`). The
 * stall itself is measured by `node bench/memory.mjs` (a bench, not a timed test).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Counters } from '../../src/core/counters.js';
import { KeywordSet } from '../../src/content/keywords.js';
import { loadForReloadOffThread } from '../../src/runtime/reload-config.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'p2pgw-reload-worker-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function fakeLogger() {
  const lines: [string, unknown, string | undefined][] = [];
  const at = (level: string) => (fields: unknown, msg?: string) => void lines.push([level, fields, msg]);
  return { lines, logger: { info: at('info'), warn: at('warn'), error: at('error') } as never };
}

const config = (name: string, words: string[]): string => {
  const f = path.join(dir, name);
  fs.writeFileSync(f, `keywords:\n  chat: true\n  lists:\n    banned:\n${words.map((w) => `      - ${JSON.stringify(w)}\n`).join('')}`);
  return f;
};

describe('loadForReloadOffThread', () => {
  it('reads the config and builds its keywords in a worker; unchanged keywords keep the running set', async () => {
    const { logger, lines } = fakeLogger();
    const counters = new Counters();
    const running = new KeywordSet({ banned: ['old'] });
    const f = config('a.yaml', ['Secret Plan', 'warez']);
    const r = await loadForReloadOffThread(f, logger, counters, 'current.yaml', running);
    expect(r?.next.file).toBe(f);
    expect(r?.built.classifier.apps.length).toBeGreaterThan(0);
    expect(r?.keywords).not.toBe(running);
    expect(r?.keywords.builtInThread).not.toBe(0);
    expect(r?.keywords.find('the SECRET plan')).toEqual({ list: 'banned', keyword: 'Secret Plan', id: 'banned#0' });
    expect(lines).toEqual([]);
    const again = await loadForReloadOffThread(f, logger, counters, 'current.yaml', r!.keywords);
    expect(again?.keywords).toBe(r!.keywords);
    expect(counters.get('reload_refused')).toBe(0);
  });

  it('refuses an invalid config or an empty keyword with one error line and a counter', async () => {
    const bad = path.join(dir, 'bad.yaml');
    fs.writeFileSync(bad, 'queue: [not, a, map]\n');
    const running = new KeywordSet({});
    for (const [f, want] of [[bad, /bad\.yaml/], [config('empty.yaml', ['ok', ' ']), /keywords\.lists\.banned\[1\]: empty keyword/]] as const) {
      const { logger, lines } = fakeLogger();
      const counters = new Counters();
      expect(await loadForReloadOffThread(f, logger, counters, 'current.yaml', running)).toBeNull();
      expect(counters.get('reload_refused')).toBe(1);
      expect(lines).toHaveLength(1);
      expect(lines[0][0]).toBe('error');
      expect(lines[0][2]).toBe('reload refused: invalid config; the old config keeps running');
      expect((lines[0][1] as { err: string; config: string }).err).toMatch(want);
      expect((lines[0][1] as { config: string }).config).toBe('current.yaml');
    }
  });
});
