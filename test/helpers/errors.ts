/** Catching the library's errors in tests. */
import { expect } from 'vitest';
import { P2pgwError } from '../../src/core/errors.js';

/**
 * The P2pgwError `f` throws.
 * @throws (fails the test) when `f` returns, or throws anything that is not a P2pgwError
 */
export function errorOf(f: () => unknown): P2pgwError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(P2pgwError);
    return e as P2pgwError;
  }
  throw new Error('expected an error');
}
