/**
 * Batches a transfer's body into scan jobs of `size` bytes (thesis §3.5.2: a transfer is scanned
 * when its buffer is full or at the end of the file). The overlap tail (longest atom − 1 bytes)
 * and partial matches are kept by the worker's signature stream (src/sigscan/stream.ts) between the
 * jobs of one transfer, so a signature split across buffers is found exactly once.
 */
export interface ScanJobData {
  /** Transfer key: every job of one transfer goes to the same worker, in order. */
  key: string;
  /** The new bytes of this buffer. */
  data: Uint8Array;
  /** Absolute transfer offset of data[0]. */
  base: number;
  /** The transfer's last job: the scanner finishes it (EOF-anchored signatures). */
  final: boolean;
}

export class ScanBuffer {
  private buf: Uint8Array;
  private fill = 0;
  private consumed = 0;

  /**
   * @param key transfer key
   * @param size buffer size in bytes (1–128 KiB; the thesis found 20–40 KB best; default 32 KiB)
   */
  constructor(readonly key: string, readonly size: number) {
    this.buf = new Uint8Array(size);
  }

  /** Bytes waiting in the current, not yet full buffer. */
  get pendingBytes(): number {
    return this.fill;
  }

  /** Appends body bytes; returns the jobs of every buffer that became full (usually zero or one). */
  push(bytes: Uint8Array): ScanJobData[] {
    const jobs: ScanJobData[] = [];
    let off = 0;
    while (off < bytes.length) {
      const n = Math.min(this.size - this.fill, bytes.length - off);
      this.buf.set(bytes.subarray(off, off + n), this.fill);
      this.fill += n;
      off += n;
      if (this.fill === this.size) jobs.push(this.cut(false));
    }
    return jobs;
  }

  /** The transfer's final job: the pending bytes (possibly none). */
  finish(): ScanJobData {
    return this.cut(true);
  }

  private cut(final: boolean): ScanJobData {
    // A full buffer is handed over as it is (the scan pool transfers it to a worker) and a fresh one
    // takes its place: no copy of the 32 KiB per job; only a partial last buffer is cut to size.
    const full = this.fill === this.size;
    const job = { key: this.key, data: full ? this.buf : this.buf.slice(0, this.fill), base: this.consumed, final };
    if (full) this.buf = new Uint8Array(this.size);
    this.consumed += this.fill;
    this.fill = 0;
    return job;
  }
}
