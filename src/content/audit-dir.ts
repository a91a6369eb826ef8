/**
 * Safety of the audit directory (issue 14, item 5). The daemon runs as root and deletes files in
 * `<dir>/tmp` at start-up and in `<dir>/files` on quota eviction, and appends to `index.jsonl` and
 * `chat.jsonl`: if another user could create or swap any of these (or a directory above them), root
 * would delete or write files through their symlinks, and other users could read the audit.
 *
 * Refused (P2PGW_ERR_UNSAFE_PATH, naming the path and why):
 *  - the directory, `files/` or `tmp/` being a symbolic link or not a directory, or owned by
 *    another user than the daemon's (effective uid), or writable by group or others;
 *  - `index.jsonl` / `chat.jsonl` being a symbolic link or not a regular file, or owned by another user;
 *  - a directory above it (as written, and after resolving symlinks) that is owned by another user
 *    than root or the daemon's, or writable by group or others without the sticky bit (a shared
 *    /tmp is fine: another user can create nothing there that we then accept, see the first rule).
 * Tightened (when preparing, not when checking): directories to 0700, files to 0600.
 */
import fs from 'node:fs';
import path from 'node:path';
import { P2pgwError } from '../core/errors.js';
import { fsReason, kindOf } from '../core/files.js';

/** Subdirectories of the audit directory. */
export const AUDIT_SUBDIRS = Object.freeze(['files', 'tmp'] as const);
/** Log files of the audit directory. */
export const AUDIT_LOGS = Object.freeze(['index.jsonl', 'chat.jsonl'] as const);

const uid = (): number => (typeof process.geteuid === 'function' ? process.geteuid() : 0);
const octal = (mode: number): string => `0${(mode & 0o7777).toString(8)}`;

function unsafe(p: string, why: string): P2pgwError {
  return new P2pgwError('P2PGW_ERR_UNSAFE_PATH', `audit directory ${p}: ${why}; refusing to use it (see README "Content inspection")`);
}

/** lstat without throwing for a missing path. @throws P2pgwError(P2PGW_ERR_UNSAFE_PATH) for other failures */
function lstat(p: string): fs.Stats | null {
  try {
    return fs.lstatSync(p);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw unsafe(p, fsReason(err));
  }
}

/** A directory above the audit directory: owned by root or us; group/world-writable only with the sticky bit. */
function ancestorProblem(st: fs.Stats): string | null {
  if (st.uid !== 0 && st.uid !== uid()) return `is owned by uid ${st.uid}, not root or the daemon's uid ${uid()}`;
  if (st.mode & 0o022 && !(st.mode & 0o1000)) return `is writable by other users (mode ${octal(st.mode)}) without the sticky bit`;
  return null;
}

/**
 * Checks every directory above `p`: each prefix as written (lstat: a symlink there must be owned by
 * root or us) and each directory of its resolved path. Missing prefixes end the walk (they will be
 * created by us, with mode 0700).
 * @throws P2pgwError(P2PGW_ERR_UNSAFE_PATH) naming the first unsafe ancestor
 */
function checkAncestors(p: string): void {
  const abs = path.resolve(p);
  const parts = abs.split(path.sep).filter(Boolean);
  let cur: string = path.sep;
  const chain: string[] = [cur];
  for (const part of parts.slice(0, -1)) chain.push((cur = path.join(cur, part)));
  let deepest: string = path.sep;
  for (const a of chain) {
    const st = lstat(a);
    if (!st) break;
    if (!st.isDirectory() && !st.isSymbolicLink()) throw unsafe(abs, `${a} exists and is ${kindOf(st)}, not a directory`);
    const why = st.isSymbolicLink() ? (st.uid !== 0 && st.uid !== uid() ? `is a symbolic link owned by uid ${st.uid}` : null) : ancestorProblem(st);
    if (why) throw unsafe(abs, `${a} ${why}`);
    deepest = a;
  }
  // The directories the symlinks above lead to.
  let real: string;
  try {
    real = fs.realpathSync(deepest);
  } catch (err) {
    throw unsafe(abs, `${deepest}: ${fsReason(err)}`);
  }
  for (let d = real; ; d = path.dirname(d)) {
    const st = fs.statSync(d);
    if (!st.isDirectory()) throw unsafe(abs, `${d} is ${kindOf(st)}, not a directory`);
    const why = ancestorProblem(st);
    if (why) throw unsafe(abs, `${d} (through ${deepest}) ${why}`);
    if (d === path.dirname(d)) break;
  }
}

/** One of our directories (the audit directory or a subdirectory): a real directory, ours, not group/world-writable. */
function ownDirProblem(st: fs.Stats): string | null {
  if (st.isSymbolicLink()) return 'is a symbolic link';
  if (!st.isDirectory()) return `exists and is ${kindOf(st)}, not a directory`;
  if (st.uid !== uid()) return `is owned by uid ${st.uid}, not the daemon's uid ${uid()}`;
  if (st.mode & 0o022) return `is writable by other users (mode ${octal(st.mode)})`;
  return null;
}

/** One of our log files: a regular file (not a symlink), ours. */
function ownFileProblem(st: fs.Stats): string | null {
  if (st.isSymbolicLink()) return 'is a symbolic link';
  if (!st.isFile()) return `is ${kindOf(st)}, not a regular file`;
  if (st.uid !== uid()) return `is owned by uid ${st.uid}, not the daemon's uid ${uid()}`;
  return null;
}

/**
 * Checks the audit directory `dir` without changing anything (`p2pgw check-config`, and `run`
 * before it prepares the directory): the rules in this module's comment. A directory that does not
 * exist yet is fine when the directories above it are.
 * @throws P2pgwError(P2PGW_ERR_UNSAFE_PATH) naming the path and the problem
 */
export function checkAuditDir(dir: string): void {
  const abs = path.resolve(dir);
  checkAncestors(abs);
  const st = lstat(abs);
  if (!st) return;
  const why = ownDirProblem(st);
  if (why) throw unsafe(abs, why);
  for (const sub of AUDIT_SUBDIRS) {
    const s = lstat(path.join(abs, sub));
    const w = s && ownDirProblem(s);
    if (w) throw unsafe(abs, `${sub}/ ${w}`);
  }
  for (const log of AUDIT_LOGS) {
    const s = lstat(path.join(abs, log));
    const w = s && ownFileProblem(s);
    if (w) throw unsafe(abs, `${log} ${w}`);
  }
}

/** chmod unless the mode already is `mode`. @throws P2pgwError(P2PGW_ERR_UNSAFE_PATH) */
function tighten(p: string, st: fs.Stats, mode: number): void {
  if ((st.mode & 0o7777) === mode) return;
  try {
    fs.chmodSync(p, mode);
  } catch (err) {
    throw unsafe(p, `cannot set mode ${octal(mode)}: ${fsReason(err)}`);
  }
}

/** mkdir (0700) of a directory that does not exist; then it must be ours. */
function makeDir(p: string): void {
  try {
    fs.mkdirSync(p, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw unsafe(p, `cannot create: ${fsReason(err)}`);
  }
}

/**
 * Makes `dir`, `dir/files` and `dir/tmp` ready for the audit store: checks them as checkAuditDir
 * does, creates what is missing (mode 0700), and tightens existing modes (directories 0700, the log
 * files and every regular file in `files/` 0600).
 * @returns the absolute directory
 * @throws P2pgwError(P2PGW_ERR_UNSAFE_PATH) for an unsafe directory or one that cannot be created
 */
export function prepareAuditDir(dir: string): string {
  const abs = path.resolve(dir);
  checkAuditDir(abs);
  for (const d of [abs, ...AUDIT_SUBDIRS.map((s) => path.join(abs, s))]) {
    if (!lstat(d)) makeDir(d);
    const st = fs.lstatSync(d);
    const why = ownDirProblem(st);
    if (why) throw unsafe(d, why);
    tighten(d, st, 0o700);
  }
  for (const log of AUDIT_LOGS) {
    const p = path.join(abs, log);
    const st = lstat(p);
    if (st) tighten(p, st, 0o600);
  }
  const files = path.join(abs, 'files');
  for (const name of fs.readdirSync(files)) {
    const p = path.join(files, name);
    const st = lstat(p);
    if (st?.isFile() && st.uid === uid()) tighten(p, st, 0o600);
  }
  return abs;
}
