/**
 * Waiting for a condition in tests: polls `cond` (sync or async) until it returns a truthy value or
 * the deadline passes. A test waits for an event with a deadline this way, never for a fixed time;
 * the poll interval only sets how soon the event is noticed.
 */
export async function waitUntil<T>(cond: () => T | Promise<T>, ms: number, what: string, everyMs = 20): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await cond();
    if (v) return v;
    if (Date.now() > end) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
