/**
 * Reading input files whole without trusting them (issue 14, item 8): a config, a rules file, a
 * signature database or a capture named by the user may be a directory, a FIFO (an open would
 * block for ever), a device (`/dev/zero` never ends), a symlink loop, or a sparse file of
 * terabytes. `readRegularFile` refuses everything but a regular file of at most `maxBytes`, before
 * reading a byte, and turns every failure into one line through the caller's error constructor.
 */
import fs from 'node:fs';

/** What a path is, for messages: `a regular file`, `a directory`, `a FIFO (named pipe)`, … (from its stat). */
export function kindOf(st: fs.Stats): string {
  if (st.isFile()) return 'a regular file';
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  if (st.isSymbolicLink()) return 'a symbolic link';
  return 'an unknown kind of file';
}

/** One line for a failed file system call: `ELOOP: too many symbolic links` rather than Node's long form. */
export function fsReason(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const why: Record<string, string> = {
    ENOENT: 'no such file or directory',
    EACCES: 'permission denied',
    EPERM: 'operation not permitted',
    EISDIR: 'is a directory',
    ENOTDIR: 'a component of the path is not a directory',
    ELOOP: 'too many levels of symbolic links (a symlink loop?)',
    ENAMETOOLONG: 'file name too long',
    EEXIST: 'already exists',
    EMFILE: 'too many open files',
    ENFILE: 'too many open files in the system',
    EIO: 'input/output error',
    ENXIO: 'no such device or address',
  };
  if (e?.code && why[e.code]) return `${e.code}: ${why[e.code]}`;
  return String(e?.message ?? err).split('\n')[0];
}

/** Human size: `3.0 GiB`, `16 MiB`, `512 bytes`. */
export function sizeText(n: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} bytes` : `${Number.isInteger(v) ? v : v.toFixed(1)} ${units[i]}`;
}

/**
 * Checks that `file` (symlinks followed) is a regular file of at most `maxBytes`, without opening it.
 * @returns null when it is, else the reason (`is a FIFO (named pipe), not a regular file`,
 *   `ELOOP: …`, `is 3.0 GiB, more than the 16 MiB allowed`)
 */
export function regularFileProblem(file: string, maxBytes: number): string | null {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (err) {
    return fsReason(err);
  }
  if (!st.isFile()) return `is ${kindOf(st)}, not a regular file`;
  if (st.size > maxBytes) return `is ${sizeText(st.size)}, more than the ${sizeText(maxBytes)} allowed`;
  return null;
}

/**
 * Reads a regular file whole. Refused before anything is read: a path that is not a regular file
 * (directory, FIFO, device, socket; symlinks are followed), a file larger than `maxBytes`, and any
 * failing system call (ENOENT, EACCES, ELOOP, …). The file is opened with O_NONBLOCK (a FIFO swapped
 * in after the check cannot block the open) and checked again on the open descriptor; at most
 * `maxBytes + 1` bytes are ever read, so a file that grows meanwhile is refused too.
 * @param fail builds the error thrown, from a one-line reason (e.g. `is a directory, not a regular file`)
 * @returns the file's bytes
 * @throws whatever `fail` returns
 */
export function readRegularFile(file: string, maxBytes: number, fail: (reason: string) => Error): Buffer {
  const problem = regularFileProblem(file, maxBytes);
  if (problem) throw fail(problem);
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK | fs.constants.O_NOCTTY);
  } catch (err) {
    throw fail(fsReason(err));
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw fail(`is ${kindOf(st)}, not a regular file`);
    if (st.size > maxBytes) throw fail(`is ${sizeText(st.size)}, more than the ${sizeText(maxBytes)} allowed`);
    let buf = Buffer.allocUnsafe(st.size + 1);
    let n = 0;
    for (;;) {
      let got: number;
      try {
        got = fs.readSync(fd, buf, n, buf.length - n, null);
      } catch (err) {
        throw fail(fsReason(err));
      }
      if (got === 0) break;
      n += got;
      if (n > maxBytes) throw fail(`grew past the ${sizeText(maxBytes)} allowed while being read`);
      if (n === buf.length) {
        // The file grew since fstat: keep reading, never past maxBytes + 1.
        const next = Buffer.allocUnsafe(Math.min(buf.length * 2, maxBytes + 1));
        buf.copy(next, 0, 0, n);
        buf = next;
      }
    }
    return buf.subarray(0, n);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Opens an output file given on the command line (`--flows FILE`) synchronously, so a path that
 * cannot be written (a directory, a missing folder, EACCES, a FIFO nobody reads) is one clear error
 * before any work starts instead of a stream's unhandled 'error' event later. O_NONBLOCK: opening a
 * FIFO without a reader fails (ENXIO) instead of blocking.
 * @param append append (O_APPEND) instead of truncating
 * @param mode permission bits of a new file (e.g. 0o600)
 * @returns the descriptor (for fs.createWriteStream(null, { fd }))
 * @throws whatever `fail` returns, given the one-line reason
 */
export function openOutputFile(file: string, append: boolean, mode: number, fail: (reason: string) => Error): number {
  const { O_WRONLY, O_CREAT, O_APPEND, O_TRUNC, O_NONBLOCK, O_NOCTTY } = fs.constants;
  try {
    return fs.openSync(file, O_WRONLY | O_CREAT | O_NONBLOCK | O_NOCTTY | (append ? O_APPEND : O_TRUNC), mode);
  } catch (err) {
    throw fail(fsReason(err));
  }
}
