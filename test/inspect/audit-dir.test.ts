/**
 * Issue 14, item 5: the audit directory is not trusted blindly. With real symlinks and directories
 * owned by another user (the tests run as root: `nobody` plays the other user), the store refuses
 * unsafe directories with P2PGW_ERR_UNSAFE_PATH, never deletes or writes through a symlink (start-up
 * cleanup of tmp/, quota eviction, index and chat lines), and tightens modes (dirs 0700, files 0600).
 */
import { describe, it, expect, afterAll } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AuditStore, type AuditContext } from '../../src/content/audit.js';
import { checkAuditDir } from '../../src/content/audit-dir.js';
import { Counters } from '../../src/core/counters.js';
import { P2pgwError } from '../../src/core/errors.js';

const root = typeof process.getuid === 'function' && process.getuid() === 0;
const NOBODY = 65534;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'p2pgw-auditdir-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const ctx: AuditContext = { app: 'http', src: '10.0.0.1', sport: 1234, dst: '10.0.0.2', dport: 80 };
const mode = (p: string) => fs.lstatSync(p).mode & 0o7777;
let n = 0;
/** A fresh, safe parent directory (0700, ours) for one case. */
const fresh = () => {
  const d = path.join(tmp, `case${++n}`);
  fs.mkdirSync(d, { mode: 0o700 });
  return d;
};
/** A file outside the audit directory that must survive: path and content. */
const victim = () => {
  const v = path.join(fresh(), 'victim.txt');
  fs.writeFileSync(v, 'precious\n');
  return v;
};
const store = (dir: string, quotaBytes = 1 << 20, counters = new Counters()) =>
  new AuditStore({ dir, chat: true, files: true, quotaBytes, minFreeBytes: 0 }, counters);

/** The P2pgwError `fn` throws (fails if none, or another error). */
function unsafeError(fn: () => unknown): P2pgwError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(P2pgwError);
    expect((err as P2pgwError).code).toBe('P2PGW_ERR_UNSAFE_PATH');
    expect((err as Error).message).not.toMatch(/\n/);
    return err as P2pgwError;
  }
  throw new Error('expected P2PGW_ERR_UNSAFE_PATH');
}

/** Stores one complete file through the store. */
function storeFile(a: AuditStore, name: string, bytes: number): void {
  const f = a.openFile(ctx, 1, name)!;
  f.write(new Uint8Array(bytes).fill(0x41));
  f.finish(true);
}

describe('audit directory: modes', () => {
  it('a new directory is 0700 with files/ and tmp/ 0700; index, chat and stored files 0600', () => {
    const dir = path.join(fresh(), 'a', 'audit');
    const a = store(dir);
    a.chat(ctx, 0, { text: 'hi' });
    storeFile(a, 'x.bin', 10);
    for (const d of [dir, path.join(dir, 'files'), path.join(dir, 'tmp')]) expect(mode(d), d).toBe(0o700);
    for (const f of ['index.jsonl', 'chat.jsonl']) expect(mode(path.join(dir, f)), f).toBe(0o600);
    const stored = fs.readdirSync(path.join(dir, 'files'));
    expect(stored).toHaveLength(1);
    expect(mode(path.join(dir, 'files', stored[0]))).toBe(0o600);
  });

  it('an existing 0755 directory with a 0644 index and 0644 stored file is tightened to 0700 / 0600', () => {
    const dir = path.join(fresh(), 'audit');
    fs.mkdirSync(path.join(dir, 'files'), { recursive: true });
    fs.chmodSync(dir, 0o755);
    fs.chmodSync(path.join(dir, 'files'), 0o755);
    fs.writeFileSync(path.join(dir, 'index.jsonl'), '{}\n', { mode: 0o644 });
    fs.writeFileSync(path.join(dir, 'files', 'old.bin'), 'x', { mode: 0o644 });
    store(dir);
    expect(mode(dir)).toBe(0o700);
    expect(mode(path.join(dir, 'files'))).toBe(0o700);
    expect(mode(path.join(dir, 'index.jsonl'))).toBe(0o600);
    expect(mode(path.join(dir, 'files', 'old.bin'))).toBe(0o600);
  });
});

describe('audit directory: unsafe directories are refused', () => {
  it('the directory is a symlink (to a safe directory, even)', () => {
    const target = path.join(fresh(), 'real');
    fs.mkdirSync(target, { mode: 0o700 });
    const dir = path.join(fresh(), 'audit');
    fs.symlinkSync(target, dir);
    expect(unsafeError(() => store(dir)).message).toMatch(/is a symbolic link/);
    expect(fs.readdirSync(target)).toEqual([]); // nothing created through it
    expect(unsafeError(() => checkAuditDir(dir)).message).toMatch(/symbolic link/);
  });

  it('group- or world-writable directory', () => {
    for (const m of [0o777, 0o770, 0o702]) {
      const dir = path.join(fresh(), 'audit');
      fs.mkdirSync(dir);
      fs.chmodSync(dir, m);
      expect(unsafeError(() => store(dir)).message).toMatch(/writable by other users/);
    }
  });

  it('a path component that is a regular file (EEXIST / ENOTDIR): one clear line', () => {
    const p = path.join(fresh(), 'file');
    fs.writeFileSync(p, 'x');
    expect(unsafeError(() => store(p)).message).toMatch(/not a directory/);
    expect(unsafeError(() => store(path.join(p, 'audit'))).message).toMatch(/not a directory/);
  });

  it('files/ or tmp/ is a symlink to another directory: refused, and nothing there is touched', () => {
    for (const sub of ['files', 'tmp']) {
      const v = victim();
      const dir = path.join(fresh(), 'audit');
      fs.mkdirSync(dir, { mode: 0o700 });
      fs.symlinkSync(path.dirname(v), path.join(dir, sub));
      expect(unsafeError(() => store(dir)).message).toMatch(new RegExp(`${sub}/ is a symbolic link`));
      expect(fs.readFileSync(v, 'utf8')).toBe('precious\n');
    }
  });

  it('index.jsonl or chat.jsonl is a symlink: refused at start-up, the target keeps its content', () => {
    for (const log of ['index.jsonl', 'chat.jsonl']) {
      const v = victim();
      const dir = path.join(fresh(), 'audit');
      fs.mkdirSync(dir, { mode: 0o700 });
      fs.symlinkSync(v, path.join(dir, log));
      expect(unsafeError(() => store(dir)).message).toMatch(new RegExp(`${log.replace('.', '\\.')} is a symbolic link`));
      expect(fs.readFileSync(v, 'utf8')).toBe('precious\n');
    }
  });

  it('checkAuditDir (check-config) accepts a directory still to be created and creates nothing', () => {
    const parent = fresh();
    checkAuditDir(path.join(parent, 'x', 'y', 'audit'));
    expect(fs.readdirSync(parent)).toEqual([]);
  });
});

describe.skipIf(!root)('audit directory: another user (nobody) owns something', () => {
  it('the directory is owned by another user', () => {
    const dir = path.join(fresh(), 'audit');
    fs.mkdirSync(dir, { mode: 0o700 });
    fs.chownSync(dir, NOBODY, NOBODY);
    expect(unsafeError(() => store(dir)).message).toMatch(/owned by uid 65534/);
    expect(unsafeError(() => checkAuditDir(dir)).message).toMatch(/owned by uid 65534/);
  });

  it('a parent directory owned by another user, or writable by others without the sticky bit', () => {
    const owned = fresh();
    fs.chownSync(owned, NOBODY, NOBODY);
    expect(unsafeError(() => store(path.join(owned, 'audit'))).message).toMatch(/owned by uid 65534, not root/);
    const open = fresh();
    fs.chmodSync(open, 0o777);
    expect(unsafeError(() => store(path.join(open, 'audit'))).message).toMatch(/without the sticky bit/);
    expect(fs.readdirSync(open)).toEqual([]); // refused before creating anything
  });

  it('a shared sticky directory (like /tmp) is fine above a directory of ours', () => {
    const shared = fresh();
    fs.chmodSync(shared, 0o1777);
    store(path.join(shared, 'audit'));
    expect(mode(path.join(shared, 'audit'))).toBe(0o700);
    // ... but an audit directory another user created there first is refused
    const theirs = path.join(shared, 'theirs');
    fs.mkdirSync(theirs, { mode: 0o700 });
    fs.chownSync(theirs, NOBODY, NOBODY);
    unsafeError(() => store(theirs));
  });

  it('a symlink in the path that leads through a directory another user can write is refused', () => {
    const open = fresh();
    fs.chmodSync(open, 0o777);
    fs.mkdirSync(path.join(open, 'real'), { mode: 0o700 });
    const link = path.join(fresh(), 'link');
    fs.symlinkSync(path.join(open, 'real'), link);
    expect(unsafeError(() => store(path.join(link, 'audit'))).message).toMatch(/through .*writable by other users/);
  });

  it('index.jsonl owned by another user is refused', () => {
    const dir = path.join(fresh(), 'audit');
    fs.mkdirSync(dir, { mode: 0o700 });
    fs.writeFileSync(path.join(dir, 'index.jsonl'), '');
    fs.chownSync(path.join(dir, 'index.jsonl'), NOBODY, NOBODY);
    expect(unsafeError(() => store(dir)).message).toMatch(/index\.jsonl is owned by uid 65534/);
  });
});

describe('audit directory: nothing is deleted or written through a symlink', () => {
  it('start-up cleanup of tmp/ removes a symlink itself, never its target', () => {
    const v = victim();
    const dir = path.join(fresh(), 'audit');
    fs.mkdirSync(path.join(dir, 'tmp'), { recursive: true, mode: 0o700 });
    fs.symlinkSync(v, path.join(dir, 'tmp', '1-1.part'));
    fs.mkdirSync(path.join(dir, 'tmp', 'adir'));
    fs.writeFileSync(path.join(dir, 'tmp', 'adir', 'inner'), 'x');
    store(dir);
    expect(fs.readFileSync(v, 'utf8')).toBe('precious\n');
    expect(fs.readdirSync(path.join(dir, 'tmp'))).toEqual(['adir']); // a directory is left alone
    expect(fs.existsSync(path.join(dir, 'tmp', 'adir', 'inner'))).toBe(true);
  });

  it('quota eviction does not delete through a stored file swapped for a symlink (counted)', () => {
    const v = victim();
    const dir = path.join(fresh(), 'audit');
    const counters = new Counters();
    const a = store(dir, 250, counters);
    storeFile(a, 'one.bin', 100);
    const [first] = fs.readdirSync(path.join(dir, 'files'));
    fs.rmSync(path.join(dir, 'files', first));
    fs.symlinkSync(v, path.join(dir, 'files', first));
    storeFile(a, 'two.bin', 100);
    storeFile(a, 'three.bin', 100); // needs the oldest's room
    expect(fs.readFileSync(v, 'utf8')).toBe('precious\n');
    expect(fs.lstatSync(path.join(dir, 'files', first)).isSymbolicLink()).toBe(true);
    expect(counters.get('audit_unsafe_entry')).toBe(1);
  });

  it('existing symlinks in files/ are not indexed (never evicted through)', () => {
    const v = victim();
    const dir = path.join(fresh(), 'audit');
    fs.mkdirSync(path.join(dir, 'files'), { recursive: true, mode: 0o700 });
    fs.symlinkSync(v, path.join(dir, 'files', '0-old'));
    const a = store(dir, 150);
    expect(a.usedBytes).toBe(0);
    storeFile(a, 'a.bin', 100);
    storeFile(a, 'b.bin', 100);
    expect(fs.readFileSync(v, 'utf8')).toBe('precious\n');
  });

  it('an index.jsonl swapped for a symlink while running gets no line (O_NOFOLLOW, counted)', () => {
    const v = victim();
    const dir = path.join(fresh(), 'audit');
    const counters = new Counters();
    const a = store(dir, 1 << 20, counters);
    fs.symlinkSync(v, path.join(dir, 'index.jsonl'));
    fs.symlinkSync(v, path.join(dir, 'chat.jsonl'));
    storeFile(a, 'x.bin', 10);
    a.chat(ctx, 0, { text: 'hello' });
    expect(fs.readFileSync(v, 'utf8')).toBe('precious\n');
    expect(counters.get('audit_write_error')).toBe(2);
  });

  it('a temp file name already taken by a symlink is not opened through it (O_EXCL | O_NOFOLLOW)', () => {
    const v = victim();
    const dir = path.join(fresh(), 'audit');
    const counters = new Counters();
    const a = store(dir, 1 << 20, counters);
    // The next temp file is <pid>-1.part: plant a symlink there.
    fs.symlinkSync(v, path.join(dir, 'tmp', `${process.pid}-1.part`));
    expect(a.openFile(ctx, 1, 'x.bin')).toBeNull();
    expect(counters.get('audit_write_error')).toBe(1);
    expect(fs.readFileSync(v, 'utf8')).toBe('precious\n');
  });
});
