// Return codes and blob-format constants of the matcher ABI (mirrored in src/matcher/wasm.ts).

/** ABI version reported by `abi_version()`; bump on any incompatible change. */
export const ABI_VERSION: i32 = 2;
/** Version word at the start of the pattern blob. */
export const BLOB_VERSION: u32 = 1;
/** Blob header: u32 version, u32 pattern count. */
export const BLOB_HEADER: usize = 8;
/** Per-pattern entry header: u32 length, u32 flags; then `length` bytes (no padding). */
export const ENTRY_HEADER: usize = 8;
/** Entry flag: match ASCII letters case-insensitively. */
export const FLAG_NOCASE: u32 = 1;

/** States of a dense automaton must stay below this (its state ids are stored as `id << 8` in an i32). */
export const MAX_STATES: i32 = 1 << 21;

export const OK: i32 = 0;
/** memory.grow failed. */
export const ERR_OOM: i32 = -1;
/** Pattern blob malformed (bad version, truncated, unknown flags, trailing bytes, out of bounds). */
export const ERR_BAD_BLOB: i32 = -2;
/** A pattern of length 0. */
export const ERR_EMPTY_PATTERN: i32 = -3;
/** build() called twice on one instance. */
export const ERR_ALREADY_BUILT: i32 = -4;
/** scan() before a successful build(). */
export const ERR_NOT_BUILT: i32 = -5;
/** scan() given a state id outside the automaton. */
export const ERR_BAD_STATE: i32 = -6;
/** scan() given an output capacity below max_out(). */
export const ERR_OUT_TOO_SMALL: i32 = -7;
/** An automaton would need MAX_STATES states or more. */
export const ERR_TOO_MANY_STATES: i32 = -8;
/** Negative length or a buffer outside linear memory. */
export const ERR_BAD_ARG: i32 = -9;
/** load_image() given an image whose header is inconsistent (image.ts). */
export const ERR_BAD_IMAGE: i32 = -10;
