/**
 * Test harness for the stream inspectors: an InspectEvents recorder that checks the transfer
 * life cycle (fileData/fileEnd only between fileStart and fileEnd, no empty fileData), a
 * normalised event list (consecutive fileData of one transfer merged into one entry with the
 * sha256 and length of the bytes, so results compare across input splits), and feeders that
 * play a script (steps in protocol order) split at chosen global offsets.
 */
import { createHash } from 'node:crypto';
import { expect } from 'vitest';
import fc from 'fast-check';
import type { ChatMessage, Dir, FileInfo, InspectEvents, StreamInspector } from '../../../src/apps/types.js';
import type { Step } from '../../../src/apps/session-types.js';

export type Ev =
  | { t: 'chat'; dir: Dir; msg: ChatMessage }
  | { t: 'name'; dir: Dir; name: string; source: string }
  | { t: 'start'; dir: Dir; id: number; info: FileInfo }
  | { t: 'data'; id: number; len: number; sha256: string }
  | { t: 'end'; id: number; complete: boolean }
  | { t: 'weird'; name: string };

type Raw = Exclude<Ev, { t: 'data' }> | { t: 'data'; id: number; parts: Uint8Array[] };

export const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** Records events; throws on a broken transfer life cycle. */
export class Recorder implements InspectEvents {
  readonly raw: Raw[] = [];
  readonly files = new Map<number, Uint8Array[]>();
  private readonly open = new Set<number>();
  private next = 1;

  chat(dir: Dir, msg: ChatMessage): void {
    this.raw.push({ t: 'chat', dir, msg: { ...msg } });
  }
  fileName(dir: Dir, name: string, source: string): void {
    this.raw.push({ t: 'name', dir, name, source });
  }
  fileStart(dir: Dir, info: FileInfo): number {
    const id = this.next++;
    this.open.add(id);
    this.files.set(id, []);
    this.raw.push({ t: 'start', dir, id, info: { ...info } });
    return id;
  }
  fileData(id: number, bytes: Uint8Array): void {
    if (!this.open.has(id)) throw new Error(`fileData for transfer ${id} that is not open`);
    if (bytes.length === 0) throw new Error('empty fileData');
    const copy = bytes.slice();
    this.files.get(id)!.push(copy);
    const last = this.raw[this.raw.length - 1];
    if (last?.t === 'data' && last.id === id) last.parts.push(copy);
    else this.raw.push({ t: 'data', id, parts: [copy] });
  }
  fileEnd(id: number, complete: boolean): void {
    if (!this.open.delete(id)) throw new Error(`fileEnd for transfer ${id} that is not open`);
    this.raw.push({ t: 'end', id, complete });
  }
  weird(name: string): void {
    this.raw.push({ t: 'weird', name });
  }

  /** Transfers started and not ended. */
  get openTransfers(): number {
    return this.open.size;
  }

  /** Bytes of transfer `id`, concatenated. */
  file(id: number): Uint8Array {
    return Buffer.concat(this.files.get(id) ?? []);
  }

  /** The event list with merged fileData entries. */
  events(): Ev[] {
    return this.raw.map((e) => {
      if (e.t !== 'data') return e;
      const all = Buffer.concat(e.parts);
      return { t: 'data', id: e.id, len: all.length, sha256: sha(all) };
    });
  }
}

/** A script: (direction, bytes) in protocol order. */
export type Script = readonly (readonly [Dir, Uint8Array])[];

/** A lab session's steps as a script (`out` = dir 0). */
export const fromSteps = (steps: readonly Step[]): Script => steps.map((s) => [s.dir === 'out' ? 0 : 1, s.bytes] as const);

export const text = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'latin1'));
export const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
export const cat = (...parts: Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(parts));

export interface FeedOpts {
  /** Global offsets (into the concatenated script) where input is split. */
  cuts?: Iterable<number>;
  /** Split every step into single octets. */
  bytewise?: boolean;
  /** Call onEnd for both directions after the script (default true). */
  end?: boolean;
}

/** Plays `script` into a fresh inspector; returns the recorder. */
export function feed(make: (ev: InspectEvents) => StreamInspector, script: Script, opts: FeedOpts = {}): Recorder {
  const rec = new Recorder();
  const insp = make(rec);
  const cuts = [...(opts.cuts ?? [])].sort((a, b) => a - b);
  let pos = 0;
  for (const [dir, bytes] of script) {
    let from = 0;
    const inner = cuts.filter((c) => c > pos && c < pos + bytes.length).map((c) => c - pos);
    if (opts.bytewise) for (let i = 1; i < bytes.length; i++) inner.push(i);
    for (const c of [...new Set(inner)].sort((a, b) => a - b)) {
      insp.onData(dir, bytes.subarray(from, c));
      from = c;
    }
    if (from < bytes.length) insp.onData(dir, bytes.subarray(from));
    pos += bytes.length;
  }
  if (opts.end !== false) {
    insp.onEnd(0);
    insp.onEnd(1);
  }
  return rec;
}

export const totalLength = (script: Script): number => script.reduce((n, [, b]) => n + b.length, 0);

/**
 * Asserts that the events are the same for the unsplit script, split at every single offset,
 * byte by byte, and at `runs` random sets of offsets (fast-check). Returns the reference events
 * and recorder. `stride` > 1 tests every stride-th offset only (for long scripts).
 */
export function splitInvariant(
  make: (ev: InspectEvents) => StreamInspector,
  script: Script,
  opts: { runs?: number; stride?: number; end?: boolean } = {},
): { events: Ev[]; rec: Recorder } {
  const end = opts.end;
  const rec = feed(make, script, { end });
  const ref = rec.events();
  const total = totalLength(script);
  for (let k = 1; k < total; k += opts.stride ?? 1) {
    const got = feed(make, script, { cuts: [k], end }).events();
    if (JSON.stringify(got) !== JSON.stringify(ref)) expect(got, `split at ${k}`).toEqual(ref);
  }
  expect(feed(make, script, { bytewise: true, end }).events()).toEqual(ref);
  if (total > 1) {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: total - 1 }), { maxLength: 24 }), (cuts) => {
        expect(feed(make, script, { cuts, end }).events()).toEqual(ref);
      }),
      { numRuns: opts.runs ?? 150 },
    );
  }
  return { events: ref, rec };
}

/** Lab build options used by the tests. */
export const LAB = { serverAddr: '10.0.0.2', clientAddr: '10.0.0.1', port: 40000, seed: 7, bulkBytes: 4096 };
