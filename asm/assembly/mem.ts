// Linear-memory allocator for the matcher.
//
// The matcher allocates no managed (GC) objects at all: every structure lives in raw linear memory
// obtained from this bump allocator, so the module runs with `--runtime stub` and never traps on
// allocation. Growth uses `memory.grow`; a failed grow is reported to the caller as 0 (the caller
// turns it into ERR_OOM), never as a trap.
//
// Allocations are 16-byte aligned and zero-filled (calloc semantics). Memory at or above
// `highWater` (the highest `top` ever reached) has never been handed out, so it is still zero from
// memory.grow and is not filled again; below it (after a relocation moved `top` down) we clear.

// @ts-ignore: decorator
@inline export const ALIGN: usize = 16;

let top: usize = 0;
let highWater: usize = 0;

// @ts-ignore: decorator
@inline function alignUp(n: u64): u64 {
  return (n + <u64>(ALIGN - 1)) & ~<u64>(ALIGN - 1);
}

function init(): void {
  if (top == 0) {
    top = <usize>alignUp(<u64>__heap_base);
    highWater = top;
  }
}

/** Zeroes [ptr, end) where it may be dirty, then makes `end` the heap top. */
function claim(ptr: usize, end: usize): void {
  if (ptr < highWater) memory.fill(ptr, 0, min(end, highWater) - ptr);
  top = end;
  if (end > highWater) highWater = end;
}

/** Makes sure linear memory covers [0, end). Returns false if memory cannot grow. */
function ensure(end: u64): bool {
  if (end > 0x1_0000_0000) return false;
  const have = <u64>memory.size() << 16;
  if (end <= have) return true;
  const pages = <i32>((end - have + 0xffff) >> 16);
  return memory.grow(pages) >= 0;
}

/** Current end of the heap (next free byte). */
export function heapTop(): usize {
  init();
  return top;
}

/** Allocates `size` zeroed bytes, 16-byte aligned. Returns 0 if memory cannot grow. */
export function calloc(size: u64): usize {
  init();
  const ptr = top;
  const end = alignUp(<u64>ptr + size);
  if (!ensure(end)) return 0;
  claim(ptr, <usize>end);
  return ptr;
}

/**
 * Extends the block at `ptr` (which must be the last allocation, i.e. end at the heap top) to
 * `newSize` bytes in place. The added bytes are zeroed. Returns false if memory cannot grow.
 */
export function extendLast(ptr: usize, oldSize: u64, newSize: u64): bool {
  init();
  if (<u64>alignUp(<u64>ptr + oldSize) != <u64>top) return false;
  const end = alignUp(<u64>ptr + newSize);
  if (!ensure(end)) return false;
  if (end > <u64>top) claim(top, <usize>end);
  // The old block's alignment padding is part of the new block: clear it too.
  const oldEnd = <u64>ptr + oldSize;
  if (newSize > oldSize) memory.fill(<usize>oldEnd, 0, <usize>(alignUp(oldEnd) - oldEnd));
  return true;
}

/** True if the block [ptr, ptr+size) is the last allocation. */
export function isLast(ptr: usize, size: u64): bool {
  init();
  return <u64>alignUp(<u64>ptr + size) == <u64>top;
}

/**
 * Moves `size` bytes from `src` down to `dst` (dst <= src, dst aligned) and makes `dst + size` the
 * new heap top, discarding everything that was above. Used to compact temporaries away.
 */
export function relocateDown(dst: usize, src: usize, size: usize): void {
  memory.copy(dst, src, size);
  top = <usize>alignUp(<u64>dst + <u64>size);
}

/** True if [ptr, ptr+len) lies inside the current linear memory. */
export function inBounds(ptr: usize, len: u64): bool {
  return <u64>ptr + len <= (<u64>memory.size() << 16);
}
