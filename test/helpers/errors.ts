/** Catching the library's errors in tests. */
import { expect } from 'vitest';
import { P2pgwError } from '../../src/core/errors.js';

/**
 * The error of class `cls` (default P2pgwError) that `f` throws.
 * @throws (fails the test) when `f` returns, or throws anything that is not a `cls`
 */
export function errorOf<E extends Error = P2pgwError>(f: () => unknown, cls: abstract new (...args: never[]) => E = P2pgwError as never): E {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(cls);
    return e as E;
  }
  throw new Error(`expected a ${cls.name}`);
}
