/**
 * The one WebAssembly loader of p2pgw, for both modules built from asm/assembly/: the literal
 * matcher (`matcher`, asm/assembly/matcher.ts; src/matcher/matcher.ts) and the signature engine
 * (`sigdb`, asm/assembly/sigdb.ts; src/sigscan/wasm-engine.ts). In the style of undici's llhttp
 * wrapper: each module is located under asm/build relative to this file, compiled synchronously
 * ONCE per process and variant (release, or debug with P2PGW_WASM_DEBUG=1), and every user gets its
 * own cheap Instance (and so its own linear memory) of it, whose `abort` import throws and whose ABI
 * version is checked. Negative return codes become P2pgwErrors through `returnCodeError`.
 *
 * The path is resolved relative to this file; src/matcher/ (vitest) and dist/matcher/ (after tsc)
 * are both two levels below the package root, so the same URL works from both.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ErrorCodes, P2pgwError, type ErrorCode } from '../core/errors.js';

// The project's lib (ES2022, no DOM) has no WebAssembly typings: declare the little we use.
/** Linear memory of an instance. */
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
}
/** A compiled module (opaque). */
export interface WasmModule {
  readonly __wasmModule?: never;
}
export interface WasmApi {
  Module: new (bytes: Uint8Array) => WasmModule;
  Instance: new (
    mod: WasmModule,
    imports: Record<string, Record<string, unknown>>,
  ) => { readonly exports: Record<string, unknown> };
}
export const Wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

/**
 * A fresh instance (own linear memory) of `module`, whose `abort` import throws, with its ABI
 * version checked: the one place both WebAssembly boundaries (matcher, sigdb) instantiate.
 * @param name module name for messages (`matcher`, `sigdb`)
 * @param abi the ABI version this JS side speaks
 * @throws P2pgwError(P2PGW_ERR_WASM) when instantiation fails or the build is stale
 */
export function instantiateChecked<T extends { abi_version(): number }>(module: WasmModule, name: string, abi: number): T {
  let inst: InstanceType<WasmApi['Instance']>;
  try {
    inst = new Wasm.Instance(module, {
      env: {
        abort(): never {
          throw new P2pgwError(ErrorCodes.P2PGW_ERR_WASM, `${name} aborted`);
        },
      },
    });
  } catch (cause) {
    if (cause instanceof P2pgwError) throw cause;
    throw new P2pgwError(ErrorCodes.P2PGW_ERR_WASM, `cannot instantiate the ${name} module`, { cause });
  }
  const ex = inst.exports as unknown as T;
  const got = ex.abi_version();
  if (got !== abi) {
    throw new P2pgwError(ErrorCodes.P2PGW_ERR_WASM, `${name} module ABI ${got}, expected ${abi}: run \`npm run build:asm\``);
  }
  return ex;
}

/** True when the debug build is requested (env P2PGW_WASM_DEBUG=1). */
export function wantDebugBuild(): boolean {
  return process.env.P2PGW_WASM_DEBUG === '1';
}

/**
 * URL of `asm/build/<file>`: two levels above this file (src/matcher, dist/matcher), else the nearest
 * ancestor directory that has it (other build layouts, e.g. the benchmark's private build).
 */
export function asmBuildUrl(file: string): URL {
  const near = new URL(`../../asm/build/${file}`, import.meta.url);
  if (existsSync(near)) return near;
  for (let dir = dirname(fileURLToPath(import.meta.url)); dir !== dirname(dir); dir = dirname(dir)) {
    const p = join(dir, 'asm', 'build', file);
    if (existsSync(p)) return pathToFileURL(p);
  }
  return near;
}

/** The WebAssembly modules of asm/build (`<name>.release.wasm`, `<name>.debug.wasm`). */
export type WasmName = 'matcher' | 'sigdb';

/** URL of the release (default) or debug build of module `name`. */
export function wasmUrl(name: WasmName, debug = wantDebugBuild()): URL {
  return asmBuildUrl(`${name}.${debug ? 'debug' : 'release'}.wasm`);
}

const modules = new Map<string, WasmModule>();

/**
 * The compiled module `name` (compiled synchronously on first use, then cached for the process).
 * @throws P2pgwError(P2PGW_ERR_WASM) when the file is missing (run `npm run build:asm`) or invalid
 */
export function wasmModule(name: WasmName, debug = wantDebugBuild()): WasmModule {
  const key = `${name}.${debug ? 'debug' : 'release'}`;
  const cached = modules.get(key);
  if (cached) return cached;
  const url = wasmUrl(name, debug);
  let bytes: Buffer;
  try {
    bytes = readFileSync(url);
  } catch (cause) {
    throw new P2pgwError(ErrorCodes.P2PGW_ERR_WASM, `cannot read ${fileURLToPath(url)}: run \`npm run build:asm\``, { cause });
  }
  let mod: WasmModule;
  try {
    mod = new Wasm.Module(bytes);
  } catch (cause) {
    throw new P2pgwError(ErrorCodes.P2PGW_ERR_WASM, `cannot compile ${fileURLToPath(url)}`, { cause });
  }
  modules.set(key, mod);
  return mod;
}

/**
 * A fresh instance (own linear memory) of module `name`, ABI-checked (see instantiateChecked).
 * @throws P2pgwError(P2PGW_ERR_WASM)
 */
export function instantiateWasm<T extends { abi_version(): number }>(name: WasmName, abi: number, debug = wantDebugBuild()): T {
  return instantiateChecked<T>(wasmModule(name, debug), name, abi);
}

/**
 * A P2pgwError for a negative return code of a module: `<name> <what>: <text> (code <code>)`, with
 * `texts` the module's code table; `code` is P2PGW_ERR_WASM unless `errCode` says otherwise.
 */
export function returnCodeError(name: WasmName, code: number, what: string, texts: Readonly<Record<number, string>>, errCode: ErrorCode = ErrorCodes.P2PGW_ERR_WASM): P2pgwError {
  return new P2pgwError(errCode, `${name} ${what}: ${texts[code] ?? `unknown error code ${code}`} (code ${code})`);
}

// ---- The matcher module (asm/assembly/matcher.ts) ----

/** ABI version the JS side speaks; must equal the module's `abi_version()`. */
export const MATCHER_ABI_VERSION = 2;

/** Blob format (see asm/assembly/codes.ts). */
export const BLOB_VERSION = 1;
export const BLOB_HEADER = 8;
export const ENTRY_HEADER = 8;
export const FLAG_NOCASE = 1;

/** Return codes of build()/scan() (see asm/assembly/codes.ts). */
export const WasmCodes = Object.freeze({
  OK: 0,
  ERR_OOM: -1,
  ERR_BAD_BLOB: -2,
  ERR_EMPTY_PATTERN: -3,
  ERR_ALREADY_BUILT: -4,
  ERR_NOT_BUILT: -5,
  ERR_BAD_STATE: -6,
  ERR_OUT_TOO_SMALL: -7,
  ERR_TOO_MANY_STATES: -8,
  ERR_BAD_ARG: -9,
  ERR_BAD_IMAGE: -10,
} as const);

const CODE_TEXT: Record<number, string> = {
  [-1]: 'out of memory (memory.grow failed)',
  [-2]: 'malformed pattern blob',
  [-3]: 'empty pattern',
  [-4]: 'automaton already built',
  [-5]: 'automaton not built',
  [-6]: 'invalid stream state',
  [-7]: 'output buffer smaller than max_out()',
  [-8]: 'too many automaton states',
  [-9]: 'invalid argument',
  [-10]: 'malformed matcher image',
};

/** Raw exports of one matcher instance. All numbers are i32; pointers may need `>>> 0`. */
export interface MatcherExports {
  readonly memory: WasmMemory;
  abi_version(): number;
  alloc(size: number): number;
  input_reserve(size: number): number;
  /** Automata with more states than this use the sparse form (call before build). */
  set_dense_max(states: number): void;
  build(ptr: number, len: number): number;
  /** Copies the built matcher into one position-independent image (image_ptr, image_len). */
  export_image(): number;
  image_ptr(): number;
  image_len(): number;
  /** Adopts an image copied to `ptr` (16-byte aligned) instead of building. */
  load_image(ptr: number, len: number): number;
  max_out(): number;
  state_count(which: number): number;
  /** 0 empty, 1 dense (full DFA), 2 sparse (goto edges + failure links). */
  automaton_kind(which: number): number;
  scan(stCs: number, stCi: number, inPtr: number, inLen: number, outPtr: number, outCap: number): number;
  result_pos(): number;
  result_state_cs(): number;
  result_state_ci(): number;
}

/** Maps a negative return code to a P2pgwError (pattern problems -> P2PGW_ERR_PATTERN). */
export function wasmError(code: number, what: string): P2pgwError {
  const errCode =
    code === WasmCodes.ERR_EMPTY_PATTERN || code === WasmCodes.ERR_TOO_MANY_STATES
      ? ErrorCodes.P2PGW_ERR_PATTERN
      : ErrorCodes.P2PGW_ERR_WASM;
  const err = returnCodeError('matcher', code, what, CODE_TEXT, errCode);
  (err as P2pgwError & { wasmCode?: number }).wasmCode = code;
  return err;
}

/** URL of the release (default) or debug build of the matcher. */
export function matcherWasmUrl(debug = wantDebugBuild()): URL {
  return wasmUrl('matcher', debug);
}

/** The compiled matcher module (compiled once per process and variant). */
export function matcherModule(debug = wantDebugBuild()): WasmModule {
  return wasmModule('matcher', debug);
}

/** A fresh instance (own linear memory) of the matcher module. */
export function instantiateMatcher(debug = wantDebugBuild()): MatcherExports {
  return instantiateWasm<MatcherExports>('matcher', MATCHER_ABI_VERSION, debug);
}
