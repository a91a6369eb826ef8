/**
 * `SigDatabase`: a compiled signature database (matcher v2) — the gateway's virus/signature
 * scanner. Compile once from signature sources (`compile`), save it as one transferable byte blob
 * (`serialize`, `saveFile`; `p2pgw compile-sigs`), load it anywhere (`load`, `loadFile`: a router at
 * start, or each worker thread into its own WebAssembly instance), then scan any number of streams
 * with it (`newStream`, `chunked`). Pattern language and semantics: src/sigscan/README.md.
 *
 * Engine: asm/assembly/sigdb.ts (q-gram prefilter + exact verification, linear time); chains,
 * offsets and alternatives: src/sigscan/chain.ts; hashes: src/sigscan/hash.ts.
 */
import { writeFile } from 'node:fs/promises';
import { ErrorCodes, P2pgwError } from '../core/errors.js';
import { DEFAULTS } from '../core/defaults.js';
import { readRegularFile } from '../core/files.js';
import { directOwners } from './chain.js';
import { compileSources, type CompileOptions, type DbMeta, type SigSource } from './compile.js';
import { readContainer, writeContainer } from './dbfile.js';
import { Engine } from './wasm-engine.js';
import { HashSigs } from './hash.js';
import { ChunkedScanner, SigStream, type ChunkedOptions, type DbCore, type OnSigMatch, type StreamOptions } from './stream.js';
import { buildEngineBlob, type TableOptions, type TierStats } from './tables.js';

/** Options of `SigDatabase.compile`. */
export interface SigCompileOptions extends CompileOptions, TableOptions {
  /** Use the debug build of the engine (default: env P2PGW_WASM_DEBUG=1). */
  debug?: boolean;
}

/** Sizes of a database, for logs and benchmarks. */
export interface SigDbStats {
  /** All signatures; body + hash. */
  sigs: number;
  bodySigs: number;
  hashSigs: number;
  /** Chains after expanding multi-byte alternatives. */
  variants: number;
  /** Distinct fixed-length pieces the engine searches for. */
  atoms: number;
  /** Longest atom in bytes (streams keep longestAtom - 1 bytes of overlap). */
  longestAtom: number;
  /** Largest EOF-n (streams keep that many trailing bytes when > 0). */
  eofTail: number;
  tiers: TierStats[];
  /** Engine tables (bytes), linear memory of this instance (bytes), JS metadata arrays (bytes). */
  engineBytes: number;
  wasmMemoryBytes: number;
  metaBytes: number;
}

/** A compiled, immutable signature database shared by many streams. */
export class SigDatabase {
  /** @internal What streams use. */
  readonly core: DbCore;
  readonly #tiers: TierStats[];

  private constructor(meta: DbMeta, engine: Engine, tiers: TierStats[]) {
    const hashSigs = meta.hashes.length > 0 ? new HashSigs(meta.hashes, meta.names) : null;
    this.core = { engine, meta, direct: directOwners(meta), hashSigs };
    this.#tiers = tiers;
  }

  /**
   * Compiles signatures; the id reported for `sigs[i]` is `i`.
   * @throws P2pgwError(P2PGW_ERR_PATTERN) naming the signature's origin ("file:line") on bad input
   * @throws P2pgwError(P2PGW_ERR_WASM) if the engine cannot be instantiated or runs out of memory
   */
  static compile(sigs: readonly SigSource[], options: SigCompileOptions = {}): SigDatabase {
    const c = compileSources(sigs, options);
    const { blob, tiers } = buildEngineBlob(c.atoms, c.classes, options);
    return new SigDatabase(c.meta, new Engine(blob, options.debug), tiers);
  }

  /**
   * Loads a serialised database (e.g. transferred to a worker). `source` names it in errors.
   * @throws P2pgwError(P2PGW_ERR_PATTERN) if the container is corrupt; (P2PGW_ERR_WASM) if the engine
   * rejects its tables
   */
  static load(bytes: Uint8Array, opts: { source?: string; debug?: boolean } = {}): SigDatabase {
    const source = opts.source ?? '<bytes>';
    const c = readContainer(bytes, source);
    let engine: Engine;
    try {
      engine = new Engine(c.engine, opts.debug);
    } catch (e) {
      if (e instanceof P2pgwError) throw new P2pgwError(e.code, `${source}: ${e.message}`, { cause: e });
      throw e;
    }
    if (engine.atomCount !== c.meta.atomLen.length) {
      throw new P2pgwError(ErrorCodes.P2PGW_ERR_PATTERN, `${source}: not a usable p2pgw signature database: atom count disagrees`);
    }
    for (let a = 0; a < engine.atomCount; a++) {
      if (engine.ex.db_atom_len(a) !== c.meta.atomLen[a]) {
        throw new P2pgwError(ErrorCodes.P2PGW_ERR_PATTERN, `${source}: not a usable p2pgw signature database: atom ${a} length disagrees`);
      }
    }
    return new SigDatabase(c.meta, engine, c.tiers);
  }

  /** Reads and loads a `.p2pgwdb` file. @throws P2pgwError naming the file */
  static loadFile(path: string, opts: { debug?: boolean } = {}): SigDatabase {
    const bytes = readRegularFile(path, DEFAULTS.files.maxSignatureBytes, (why) => new P2pgwError(ErrorCodes.P2PGW_ERR_PATTERN, `${path}: cannot read signature database: ${why}`));
    return SigDatabase.load(bytes, { source: path, debug: opts.debug });
  }

  /** The database as one self-checking byte blob (transferable to workers, savable to a file). */
  serialize(): Uint8Array {
    return writeContainer({ meta: this.core.meta, engine: this.core.engine.blob(), tiers: this.#tiers });
  }

  /** Writes `serialize()` to `path`. */
  async saveFile(path: string): Promise<void> {
    await writeFile(path, this.serialize());
  }

  /** Number of signatures (ids are 0 .. sigCount - 1). */
  get sigCount(): number {
    return this.core.meta.names.length;
  }

  /** Name of signature `id`. */
  sigName(id: number): string {
    return this.core.meta.names[id];
  }

  /** A streaming scanner (one per connection direction or transfer). */
  newStream(opts: StreamOptions = {}): SigStream {
    return new SigStream(this.core, opts);
  }

  /** A buffer + overlap scanner (thesis scheme, default 32 KiB buffers). */
  chunked(opts: ChunkedOptions = {}): ChunkedScanner {
    return new ChunkedScanner(this.core, opts);
  }

  /** One-shot scan of a whole buffer as a complete stream (EOF and hash signatures included). */
  scan(buf: Uint8Array, onMatch: OnSigMatch): void {
    const s = this.newStream();
    s.write(buf, onMatch);
    s.end(onMatch);
  }

  /** Sizes (see SigDbStats). */
  get stats(): SigDbStats {
    const m = this.core.meta;
    const hashSigs = m.hashes.length;
    let metaBytes = 0;
    for (const a of [m.sigOff, m.sigN, m.sigShift, m.sigNVar, m.atomLen, m.ownerStart, m.ownerVar, m.ownerSeg, m.varSig, m.varNSeg, m.varGap0, m.gapMin, m.gapMax, this.core.direct]) {
      metaBytes += a.byteLength;
    }
    for (const s of m.names) metaBytes += 16 + 2 * s.length;
    return {
      sigs: m.names.length, bodySigs: m.names.length - hashSigs, hashSigs, variants: m.varSig.length, atoms: m.atomLen.length,
      longestAtom: m.maxAtomLen, eofTail: m.maxEof, tiers: this.#tiers, engineBytes: this.core.engine.blobSize,
      wasmMemoryBytes: this.core.engine.memoryBytes(), metaBytes,
    };
  }
}
