import { describe, it, expect } from 'vitest';
import { Counters } from '../../src/core/counters.js';

describe('Counters', () => {
  it('hot fields and named counters read the same way; a name counted both ways is summed', () => {
    const c = new Counters();
    expect(c.snapshot()).toEqual({});
    c.hot.packets += 3;
    c.inc('packets');
    c.inc('tcp_bad_checksum', 2);
    c.hot.flow_created++;
    expect(c.get('packets')).toBe(4);
    expect(c.get('flow_created')).toBe(1);
    expect(c.get('held_packets')).toBe(0);
    expect(c.get('never')).toBe(0);
    // Zero hot counters are not listed (as a never-incremented name is not); the keys are sorted.
    expect(Object.entries(c.snapshot())).toEqual([['flow_created', 1], ['packets', 4], ['tcp_bad_checksum', 2]]);
  });
  it('a name that is not a hot counter never reads a hot field (no prototype lookups)', () => {
    const c = new Counters();
    expect(c.get('toString')).toBe(0);
    c.inc('constructor');
    expect(c.get('constructor')).toBe(1);
  });
});
