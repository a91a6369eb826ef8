/**
 * Named, counted events (Zeek's "weird"s, Suricata's memcap counters). Every cap that is hit, every
 * packet the daemon cannot judge and every malformed input increments one named counter here, so no
 * data is lost silently. Names are snake_case and stable; they are documented in the README.
 */
export class Counters {
  private readonly map = new Map<string, number>();

  /** Adds `n` (default 1) to the counter `name`. */
  inc(name: string, n = 1): void {
    this.map.set(name, (this.map.get(name) ?? 0) + n);
  }

  /** Current value of `name` (0 if never incremented). */
  get(name: string): number {
    return this.map.get(name) ?? 0;
  }

  /** A plain sorted object of every counter, for JSON output and tests. */
  snapshot(): Record<string, number> {
    return Object.fromEntries([...this.map.entries()].sort(([a], [b]) => a.localeCompare(b)));
  }
}
