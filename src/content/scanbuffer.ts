/**
 * Batches a transfer's body into scan jobs of `size` bytes (thesis §3.5.2: a transfer is scanned
 * when its buffer is full or at the end of the file). The overlap tail (longest atom − 1 bytes)
 * and partial matches are kept by the worker's signature stream (src/sigscan/stream.ts) between the
 * jobs of one transfer, so a signature split across buffers is found exactly once.
 *
 * Scan buffers are recycled (issue 13 item 4): a ScanBuffer takes each buffer from its scanner's
 * free list (ScanBufferFreeList) and allocates one only when the list is empty; the scanner gives
 * the buffer back once the job is scanned (./scan-pool.ts: the worker thread transfers it back in
 * its reply; the in-process scanner right after the scan). Body bytes are copied exactly once on
 * their way to a scan: into the scan buffer, by `push`.
 */
export interface ScanJobData {
  /** Transfer key: every job of one transfer goes to the same worker, in order. */
  key: string;
  /**
   * The new bytes of this buffer: a view of `data.length` bytes from offset 0 of a scan buffer
   * (`size` bytes), or an empty array for an empty final job. The scanner owns it from `scan` on:
   * a worker-thread scanner transfers (detaches) `data.buffer`, the in-process one recycles it.
   */
  data: Uint8Array;
  /** Absolute transfer offset of data[0]. */
  base: number;
  /** The transfer's last job: the scanner finishes it (EOF-anchored signatures). */
  final: boolean;
}

/**
 * Free scan buffers of one byte size, for reuse: at most `cap` are kept (memory ≤ cap × size
 * bytes), buffers given back past the cap are left to the garbage collector. The size is that of
 * the latest `take`; a take of another size (a new `scan.buffer` setting) empties the list.
 *
 * A buffer taken from the list is not zeroed: it holds an earlier transfer's bytes, but a
 * ScanBuffer writes its bytes from offset 0 and a job's `data` views only the bytes written
 * (offset 0 to its fill), so stale bytes are never scanned.
 */
export class ScanBufferFreeList {
  private readonly free: ArrayBuffer[] = [];
  /** Buffers handed out by `take` and not given back: the in-process scanner recycles only these. */
  private readonly out = new WeakSet<ArrayBufferLike>();
  private bytes = 0;
  /** Buffers allocated by `take` because the list was empty (a count, over the list's life). */
  allocated = 0;
  /** Buffers `take` handed out from the list (a count, over the list's life). */
  reused = 0;

  /** @param cap most free buffers kept (an integer ≥ 0; 0 disables recycling) */
  constructor(readonly cap: number) {}

  /** Free buffers held now (≤ cap). */
  get length(): number {
    return this.free.length;
  }

  /** Byte size of the buffers kept (that of the latest take; 0 before the first). */
  get size(): number {
    return this.bytes;
  }

  /**
   * A scan buffer of `size` bytes: a free one (its old contents kept) or, when none is free, a new
   * zeroed one.
   * @param size bytes (a positive integer)
   */
  take(size: number): Uint8Array {
    if (size !== this.bytes) {
      this.free.length = 0;
      this.bytes = size;
    }
    const b = this.free.pop();
    let buf: Uint8Array;
    if (b) {
      this.reused++;
      buf = new Uint8Array(b);
    } else {
      this.allocated++;
      buf = new Uint8Array(size);
    }
    this.out.add(buf.buffer);
    return buf;
  }

  /** Whether `buffer` was handed out by `take` and not given back since (same object). */
  issued(buffer: ArrayBufferLike): boolean {
    return this.out.has(buffer);
  }

  /**
   * Gives a scan buffer back. The caller guarantees that nothing else uses it any more (a buffer a
   * worker transferred back, or one `issued` to a job that is scanned and done).
   * @param buffer an ArrayBuffer of exactly `size` bytes; anything else (another size, a detached
   *   or shared buffer, or the list at its cap) is not kept
   * @returns whether the buffer was kept
   */
  give(buffer: ArrayBufferLike): boolean {
    this.out.delete(buffer);
    if (!(buffer instanceof ArrayBuffer) || this.bytes === 0 || buffer.byteLength !== this.bytes) return false;
    if (this.free.length >= this.cap) return false;
    this.free.push(buffer);
    return true;
  }

  /** Forgets every free buffer (the scanner closes). */
  clear(): void {
    this.free.length = 0;
  }
}

export class ScanBuffer {
  /** The scan buffer being filled; null until the next body byte (after a cut, or at the start). */
  private buf: Uint8Array | null = null;
  private fill = 0;
  private consumed = 0;

  /**
   * @param key transfer key
   * @param size buffer size in bytes (1–128 KiB; the thesis found 20–40 KB best; default 32 KiB)
   * @param free where scan buffers come from (the scanner's list); null: each is allocated
   */
  constructor(
    readonly key: string,
    readonly size: number,
    private readonly free: ScanBufferFreeList | null = null,
  ) {}

  /** Bytes waiting in the current, not yet full buffer. */
  get pendingBytes(): number {
    return this.fill;
  }

  /**
   * Appends body bytes (copied into the scan buffer; `bytes` may be reused once this returns).
   * A scan buffer is taken only when a byte arrives for it.
   * @returns the jobs of every buffer that became full (usually zero or one), in order
   */
  push(bytes: Uint8Array): ScanJobData[] {
    const jobs: ScanJobData[] = [];
    let off = 0;
    while (off < bytes.length) {
      const buf = (this.buf ??= this.free ? this.free.take(this.size) : new Uint8Array(this.size));
      const n = Math.min(this.size - this.fill, bytes.length - off);
      buf.set(bytes.subarray(off, off + n), this.fill);
      this.fill += n;
      off += n;
      if (this.fill === this.size) jobs.push(this.cut(false));
    }
    return jobs;
  }

  /** The transfer's final job: the pending bytes (possibly none). Nothing may be pushed after it. */
  finish(): ScanJobData {
    return this.cut(true);
  }

  private cut(final: boolean): ScanJobData {
    // The buffer is handed over as it is, a full one whole and a partial last one as a view of its
    // filled bytes (no copy either way; the scanner transfers or recycles the whole buffer). The
    // next byte takes a new buffer. `fill` is 0 exactly when no buffer is held (an empty final job).
    const buf = this.buf;
    const data = buf === null ? new Uint8Array(0) : this.fill === this.size ? buf : buf.subarray(0, this.fill);
    const job = { key: this.key, data, base: this.consumed, final };
    this.buf = null;
    this.consumed += this.fill;
    this.fill = 0;
    return job;
  }
}
