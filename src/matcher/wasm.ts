/**
 * Loading of the matcher WebAssembly module (asm/assembly/matcher.ts), in the style of undici's
 * llhttp wrapper: the module is compiled synchronously ONCE per process and variant; every Matcher
 * gets its own cheap Instance (and so its own linear memory) of that module.
 *
 * The path is resolved relative to this file; src/sigscan/ (vitest) and dist/sigscan/ (after tsc) are both
 * two levels below the package root, so the same URL works from both.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ErrorCodes, P2pgwError } from '../core/errors.js';

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

/** ABI version the JS side speaks; must equal the module's `abi_version()`. */
export const MATCHER_ABI_VERSION = 1;

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
};

/** Raw exports of one matcher instance. All numbers are i32; pointers may need `>>> 0`. */
export interface MatcherExports {
  readonly memory: WasmMemory;
  abi_version(): number;
  alloc(size: number): number;
  input_reserve(size: number): number;
  build(ptr: number, len: number): number;
  max_out(): number;
  state_count(which: number): number;
  scan(stCs: number, stCi: number, inPtr: number, inLen: number, outPtr: number, outCap: number): number;
  result_pos(): number;
  result_state_cs(): number;
  result_state_ci(): number;
}

/** Maps a negative return code to a P2pgwError (pattern problems -> P2PGW_ERR_PATTERN). */
export function wasmError(code: number, what: string): P2pgwError {
  const text = CODE_TEXT[code] ?? `unknown error code ${code}`;
  const errCode =
    code === WasmCodes.ERR_EMPTY_PATTERN || code === WasmCodes.ERR_TOO_MANY_STATES
      ? ErrorCodes.P2PGW_ERR_PATTERN
      : ErrorCodes.P2PGW_ERR_WASM;
  const err = new P2pgwError(errCode, `matcher ${what}: ${text} (code ${code})`);
  (err as P2pgwError & { wasmCode?: number }).wasmCode = code;
  return err;
}

/** True when the debug build is requested (env P2PGW_WASM_DEBUG=1). */
export function wantDebugBuild(): boolean {
  return process.env.P2PGW_WASM_DEBUG === '1';
}

/**
 * URL of `asm/build/<file>`: two levels above this file (src/sigscan, dist/sigscan), else the nearest
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

/** URL of the release (default) or debug build. */
export function matcherWasmUrl(debug = wantDebugBuild()): URL {
  return asmBuildUrl(debug ? 'matcher.debug.wasm' : 'matcher.release.wasm');
}

const modules = new Map<boolean, WasmModule>();

/** The compiled module (compiled synchronously on first use, then cached for the process). */
export function matcherModule(debug = wantDebugBuild()): WasmModule {
  const cached = modules.get(debug);
  if (cached) return cached;
  const url = matcherWasmUrl(debug);
  let bytes: Buffer;
  try {
    bytes = readFileSync(url);
  } catch (cause) {
    throw new P2pgwError(
      ErrorCodes.P2PGW_ERR_WASM,
      `cannot read ${fileURLToPath(url)}: run \`npm run build:asm\``,
      { cause },
    );
  }
  let mod: WasmModule;
  try {
    mod = new Wasm.Module(bytes);
  } catch (cause) {
    throw new P2pgwError(ErrorCodes.P2PGW_ERR_WASM, `cannot compile ${fileURLToPath(url)}`, { cause });
  }
  modules.set(debug, mod);
  return mod;
}

/** A fresh instance (own linear memory) of the matcher module. */
export function instantiateMatcher(debug = wantDebugBuild()): MatcherExports {
  return instantiateChecked<MatcherExports>(matcherModule(debug), 'matcher', MATCHER_ABI_VERSION);
}
