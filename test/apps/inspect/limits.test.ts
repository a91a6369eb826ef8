/**
 * Parser caps (src/apps/parse/lines.ts): a frozen default set (core PARSER_LIMITS) that
 * `setInspectLimits` replaces as a whole, so a reload whose config drops a key gets that key's
 * default back instead of keeping the previous value.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { PARSER_LIMITS } from '../../../src/core/defaults.js';
import { ErrorCodes, P2pgwError } from '../../../src/core/errors.js';
import { INSPECT_LIMITS, LINE_TOO_LONG, LineReader, setInspectLimits } from '../../../src/apps/parse/lines.js';
import { text } from './harness.js';

afterEach(() => setInspectLimits({}));

/** What a fresh default-cap LineReader says about one line of `n` octets plus CRLF. */
const lineOf = (n: number): number => new LineReader().read(text(`${'a'.repeat(n)}\r\n`), 0);

describe('parser caps', () => {
  it('start at the frozen defaults', () => {
    expect(INSPECT_LIMITS).toEqual(PARSER_LIMITS);
    expect(Object.isFrozen(PARSER_LIMITS)).toBe(true);
    expect(Object.isFrozen(INSPECT_LIMITS)).toBe(true);
    expect(() => {
      (INSPECT_LIMITS as { maxLine: number }).maxLine = 1;
    }).toThrow(TypeError);
  });

  it('a config value replaces its default; the others stay at the defaults', () => {
    setInspectLimits({ maxLine: 100, maxHead: undefined });
    expect(INSPECT_LIMITS).toEqual({ ...PARSER_LIMITS, maxLine: 100 });
    expect(Object.isFrozen(INSPECT_LIMITS)).toBe(true);
    expect(lineOf(100)).toBe(102);
    expect(lineOf(101)).toBe(LINE_TOO_LONG);
  });

  it('a reload without inspect.max_line restores the default line cap', () => {
    setInspectLimits({ maxLine: 100 });
    expect(lineOf(101)).toBe(LINE_TOO_LONG);
    // The reloaded config sets another cap and leaves max_line out (the loader passes undefined).
    setInspectLimits({ maxLine: undefined, maxHead: 5000 });
    expect(INSPECT_LIMITS.maxLine).toBe(PARSER_LIMITS.maxLine);
    expect(INSPECT_LIMITS.maxHead).toBe(5000);
    expect(lineOf(101)).toBe(103);
    expect(lineOf(PARSER_LIMITS.maxLine + 1)).toBe(LINE_TOO_LONG);
    setInspectLimits({});
    expect(INSPECT_LIMITS).toEqual(PARSER_LIMITS);
  });

  it('rejects a cap that is not a positive integer, or an unknown key, and keeps the current set', () => {
    setInspectLimits({ maxMessage: 1234 });
    const before = INSPECT_LIMITS;
    for (const bad of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => setInspectLimits({ maxLine: bad })).toThrow(P2pgwError);
      expect(INSPECT_LIMITS).toBe(before);
    }
    try {
      setInspectLimits({ maxLines: 5 } as never);
      expect.unreachable('an unknown key must throw');
    } catch (err) {
      expect((err as P2pgwError).code).toBe(ErrorCodes.P2PGW_ERR_CONFIG);
    }
    expect(INSPECT_LIMITS).toBe(before);
  });
});
