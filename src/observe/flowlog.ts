/**
 * The live flow log: flow records (src/observe/flowrecord.ts) of ended flows as JSON Lines in a
 * directory, in size-rotated files whose total size is capped, with a free-space floor.
 *
 * Files are named `flows-<ISO 8601 basic UTC time>-<seq>.jsonl`, e.g.
 * `flows-20240501T120000Z-000007.jsonl`, created with mode 0600 (O_CREAT|O_EXCL|O_APPEND). `seq`
 * grows by one per file and continues after the largest one found in the directory, so a restart
 * always continues in a new file and "oldest" means "smallest seq".
 *
 * Guarantees:
 * - A record is written whole or not at all: one write(2) of the whole line per record on an
 *   O_APPEND descriptor. A short or failed write (ENOSPC, EIO) is cut back with ftruncate(2) to the
 *   previous size, so every line of every file parses (readers may see a record appear, never half).
 * - A rotation happens between records, never inside one: the next record starts a new file when
 *   it would take the current file past `maxFileBytes`.
 * - Before a write, the oldest files (ours only: foreign names are never touched) are removed until
 *   every file of ours plus the new record fit in `maxTotalBytes`.
 * - Free space of the directory's file system (fs.statfs: f_bavail × f_bsize, i.e. what an
 *   unprivileged writer may use) is checked before writing; below `minFreeBytes` records are
 *   dropped and counted, and writing resumes when space is back.
 * - `write` never throws: every problem is a named counter (below) and an `onEvent` call.
 *
 * Counters: flowlog_records, flowlog_bytes, flowlog_files_opened, flowlog_rotated,
 * flowlog_removed_oldest, flowlog_low_disk (entered the low-space state),
 * flowlog_dropped_low_disk, flowlog_dropped_too_large, flowlog_dropped_closed,
 * flowlog_write_error, flowlog_statfs_error, flowlog_remove_error.
 *
 * Writes are synchronous: a record is ~400 bytes and flows end at most thousands of times a
 * second, and a synchronous write is what makes "whole line or nothing" checkable.
 */
import fs from 'node:fs';
import path from 'node:path';
import { P2pgwError } from '../core/errors.js';
import { fsReason, kindOf } from '../core/files.js';
import type { Counters } from '../core/counters.js';

/** Free-space figures of a file system, as fs.statfsSync returns them (bigint accepted). */
export interface StatfsLike {
  /** Free blocks available to unprivileged users. */
  bavail: number | bigint;
  /** Block size, bytes. */
  bsize: number | bigint;
}

/** Something that happened to the log; for the daemon's log lines. */
export type FlowLogEvent =
  | { type: 'opened'; file: string }
  | { type: 'removed'; file: string; bytes: number }
  | { type: 'low_disk'; freeBytes: number; minFreeBytes: number }
  | { type: 'disk_ok'; freeBytes: number }
  | { type: 'error'; op: 'open' | 'write' | 'remove' | 'statfs'; file: string; error: string };

export interface FlowLogOptions {
  /** Directory of the log files; created (mode 0700) if missing. */
  dir: string;
  /** Largest size of one file, bytes (>= 1024). A record longer than this is dropped (counted). */
  maxFileBytes: number;
  /** Largest total size of our files in `dir`, bytes (>= maxFileBytes). */
  maxTotalBytes: number;
  /** Free-space floor of the file system, bytes (0 disables the check). */
  minFreeBytes: number;
  /** Injected for tests; default fs.statfsSync. */
  statfs?: (dir: string) => StatfsLike;
  /** Clock for file names; default `new Date()`. */
  now?: () => Date;
  /** Free space is re-read at least this often, ms (default 1000), and before every write near the floor. */
  statfsIntervalMs?: number;
  onEvent?: (ev: FlowLogEvent) => void;
}

/** Name pattern of our files: time in ISO 8601 basic format (UTC), then the sequence number. */
export const FLOWLOG_NAME = /^flows-(\d{8}T\d{6}Z)-(\d{6,})\.jsonl$/;

interface LogFile {
  name: string;
  seq: number;
  size: number;
}

/** ISO 8601 basic-format UTC time to the second: `20240501T120000Z`. */
export function isoBasic(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/[-:]/g, '');
}

/** A record re-read is considered near the floor within this many bytes (statfs before each write). */
const NEAR_FLOOR = 1024 * 1024;

/**
 * The checks the FlowLog constructor makes before creating anything (also run alone by `p2pgw
 * check-config`): the sizes, and that `dir`, when it exists, is a directory.
 * @throws P2pgwError(P2PGW_ERR_CONFIG) naming the option or the directory
 */
export function checkFlowLogOptions(opts: Pick<FlowLogOptions, 'dir' | 'maxFileBytes' | 'maxTotalBytes' | 'minFreeBytes'>): void {
  const { maxFileBytes, maxTotalBytes, minFreeBytes } = opts;
  const bad = (m: string): never => {
    throw new P2pgwError('P2PGW_ERR_CONFIG', `flow log: ${m}`);
  };
  if (!Number.isSafeInteger(maxFileBytes) || maxFileBytes < 1024) bad(`max_file_bytes must be an integer >= 1024 (got ${maxFileBytes})`);
  if (!Number.isSafeInteger(maxTotalBytes) || maxTotalBytes < maxFileBytes) bad(`max_total_bytes must be an integer >= max_file_bytes (got ${maxTotalBytes})`);
  if (!Number.isSafeInteger(minFreeBytes) || minFreeBytes < 0) bad(`min_free_bytes must be an integer >= 0 (got ${minFreeBytes})`);
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(opts.dir, { throwIfNoEntry: false });
  } catch (err) {
    bad(`directory ${opts.dir}: ${fsReason(err)}`);
  }
  if (st && !st.isDirectory()) bad(`directory ${opts.dir} exists and is ${kindOf(st)}, not a directory`);
}

export class FlowLog {
  private readonly files: LogFile[] = [];
  private cur: LogFile | null = null;
  private fd: number | null = null;
  private nextSeq = 1;
  private closed = false;
  private free: number | null = null;
  private freeAt = 0;
  private sinceStatfs = 0;
  private lowDisk = false;

  /**
   * Scans `dir` for earlier files of ours (they count toward the total cap and are the first to go)
   * and applies the total cap at once. Opens no file until the first record.
   * @throws P2pgwError(P2PGW_ERR_CONFIG) on invalid sizes or when `dir` cannot be created or read
   */
  constructor(
    private readonly opts: FlowLogOptions,
    private readonly counters?: Counters,
  ) {
    checkFlowLogOptions(opts);
    try {
      fs.mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
      for (const name of fs.readdirSync(opts.dir)) {
        const m = FLOWLOG_NAME.exec(name);
        if (!m) continue;
        const st = fs.statSync(path.join(opts.dir, name), { throwIfNoEntry: false });
        if (!st?.isFile()) continue;
        this.files.push({ name, seq: Number(m[2]), size: st.size });
      }
    } catch (err) {
      throw new P2pgwError('P2PGW_ERR_CONFIG', `flow log directory ${opts.dir}: ${(err as Error).message}`, { cause: err });
    }
    this.files.sort((a, b) => a.seq - b.seq || a.name.localeCompare(b.name));
    this.nextSeq = (this.files.at(-1)?.seq ?? 0) + 1;
    this.makeRoom(0);
  }

  /** Total bytes of our files in the directory (as far as this writer knows). */
  get totalBytes(): number {
    return this.files.reduce((n, f) => n + f.size, 0);
  }

  /** Path of the file being written, or null before the first record / after close. */
  get currentFile(): string | null {
    return this.cur && this.fd !== null ? path.join(this.opts.dir, this.cur.name) : null;
  }

  /**
   * Appends one record as a JSON line. Never throws.
   * @returns true if the line was written, false if it was dropped (the reason is counted)
   */
  write(rec: object): boolean {
    if (this.closed) return this.drop('flowlog_dropped_closed');
    const line = Buffer.from(`${JSON.stringify(rec)}\n`);
    if (line.length > this.opts.maxFileBytes) return this.drop('flowlog_dropped_too_large');
    if (!this.spaceFor(line.length)) return this.drop('flowlog_dropped_low_disk');
    if (this.fd !== null && this.cur && this.cur.size > 0 && this.cur.size + line.length > this.opts.maxFileBytes) {
      this.closeFile();
      this.counters?.inc('flowlog_rotated');
    }
    this.makeRoom(line.length);
    if (this.fd === null && !this.openFile()) return this.drop('flowlog_write_error');
    const cur = this.cur!;
    let n = 0;
    let error = '';
    try {
      n = fs.writeSync(this.fd!, line);
    } catch (err) {
      error = (err as Error).message;
    }
    if (n !== line.length) {
      // Cut a partial line back off, then start over in a fresh file on the next record.
      try {
        fs.ftruncateSync(this.fd!, cur.size);
      } catch {
        /* the descriptor is unusable; the file keeps cur.size whole lines at most plus a tail */
      }
      this.event({ type: 'error', op: 'write', file: cur.name, error: error || `short write (${n} of ${line.length} bytes)` });
      this.closeFile();
      return this.drop('flowlog_write_error');
    }
    cur.size += n;
    this.sinceStatfs += n;
    this.counters?.inc('flowlog_records');
    this.counters?.inc('flowlog_bytes', n);
    return true;
  }

  /** Closes the current file. Later writes are dropped (counted). Idempotent. */
  close(): void {
    this.closeFile();
    this.closed = true;
  }

  private drop(counter: string): false {
    this.counters?.inc(counter);
    return false;
  }

  private event(ev: FlowLogEvent): void {
    // open/write failures are counted by the dropped record (flowlog_write_error).
    if (ev.type === 'error' && ev.op === 'statfs') this.counters?.inc('flowlog_statfs_error');
    if (ev.type === 'error' && ev.op === 'remove') this.counters?.inc('flowlog_remove_error');
    this.opts.onEvent?.(ev);
  }

  /** Free space check with an estimate between statfs calls (free at last call minus bytes since). */
  private spaceFor(len: number): boolean {
    const floor = this.opts.minFreeBytes;
    if (floor <= 0) return true;
    const now = Date.now();
    const stale = this.free === null || now - this.freeAt >= (this.opts.statfsIntervalMs ?? 1000);
    if (stale || this.free! - this.sinceStatfs - len < floor + NEAR_FLOOR) {
      try {
        const st = (this.opts.statfs ?? fs.statfsSync)(this.opts.dir);
        this.free = Number(st.bavail) * Number(st.bsize);
        this.freeAt = now;
        this.sinceStatfs = 0;
      } catch (err) {
        this.event({ type: 'error', op: 'statfs', file: this.opts.dir, error: (err as Error).message });
        if (this.free === null) return true; // never known: do not stop logging over a failing statfs
      }
    }
    const ok = this.free! - this.sinceStatfs - len >= floor;
    if (!ok && !this.lowDisk) {
      this.lowDisk = true;
      this.counters?.inc('flowlog_low_disk');
      this.event({ type: 'low_disk', freeBytes: this.free! - this.sinceStatfs, minFreeBytes: floor });
    } else if (ok && this.lowDisk) {
      this.lowDisk = false;
      this.event({ type: 'disk_ok', freeBytes: this.free! - this.sinceStatfs });
    }
    return ok;
  }

  /** Removes our oldest files (never the current one) until all of ours plus `len` fit the cap. */
  private makeRoom(len: number): void {
    let total = this.totalBytes;
    while (total + len > this.opts.maxTotalBytes) {
      const victim = this.files.find((f) => f !== this.cur);
      if (!victim) break;
      const file = path.join(this.opts.dir, victim.name);
      try {
        fs.unlinkSync(file);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
          this.event({ type: 'error', op: 'remove', file: victim.name, error: (err as Error).message });
          break; // keep the accounting honest: the file is still there
        }
      }
      this.files.splice(this.files.indexOf(victim), 1);
      total -= victim.size;
      this.counters?.inc('flowlog_removed_oldest');
      this.event({ type: 'removed', file: victim.name, bytes: victim.size });
    }
  }

  private openFile(): boolean {
    const flags = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_APPEND;
    const stamp = isoBasic((this.opts.now ?? (() => new Date()))());
    for (let attempt = 0; attempt < 5; attempt++) {
      const seq = this.nextSeq++;
      const name = `flows-${stamp}-${String(seq).padStart(6, '0')}.jsonl`;
      try {
        fs.mkdirSync(this.opts.dir, { recursive: true, mode: 0o700 });
        this.fd = fs.openSync(path.join(this.opts.dir, name), flags, 0o600);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') continue;
        this.event({ type: 'error', op: 'open', file: name, error: (err as Error).message });
        return false;
      }
      this.cur = { name, seq, size: 0 };
      this.files.push(this.cur);
      this.counters?.inc('flowlog_files_opened');
      this.event({ type: 'opened', file: name });
      return true;
    }
    this.event({ type: 'error', op: 'open', file: this.opts.dir, error: 'no free file name after 5 attempts' });
    return false;
  }

  private closeFile(): void {
    if (this.fd !== null) {
      try {
        fs.closeSync(this.fd);
      } catch {
        /* nothing left to do */
      }
    }
    this.fd = null;
    this.cur = null;
  }
}
