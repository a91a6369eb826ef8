/**
 * Whole-file hash signatures (ClamAV `.hdb` = MD5, `.hsb` = SHA-1/SHA-256; format
 * `HashString:FileSize:MalwareName`, see ClamAV "Creating signatures for ClamAV", "Hash-based
 * signatures"). A transfer is hashed incrementally while it streams (node:crypto `createHash`
 * `update` per chunk) and looked up once at its end by (algorithm, digest, size).
 */
import { createHash, type Hash } from 'node:crypto';
import type { HashAlgo, HashEntry } from './compile.js';

/** One hash-signature hit: signature id (index in the compiled database) and its name. */
export interface HashHit {
  sig: number;
  name: string;
  algo: HashAlgo;
}

/** Lookup table of hash signatures, keyed by algorithm and digest. */
export class HashSigs {
  /** Algorithms that have at least one signature (a FileHasher computes only these). */
  readonly algos: readonly HashAlgo[];
  private readonly byKey = new Map<string, HashEntry[]>();

  /** @param entries compiled entries (`size` -1 = any size) @param names signature names by id */
  constructor(readonly entries: readonly HashEntry[], private readonly names: readonly string[]) {
    const algos = new Set<HashAlgo>();
    for (const e of entries) {
      algos.add(e.algo);
      const key = `${e.algo}:${e.digest}`;
      const list = this.byKey.get(key);
      if (list) list.push(e);
      else this.byKey.set(key, [e]);
    }
    this.algos = [...algos].sort();
  }

  /** Number of hash signatures. */
  get size(): number {
    return this.entries.length;
  }

  /** Signatures matching a hex `digest` of `algo` for a file of `size` bytes. */
  lookup(algo: HashAlgo, digest: string, size: number): HashHit[] {
    const list = this.byKey.get(`${algo}:${digest.toLowerCase()}`);
    if (!list) return [];
    return list.filter((e) => e.size === -1 || e.size === size).map((e) => ({ sig: e.sig, name: this.names[e.sig], algo }));
  }

  /** A fresh incremental hasher for one transfer. */
  newHasher(): FileHasher {
    return new FileHasher(this);
  }
}

/** Incremental hasher of one transfer: `update` every chunk in order, then `finish` once. */
export class FileHasher {
  private hashes: Hash[] | null;
  private bytes = 0;

  constructor(private readonly sigs: HashSigs) {
    this.hashes = sigs.algos.map((a) => createHash(a));
  }

  /** Bytes hashed so far. */
  get size(): number {
    return this.bytes;
  }

  /** Feeds the next chunk. @throws Error after finish() */
  update(chunk: Uint8Array): void {
    if (!this.hashes) throw new Error('FileHasher: update after finish');
    for (const h of this.hashes) h.update(chunk);
    this.bytes += chunk.length;
  }

  /** Digests and looks up; the hasher is spent afterwards (call `reset` to reuse). */
  finish(): HashHit[] {
    if (!this.hashes) throw new Error('FileHasher: finish called twice');
    const hits: HashHit[] = [];
    this.sigs.algos.forEach((algo, k) => hits.push(...this.sigs.lookup(algo, this.hashes![k].digest('hex'), this.bytes)));
    this.hashes = null;
    return hits;
  }

  /** Starts over for a new transfer. */
  reset(): void {
    this.hashes = this.sigs.algos.map((a) => createHash(a));
    this.bytes = 0;
  }
}
