/**
 * The thesis' scan buffer (§3.5.2): a transfer's body is cut into buffers of `size` bytes; each
 * scan job is the previous buffer's last `tail` bytes (longest signature − 1) followed by the new
 * bytes, so a signature split across two buffers is still seen. A match is reported only when it
 * ends inside the new bytes (end > `skip`), so each occurrence is reported exactly once.
 */
export interface ScanJobData {
  /** Tail of the previous buffer followed by the new bytes. */
  data: Uint8Array;
  /** Length of the tail prefix: matches ending at or before it were reported by the previous job. */
  skip: number;
  /** Absolute transfer offset of data[0]. */
  base: number;
}

export class ScanBuffer {
  private buf: Uint8Array;
  private fill = 0;
  private tailBytes: Uint8Array = new Uint8Array(0);
  private consumed = 0;

  /**
   * @param size buffer size in bytes (the thesis' best: 20–40 KB; default 32 KiB)
   * @param tail overlap kept between buffers: longest signature length − 1 (≥ 0)
   */
  constructor(readonly size: number, readonly tail: number) {
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
      if (this.fill === this.size) jobs.push(this.cut());
    }
    return jobs;
  }

  /** The job for the last, partial buffer at the end of the transfer, or null if nothing is pending. */
  flush(): ScanJobData | null {
    return this.fill ? this.cut() : null;
  }

  private cut(): ScanJobData {
    const data = new Uint8Array(this.tailBytes.length + this.fill);
    data.set(this.tailBytes, 0);
    data.set(this.buf.subarray(0, this.fill), this.tailBytes.length);
    const job = { data, skip: this.tailBytes.length, base: this.consumed - this.tailBytes.length };
    this.consumed += this.fill;
    this.tailBytes = data.slice(Math.max(0, data.length - this.tail));
    this.fill = 0;
    return job;
  }
}
