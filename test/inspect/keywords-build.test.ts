/**
 * Keyword lists (issue 14, item 6): a reload builds them off the main thread, and a big list stays
 * within a memory budget counted in bytes of linear memory and typed arrays (not RSS, not time;
 * `node bench/memory.mjs` measures RSS and stall). The worker build runs dist/content/
 * keyword-worker.js (built by `npm run build`, like the scan workers).
 */
import { threadId } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { KeywordSet } from '../../src/content/keywords.js';
import { P2pgwError } from '../../src/core/errors.js';

/** `n` distinct pseudo-random keywords of `len` letters and digits. */
function words(n: number, len: number, seed = 1): string[] {
  const abc = 'abcdefghijklmnopqrstuvwxyz0123456789';
  let s = seed;
  const next = (): number => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) >>> 8) % abc.length;
  const out = new Set<string>();
  while (out.size < n) out.add(Array.from({ length: len }, () => abc[next()]).join(''));
  return [...out];
}

describe('KeywordSet.build (worker thread)', () => {
  it('builds in another thread while this one keeps turning, and finds the same keywords', async () => {
    const list = words(20_000, 10);
    let turns = 0;
    let spinning = true;
    const spin = (): void => {
      turns++;
      if (spinning) setImmediate(spin);
    };
    setImmediate(spin);
    const k = await KeywordSet.build({ big: list, small: ['Secret Plan'] });
    spinning = false;
    expect(threadId).toBe(0);
    expect(k.builtInThread).not.toBe(threadId);
    expect(turns).toBeGreaterThan(1); // the event loop ran during the build
    expect(k.size).toBe(20_001);
    expect(k.find(`xx ${list[1234].toUpperCase()} yy`)).toEqual({ list: 'big', keyword: list[1234], id: 'big#1234' });
    expect(k.find('the SECRET plan')).toEqual({ list: 'small', keyword: 'Secret Plan', id: 'small#0' });
    expect(k.find('nothing here')).toBeNull();
    const local = new KeywordSet({ big: list, small: ['Secret Plan'] });
    expect(local.builtInThread).toBe(threadId);
    for (const i of [0, 1, 999, 19_999]) expect(k.find(`.${list[i]}.`)).toEqual(local.find(`.${list[i]}.`));
  });

  it('refuses a bad list with the same error as the constructor, and reuses an unchanged set', async () => {
    const err = await KeywordSet.build({ l: ['ok', ' '] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(P2pgwError);
    expect((err as P2pgwError).code).toBe('P2PGW_ERR_CONFIG');
    expect((err as P2pgwError).message).toBe('keywords.lists.l[1]: empty keyword');
    const a = await KeywordSet.build({ l: ['alpha', 'beta'] });
    expect(await KeywordSet.build({ l: ['alpha', 'beta'] }, a)).toBe(a);
    expect(await KeywordSet.build({ l: ['alpha', 'gamma'] }, a)).not.toBe(a);
    expect((await KeywordSet.build({})).size).toBe(0);
  });
});

describe('KeywordSet memory budget (bytes of linear memory and typed arrays)', () => {
  it('50,000 keywords of 10 bytes: at most 32 bytes per keyword byte (the dense automaton took 1 KiB)', async () => {
    const list = words(50_000, 10, 7);
    const patternBytes = 50_000 * 10;
    for (const k of [new KeywordSet({ l: list }), await KeywordSet.build({ l: list })]) {
      expect(k.memoryBytes).toBeLessThanOrEqual(32 * patternBytes + (1 << 20));
      expect(k.find(`__${list[49_999]}__`)?.id).toBe('l#49999');
    }
  });
});
