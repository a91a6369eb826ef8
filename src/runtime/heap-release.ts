/**
 * Gives memory back after a flood (issue 14, item 6). When a SYN flood's flows expire or are
 * evicted they are garbage, but an idle daemon allocates too little for V8 to collect again, so the
 * process kept its peak size (453 MB after 65,536 flows). `HeapRelease` watches the flow count once
 * a second and, when it falls to a quarter of a peak of at least `minFlows`, asks V8 for one major
 * collection, concurrent (`execution: 'async'`, no long pause of the packet path), after which V8
 * unmaps the freed pages.
 *
 * The collection is requested through the `gc` function V8 exposes with --expose-gc: global.gc when
 * the process was started with it, else the function of a new context after setting the flag at
 * run time (v8.setFlagsFromString, documented "use with care"; the flag only adds that function).
 * Where neither works, nothing happens: the next allocation-driven collection frees the memory.
 */
import v8 from 'node:v8';
import vm from 'node:vm';

type GcFn = (opts?: { type?: 'major' | 'minor'; execution?: 'sync' | 'async' }) => unknown;

let gcFn: GcFn | null | undefined;

/** V8's gc function (see the module comment), or null when it cannot be had. */
function gc(): GcFn | null {
  if (gcFn !== undefined) return gcFn;
  gcFn = null;
  const g = (globalThis as { gc?: GcFn }).gc;
  if (typeof g === 'function') return (gcFn = g);
  try {
    v8.setFlagsFromString('--expose-gc');
    const f = vm.runInNewContext('gc') as unknown;
    if (typeof f === 'function') gcFn = f as GcFn;
  } catch {
    gcFn = null;
  }
  return gcFn;
}

/**
 * Asks V8 for one concurrent major collection.
 * @returns false when no gc function is available (nothing was requested)
 */
export function requestMajorGc(): boolean {
  const f = gc();
  if (!f) return false;
  f({ type: 'major', execution: 'async' });
  return true;
}

export class HeapRelease {
  private peak = 0;

  /**
   * @param minFlows smallest flow-count peak worth a collection when it has fallen away
   * @param request what asks for the collection (tests count calls)
   */
  constructor(
    private readonly minFlows = 8192,
    private readonly request: () => boolean = requestMajorGc,
  ) {}

  /** Called once a second with the live flow count; returns true when a collection was requested. */
  tick(flows: number): boolean {
    if (flows > this.peak) this.peak = flows;
    if (this.peak < this.minFlows || flows * 4 > this.peak) return false;
    this.peak = flows;
    return this.request();
  }
}
