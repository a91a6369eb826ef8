/**
 * Audit store (thesis §3.6 auditing): chat messages go to `chat.jsonl`; transferred files are
 * written to `files/` as a temp file then renamed, and recorded in `index.jsonl` with name, size,
 * sha256, peers and app. A disk quota is enforced on `files/` (oldest removed first) and a free-
 * space floor is respected, so the audit never fills the disk. Every file is mode 0600, the
 * directories 0700. Failures are counted (`audit_*`) and never stop the packet path.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createHash, type Hash } from 'node:crypto';
import type { Counters } from '../core/counters.js';

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
}

const safeName = (name: string) => name.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^\.+/, '').slice(0, 80) || 'unnamed';

/** One file being written. `finish` keeps it, `abort` deletes it. */
export class AuditFile {
  private readonly hash: Hash = createHash('sha256');
  private fd: number | null;
  size = 0;

  constructor(
    private readonly store: AuditStore,
    readonly tmp: string,
    readonly name: string | null,
    readonly ctx: AuditContext,
    readonly dir: 0 | 1,
  ) {
    this.fd = fs.openSync(tmp, 'wx', 0o600);
  }

  /** Appends body bytes; stops (counted) if the quota cannot make room. */
  write(bytes: Uint8Array): void {
    if (this.fd === null) return;
    if (!this.store.reserve(bytes.length)) {
      this.store.counters?.inc('audit_quota_refused');
      this.abort();
      return;
    }
    try {
      fs.writeSync(this.fd, bytes);
      this.hash.update(bytes);
      this.size += bytes.length;
    } catch {
      this.store.counters?.inc('audit_write_error');
      this.abort();
    }
  }

  /** Renames the temp file into place and appends the index line. Returns the index record or null. */
  finish(complete: boolean): Record<string, unknown> | null {
    if (this.fd === null) return null;
    fs.closeSync(this.fd);
    this.fd = null;
    return this.store.commit(this, this.hash.digest('hex'), complete);
  }

  /** Deletes the temp file (infected transfer, write error). */
  abort(): void {
    if (this.fd !== null) {
      fs.closeSync(this.fd);
      this.fd = null;
    }
    this.store.release(this.size);
    fs.rmSync(this.tmp, { force: true });
  }
}

export class AuditStore {
  private readonly filesDir: string;
  private readonly tmpDir: string;
  private readonly stored: Stored[] = [];
  private used = 0;
  private seq = 0;

  /**
   * Creates the directories (0700) and indexes files already present (oldest first by mtime).
   * @throws Error if the directory cannot be created
   */
  constructor(readonly opts: AuditOptions, readonly counters?: Counters, private readonly statfs = fs.statfsSync) {
    this.filesDir = path.join(opts.dir, 'files');
    this.tmpDir = path.join(opts.dir, 'tmp');
    for (const d of [opts.dir, this.filesDir, this.tmpDir]) fs.mkdirSync(d, { recursive: true, mode: 0o700 });
    for (const f of fs.readdirSync(this.tmpDir)) fs.rmSync(path.join(this.tmpDir, f), { force: true });
    const existing = fs.readdirSync(this.filesDir).map((f) => {
      const p = path.join(this.filesDir, f);
      const st = fs.statSync(p);
      return { file: p, size: st.size, mtime: st.mtimeMs };
    });
    existing.sort((a, b) => a.mtime - b.mtime);
    for (const e of existing) {
      this.stored.push({ file: e.file, size: e.size });
      this.used += e.size;
    }
  }

  /** Bytes of stored (and in-progress) files counted against the quota. */
  get usedBytes(): number {
    return this.used;
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
    const tmp = path.join(this.tmpDir, `${process.pid}-${++this.seq}.part`);
    try {
      return new AuditFile(this, tmp, name, ctx, dir);
    } catch {
      this.counters?.inc('audit_write_error');
      return null;
    }
  }

  /** Makes room for `n` more bytes (removing the oldest stored files). False if impossible. */
  reserve(n: number): boolean {
    if (n > this.opts.quotaBytes) return false;
    while (this.used + n > this.opts.quotaBytes && this.stored.length) {
      const old = this.stored.shift()!;
      fs.rmSync(old.file, { force: true });
      this.used -= old.size;
      this.counters?.inc('audit_quota_evicted');
    }
    if (this.used + n > this.opts.quotaBytes) return false;
    if (!this.freeSpaceOk(n)) {
      this.counters?.inc('audit_disk_floor');
      return false;
    }
    this.used += n;
    return true;
  }

  /** Gives back bytes reserved by a file that was aborted. */
  release(n: number): void {
    this.used -= n;
  }

  /** Moves a finished temp file into files/ and appends its index line. */
  commit(f: AuditFile, sha256: string, complete: boolean): Record<string, unknown> | null {
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    const dest = path.join(this.filesDir, `${stamp}-${this.seq}-${safeName(f.name ?? 'unnamed')}`);
    try {
      fs.renameSync(f.tmp, dest);
    } catch {
      this.counters?.inc('audit_write_error');
      fs.rmSync(f.tmp, { force: true });
      this.release(f.size);
      return null;
    }
    this.stored.push({ file: dest, size: f.size });
    const rec = {
      time: new Date().toISOString(), name: f.name, stored: path.basename(dest), size: f.size, sha256, complete,
      ...f.ctx, dir: f.dir === 0 ? 'out' : 'in',
    };
    this.append('index.jsonl', JSON.stringify(rec));
    this.counters?.inc('audit_files');
    return rec;
  }

  private append(file: string, line: string): void {
    try {
      fs.appendFileSync(path.join(this.opts.dir, file), `${line}\n`, { mode: 0o600 });
    } catch {
      this.counters?.inc('audit_write_error');
    }
  }

  private freeSpaceOk(extra = 0): boolean {
    try {
      const s = this.statfs(this.opts.dir);
      return Number(s.bavail) * Number(s.bsize) - extra >= this.opts.minFreeBytes;
    } catch {
      return true;
    }
  }
}
