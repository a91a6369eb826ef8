import { describe, expect, it } from 'vitest';
import { parseQueueStats, readQueueStats } from '../../src/capture/nfqstats.js';

// Two bound queues, as printed by the kernel ("%5u %6u %5u %1u %5u %5u %5u %8u %2d").
const SAMPLE = [
  '    0  31337     3 2 65535     0    12     4711  1',
  '   17 -4001  bogus line',
  '   42   2345     0 2 65535  1024     0 4294967295  1',
  '',
].join('\n');

describe('nfqstats', () => {
  it('parses every column of a bound queue', () => {
    expect(readQueueStats(0, SAMPLE)).toEqual({
      portId: 31337,
      queueTotal: 3,
      copyMode: 2,
      copyRange: 65535,
      queueDropped: 0,
      userDropped: 12,
      idSequence: 4711,
    });
    expect(readQueueStats(42, SAMPLE)).toMatchObject({ queueTotal: 0, queueDropped: 1024, userDropped: 0, idSequence: 4294967295 });
  });

  it('returns null for an unbound queue or an empty file, and skips malformed lines', () => {
    expect(readQueueStats(1, SAMPLE)).toBeNull();
    expect(readQueueStats(17, SAMPLE)).toBeNull();
    expect(readQueueStats(0, '')).toBeNull();
    expect([...parseQueueStats(SAMPLE).keys()]).toEqual([0, 42]);
  });

  it('reads the proc file of this namespace without throwing', () => {
    // Whatever the host has bound, the call must not throw; an unused high queue is not listed.
    expect(readQueueStats(65534)).toBeNull();
  });
});
