/**
 * Audit store (thesis §3.6 auditing): chat messages go to `chat.jsonl`; transferred files are
 * written to `files/` as a temp file then renamed, and recorded in `index.jsonl` with name, size,
 * sha256, peers and app. A disk quota is enforced on `files/` (oldest removed first) and a free-
 * space floor is respected, so the audit never fills the disk. Every file is mode 0600, the
 * directories 0700. Failures are counted (`audit_*`) and never stop the packet path.
 *
 * The directory must be safe (./audit-dir.ts: ours, not a symlink, nobody else can write above it).
 * Files are opened with O_NOFOLLOW (temp files also O_EXCL), and nothing is deleted without an lstat
 * first: a stored file is removed only while it is still the regular file we stored (same inode).
 */
import fs from 'node:fs';
import path from 'node:path';
import { createHash, type Hash } from 'node:crypto';
import type { Counters } from '../core/counters.js';
import { prepareAuditDir } from './audit-dir.js';

const { O_WRONLY, O_CREAT, O_EXCL, O_APPEND, O_NOFOLLOW, O_NONBLOCK } = fs.constants;
/** Temp files: created new (never an existing file or symlink), never following a link. */
const CREATE_FLAGS = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW;
/** Index and chat lines: appended, never through a symlink, never blocking on a FIFO. */
const APPEND_FLAGS = O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_NONBLOCK;

export interface AuditOptions {
  dir: string;
  /** Keep chat messages. */
  chat: boolean;
  /** Keep transferred files. */
  files: boolean;
  /** Maximum bytes of stored files; the oldest are removed first. */
  quotaBytes: number;
  /** Stop storing files when the filesystem has less free space than this, bytes. */
  minFreeBytes: number;
}

/** One line of `index.jsonl`: a stored file (`name` comes from the network). */
export interface IndexRecord extends AuditContext {
  time: string;
  name: string | null;
  stored: string;
  size: number;
  sha256: string;
  complete: boolean;
  dir: 'out' | 'in';
}

/** Who and what, for index and chat lines. */
export interface AuditContext {
  app: string;
  src: string;
  sport: number;
  dst: string;
  dport: number;
}

interface Stored {
  file: string;
  size: number;
  /** Identity of the file we stored: eviction removes the path only while it still is this file. */
  ino: number;
  dev: number;
}

const safeName = (name: string) => name.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^\.+/, '').slice(0, 80) || 'unnamed';

/**
 * One file being written to `<dir>/tmp/<pid>-<seq>.part`. It settles exactly once: `finish` keeps
 * it (renamed into `files/`), `abort` deletes it; after either, every call is a no-op. The bytes it
 * reserved against the quota are handed back (abort) or become stored bytes (finish) exactly once.
 */
export class AuditFile {
  private readonly hash: Hash = createHash('sha256');
  private fd: number | null;
  private state: 'open' | 'finished' | 'aborted' = 'open';
  /** Bytes written to the temp file (what the index records). */
  size = 0;
  /** Bytes reserved against the quota and not yet settled (≥ size while open, 0 once settled). */
  reserved = 0;

  /**
   * @param seq the store's number of this file, unique per store: names its stored copy
   * @throws Error (from fs.openSync) if the temp file cannot be created
   */
  constructor(
    private readonly store: AuditStore,
    readonly tmp: string,
    readonly name: string | null,
    readonly ctx: AuditContext,
    readonly dir: 0 | 1,
    readonly seq: number,
  ) {
    this.fd = fs.openSync(tmp, CREATE_FLAGS, 0o600);
  }

  /** Appends body bytes; aborts the file (counted) if the quota cannot make room or a write fails. */
  write(bytes: Uint8Array): void {
    if (this.fd === null) return;
    if (!this.store.reserve(bytes.length)) {
      this.store.counters?.inc('audit_quota_refused');
      this.abort();
      return;
    }
    this.reserved += bytes.length;
    try {
      for (let off = 0; off < bytes.length; ) off += fs.writeSync(this.fd, bytes, off);
      this.hash.update(bytes);
      this.size += bytes.length;
    } catch {
      this.store.counters?.inc('audit_write_error');
      this.abort();
    }
  }

  /**
   * Renames the temp file into place and appends the index line (first call only).
   * @returns the index record, or null when already settled or the rename failed (counted)
   */
  finish(complete: boolean): IndexRecord | null {
    if (this.state !== 'open') return null;
    this.state = 'finished';
    this.closeFd();
    return this.store.commit(this, this.hash.digest('hex'), complete);
  }

  /** Deletes the temp file and gives its reservation back (infected transfer, write error); first call only. */
  abort(): void {
    if (this.state !== 'open') return;
    this.state = 'aborted';
    this.closeFd();
    this.store.unlinkTmp(this.tmp);
    this.store.release(this);
  }

  private closeFd(): void {
    if (this.fd === null) return;
    try {
      fs.closeSync(this.fd);
    } catch {
      this.store.counters?.inc('audit_write_error');
    }
    this.fd = null;
  }
}

export class AuditStore {
  /** The audit directory, absolute. */
  private readonly dir: string;
  private readonly filesDir: string;
  private readonly tmpDir: string;
  private readonly stored: Stored[] = [];
  /** Bytes of the files in `stored` (on disk in files/). */
  private storedBytes = 0;
  /** Bytes reserved by open files (their temp files hold at most this much). */
  private reservedBytes = 0;
  private seq = 0;

  /**
   * Checks the directory (./audit-dir.ts), creates what is missing (0700), tightens modes, removes
   * leftover temp files (regular files and symlinks themselves, never what a link points to) and
   * indexes the regular files already stored (oldest first by mtime; anything else is left alone).
   * @throws P2pgwError(P2PGW_ERR_UNSAFE_PATH) if the directory is unsafe or cannot be created
   */
  constructor(readonly opts: AuditOptions, readonly counters?: Counters, private readonly statfs = fs.statfsSync) {
    const dir = (this.dir = prepareAuditDir(opts.dir));
    this.filesDir = path.join(dir, 'files');
    this.tmpDir = path.join(dir, 'tmp');
    for (const f of fs.readdirSync(this.tmpDir)) this.unlinkTmp(path.join(this.tmpDir, f));
    const existing: (Stored & { mtime: number })[] = [];
    for (const f of fs.readdirSync(this.filesDir)) {
      const p = path.join(this.filesDir, f);
      const st = fs.lstatSync(p, { throwIfNoEntry: false });
      if (st?.isFile()) existing.push({ file: p, size: st.size, ino: st.ino, dev: st.dev, mtime: st.mtimeMs });
    }
    existing.sort((a, b) => a.mtime - b.mtime);
    for (const { mtime: _, ...e } of existing) {
      this.stored.push(e);
      this.storedBytes += e.size;
    }
  }

  /** Removes a temp file: only a regular file or a symlink itself (unlink never follows the last link). */
  unlinkTmp(p: string): void {
    try {
      const st = fs.lstatSync(p, { throwIfNoEntry: false });
      if (st && (st.isFile() || st.isSymbolicLink())) fs.unlinkSync(p);
    } catch {
      this.counters?.inc('audit_write_error');
    }
  }

  /**
   * Removes the oldest stored file if it still is the regular file we stored (lstat: same device
   * and inode); a path that became something else (a symlink, another file) is left alone, counted
   * `audit_unsafe_entry`, and no longer counted as stored.
   * @returns false when the file is still on disk (the unlink failed; counted `audit_write_error`)
   */
  private evictOldest(): boolean {
    const old = this.stored[0];
    try {
      const st = fs.lstatSync(old.file, { throwIfNoEntry: false });
      if (st && st.isFile() && st.ino === old.ino && st.dev === old.dev) fs.unlinkSync(old.file);
      else if (st) this.counters?.inc('audit_unsafe_entry');
    } catch {
      this.counters?.inc('audit_write_error');
      return false; // still on disk: keep counting it
    }
    this.stored.shift();
    this.storedBytes -= old.size;
    return true;
  }

  /**
   * Bytes counted against the quota: stored files plus the reservations of open files. Never less
   * than the bytes of audited files on disk (files/ and tmp/).
   */
  get usedBytes(): number {
    return this.storedBytes + this.reservedBytes;
  }

  /** Appends one chat message line `{time, app, src, sport, dst, dport, dir, from, to, text}`. */
  chat(ctx: AuditContext, dir: 0 | 1, msg: { text: string; from?: string; to?: string }): void {
    if (!this.opts.chat) return;
    const line = JSON.stringify({ time: new Date().toISOString(), ...ctx, dir: dir === 0 ? 'out' : 'in', from: msg.from ?? null, to: msg.to ?? null, text: msg.text });
    this.append('chat.jsonl', line);
  }

  /** Starts storing a transferred file, or null when file auditing is off or there is no room. */
  openFile(ctx: AuditContext, dir: 0 | 1, name: string | null): AuditFile | null {
    if (!this.opts.files) return null;
    if (!this.freeSpaceOk()) {
      this.counters?.inc('audit_disk_floor');
      return null;
    }
    const seq = ++this.seq;
    const tmp = path.join(this.tmpDir, `${process.pid}-${seq}.part`);
    try {
      return new AuditFile(this, tmp, name, ctx, dir, seq);
    } catch {
      this.counters?.inc('audit_write_error');
      return null;
    }
  }

  /**
   * Makes room for `n` more bytes (removing the oldest stored files) and reserves them; the caller
   * (an AuditFile) must settle the reservation through `commit` or `release`.
   * @returns false (nothing reserved) if the quota or the free-space floor cannot allow it
   */
  reserve(n: number): boolean {
    if (n > this.opts.quotaBytes) return false;
    while (this.usedBytes + n > this.opts.quotaBytes && this.stored.length) {
      if (!this.evictOldest()) return false;
      this.counters?.inc('audit_quota_evicted');
    }
    if (this.usedBytes + n > this.opts.quotaBytes) return false;
    if (!this.freeSpaceOk(n)) {
      this.counters?.inc('audit_disk_floor');
      return false;
    }
    this.reservedBytes += n;
    return true;
  }

  /** Gives back the reservation of an aborted file (once: the file's `reserved` drops to 0). */
  release(f: AuditFile): void {
    this.reservedBytes = Math.max(0, this.reservedBytes - f.reserved);
    f.reserved = 0;
  }

  /**
   * Moves a finished temp file into files/ and appends its index line; its reservation becomes
   * stored bytes (the size on disk). On a failed rename the temp file is removed and released.
   * @returns the index record, or null when the rename failed (counted `audit_write_error`)
   */
  commit(f: AuditFile, sha256: string, complete: boolean): IndexRecord | null {
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    // The file's own number: files committed in the same millisecond never overwrite each other.
    const dest = path.join(this.filesDir, `${stamp}-${f.seq}-${safeName(f.name ?? 'unnamed')}`);
    let st: fs.Stats | undefined;
    try {
      fs.renameSync(f.tmp, dest);
      st = fs.lstatSync(dest);
    } catch {
      this.counters?.inc('audit_write_error');
      if (!st) this.unlinkTmp(f.tmp); // counted above; the reservation is released either way
    }
    this.release(f);
    if (!st) return null;
    this.stored.push({ file: dest, size: st.size, ino: st.ino, dev: st.dev });
    this.storedBytes += st.size;
    const rec: IndexRecord = {
      time: new Date().toISOString(), name: f.name, stored: path.basename(dest), size: f.size, sha256, complete,
      ...f.ctx, dir: f.dir === 0 ? 'out' : 'in',
    };
    this.append('index.jsonl', JSON.stringify(rec));
    this.counters?.inc('audit_files');
    return rec;
  }

  private append(file: string, line: string): void {
    let fd: number | null = null;
    try {
      fd = fs.openSync(path.join(this.dir, file), APPEND_FLAGS, 0o600);
      if (!fs.fstatSync(fd).isFile()) throw new Error('not a regular file');
      fs.writeSync(fd, `${line}\n`);
    } catch {
      this.counters?.inc('audit_write_error');
    } finally {
      if (fd !== null) fs.closeSync(fd);
    }
  }

  private freeSpaceOk(extra = 0): boolean {
    try {
      const s = this.statfs(this.dir);
      return Number(s.bavail) * Number(s.bsize) - extra >= this.opts.minFreeBytes;
    } catch {
      return true;
    }
  }
}
