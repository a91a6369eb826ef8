/**
 * Building blocks of an OpenWrt .ipk, in plain JavaScript (node:zlib only): a GNU-format tar
 * writer, the gzip'd-tar package container, control-file text, the production dependency closure of
 * package-lock.json, and an ELF reader that tells whether a native addon can load on OpenWrt.
 *
 * Container format. OpenWrt's own `scripts/ipkg-build` writes an .ipk as a gzip'd tar (GNU format,
 * numeric owner 0/0) holding `./debian-binary` ("2.0\n"), `./data.tar.gz` and `./control.tar.gz`,
 * and the opkg on OpenWrt routers (opkg-lede, `libbb/unarchive.c` `deb_extract`) reads exactly that:
 * it gunzips the outer file and walks it as a tar, so a Debian-style `ar` container is not accepted.
 * Its tar reader knows ustar and the GNU long-name record ('L'), not POSIX pax headers ('x'); that
 * is why this writer emits GNU long names instead of using a pax-writing tar library.
 */
import zlib from 'node:zlib';

const BLOCK = 512;

/** Octal number field of `width` bytes: digits padded with 0, then NUL (GNU tar's layout). */
function octal(n, width) {
  const s = n.toString(8);
  if (s.length > width - 1) throw new RangeError(`tar: ${n} does not fit in a ${width}-byte field`);
  return s.padStart(width - 1, '0') + '\0';
}

/** One 512-byte header block. */
function header({ name, mode, size, mtime, type, linkname = '' }) {
  const b = Buffer.alloc(BLOCK, 0);
  const put = (str, off, len) => {
    const bytes = Buffer.isBuffer(str) ? str : Buffer.from(str, 'utf8');
    if (bytes.length > len) throw new RangeError(`tar: field too long: ${str}`);
    bytes.copy(b, off);
  };
  put(name, 0, 100);
  put(octal(mode & 0o7777, 8), 100, 8);
  put(octal(0, 8), 108, 8); // uid root
  put(octal(0, 8), 116, 8); // gid root
  put(octal(size, 12), 124, 12);
  put(octal(mtime, 12), 136, 12);
  b.fill(0x20, 148, 156); // checksum counts as spaces while summing
  b[156] = type.charCodeAt(0);
  put(linkname, 157, 100);
  put('ustar  \0', 257, 8); // GNU magic + version
  put('root', 265, 32);
  put('root', 297, 32);
  let sum = 0;
  for (const byte of b) sum += byte;
  put(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8);
  return b;
}

const pad = (n) => Buffer.alloc((BLOCK - (n % BLOCK)) % BLOCK, 0);

/** GNU long-name record ('L' for names, 'K' for link targets) for strings that do not fit 100 bytes. */
function longRecord(type, value) {
  const data = Buffer.concat([Buffer.from(value, 'utf8'), Buffer.from([0])]);
  return [header({ name: '././@LongLink', mode: 0, size: data.length, mtime: 0, type }), data, pad(data.length)];
}

/**
 * A tar archive (GNU format, uid/gid 0, names as given) of `entries`, in the given order.
 * @param {{name: string, type: 'file'|'dir'|'symlink', mode: number, data?: Buffer, target?: string}[]} entries
 * @param {number} mtime seconds since the epoch, for every entry
 * @returns {Buffer}
 */
export function tar(entries, mtime) {
  const parts = [];
  for (const e of entries) {
    const type = e.type === 'dir' ? '5' : e.type === 'symlink' ? '2' : '0';
    const data = e.type === 'file' ? e.data : Buffer.alloc(0);
    const linkname = e.type === 'symlink' ? e.target : '';
    if (Buffer.byteLength(e.name) >= 100) parts.push(...longRecord('L', e.name));
    if (Buffer.byteLength(linkname) >= 100) parts.push(...longRecord('K', linkname));
    parts.push(header({
      // GNU tar keeps the first 100 bytes in the header when the full name went into an 'L' record.
      name: Buffer.byteLength(e.name) >= 100 ? Buffer.from(e.name).subarray(0, 100) : e.name,
      mode: e.mode,
      size: data.length,
      mtime,
      type,
      linkname: Buffer.byteLength(linkname) >= 100 ? Buffer.from(linkname).subarray(0, 100) : linkname,
    }));
    parts.push(data, pad(data.length));
  }
  parts.push(Buffer.alloc(2 * BLOCK, 0));
  return Buffer.concat(parts);
}

/** gzip as `gzip -n -9` does it: no name, no time stamp. */
export const gzip = (buf) => zlib.gzipSync(buf, { level: 9 });

/**
 * Lists a tree as tar entries in `tar --sort=name` order: `./`, then each directory followed by its
 * contents, children sorted by byte order, every name prefixed with `./` (as ipkg-build's `tar -C dir .`).
 * @param {Map<string, {type: 'file'|'symlink', mode: number, data?: Buffer, target?: string}>} files
 *   relative paths (no leading `./` or `/`) to contents; parent directories are implied
 * @param {number} [dirMode]
 */
export function treeEntries(files, dirMode = 0o755) {
  const dirs = new Set();
  for (const p of files.keys()) {
    const parts = p.split('/');
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
  }
  const children = new Map([['', []]]);
  for (const d of dirs) children.set(d, []);
  const parentOf = (p) => (p.includes('/') ? p.slice(0, p.lastIndexOf('/')) : '');
  for (const d of dirs) children.get(parentOf(d)).push(d);
  for (const f of files.keys()) children.get(parentOf(f)).push(f);
  const out = [{ name: './', type: 'dir', mode: dirMode }];
  const walk = (dir) => {
    const kids = children.get(dir).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    for (const k of kids) {
      if (dirs.has(k)) {
        out.push({ name: `./${k}/`, type: 'dir', mode: dirMode });
        walk(k);
      } else {
        out.push({ name: `./${k}`, ...files.get(k) });
      }
    }
  };
  walk('');
  return out;
}

/**
 * The control file. Field order as OpenWrt's package-pack writes it.
 * @param {{package: string, version: string, depends: string[], license?: string, section: string,
 *   maintainer: string, architecture: string, installedSize: number, description: string}} f
 */
export function controlText(f) {
  const desc = f.description.trim().split('\n');
  const lines = [
    `Package: ${f.package}`,
    `Version: ${f.version}`,
    `Depends: ${f.depends.join(', ')}`,
    ...(f.license ? [`License: ${f.license}`] : []),
    `Section: ${f.section}`,
    `Maintainer: ${f.maintainer}`,
    `Architecture: ${f.architecture}`,
    `Installed-Size: ${f.installedSize}`,
    `Description: ${desc[0]}`,
    ...desc.slice(1).map((l) => ` ${l.trim() || '.'}`),
  ];
  return `${lines.join('\n')}\n`;
}

/**
 * Builds the .ipk bytes.
 * @param {{control: (installedSize: number) => string, conffiles: string[], scripts: Record<string, string>,
 *   files: Map<string, {type: 'file'|'symlink', mode: number, data?: Buffer, target?: string}>, mtime: number}} p
 * @returns {{ipk: Buffer, installedSize: number, control: string}}
 */
export function buildIpk(p) {
  const dataTar = tar(treeEntries(p.files), p.mtime);
  // As ipkg-build: Installed-Size is the size of the uncompressed data tar.
  const installedSize = dataTar.length;
  const control = p.control(installedSize);
  const ctl = new Map([
    ['control', { type: 'file', mode: 0o644, data: Buffer.from(control) }],
    ['conffiles', { type: 'file', mode: 0o644, data: Buffer.from(`${[...p.conffiles].sort().join('\n')}\n`) }],
  ]);
  for (const [name, text] of Object.entries(p.scripts)) ctl.set(name, { type: 'file', mode: 0o755, data: Buffer.from(text) });
  const controlTarGz = gzip(tar(treeEntries(ctl), p.mtime));
  const dataTarGz = gzip(dataTar);
  const outer = tar([
    { name: './debian-binary', type: 'file', mode: 0o644, data: Buffer.from('2.0\n') },
    { name: './data.tar.gz', type: 'file', mode: 0o644, data: dataTarGz },
    { name: './control.tar.gz', type: 'file', mode: 0o644, data: controlTarGz },
  ], p.mtime);
  return { ipk: gzip(outer), installedSize, control };
}

/**
 * Package directories (`node_modules/...`) that `npm ci --omit=dev` installs, from a lockfile v2/v3:
 * every entry not flagged `dev` (optional ones included, as npm does by default).
 * @param {{lockfileVersion: number, packages: Record<string, {dev?: boolean, link?: boolean}>}} lock
 * @returns {string[]} sorted
 */
export function productionPackages(lock) {
  if (!lock.packages || lock.lockfileVersion < 2) throw new Error('package-lock.json: lockfileVersion 2 or 3 with a "packages" map is required');
  return Object.entries(lock.packages)
    .filter(([p, meta]) => p.startsWith('node_modules/') && !meta.dev)
    .map(([p]) => p)
    .sort();
}

/** ELF e_machine values of the CPUs OpenWrt targets that can run Node.js, and their names. */
export const ELF_MACHINES = Object.freeze({ 3: 'i386', 40: 'arm', 62: 'x86_64', 183: 'aarch64' });

/** The ELF machine an opkg architecture name (`x86_64`, `aarch64_cortex-a53`, `arm_cortex-a7_neon-vfpv4`, `i386_pentium4`) runs. */
export function machineOfArch(arch) {
  if (arch === 'x86_64') return 62;
  if (arch.startsWith('aarch64')) return 183;
  if (arch.startsWith('arm')) return 40;
  if (arch.startsWith('i386')) return 3;
  return null;
}

/**
 * Reads what decides whether a shared object loads on a given router: CPU (e_machine), word size
 * and the DT_NEEDED libraries, from which the C library follows: musl (OpenWrt) links `libc.so`,
 * glibc links `libc.so.6`, Alpine's musl `libc.musl-<arch>.so.1`.
 * @param {Buffer} buf the file
 * @returns {{machine: number, machineName: string, bits: 32|64, needed: string[], libc: 'musl'|'glibc'|'alpine-musl'|'unknown'}}
 */
export function elfInfo(buf) {
  if (buf.length < 52 || buf.readUInt32BE(0) !== 0x7f454c46) throw new Error('not an ELF file');
  const bits = buf[4] === 2 ? 64 : 32;
  const le = buf[5] === 1;
  const u16 = (o) => (le ? buf.readUInt16LE(o) : buf.readUInt16BE(o));
  const u32 = (o) => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  const word = (o) => (bits === 64 ? Number(le ? buf.readBigUInt64LE(o) : buf.readBigUInt64BE(o)) : u32(o));
  const machine = u16(18);
  const phoff = bits === 64 ? word(32) : u32(28);
  const phentsize = u16(bits === 64 ? 54 : 42);
  const phnum = u16(bits === 64 ? 56 : 44);
  const loads = [];
  let dyn = null;
  for (let i = 0; i < phnum; i++) {
    const o = phoff + i * phentsize;
    const type = u32(o);
    const seg = bits === 64
      ? { offset: word(o + 8), vaddr: word(o + 16), filesz: word(o + 32) }
      : { offset: u32(o + 4), vaddr: u32(o + 8), filesz: u32(o + 16) };
    if (type === 1) loads.push(seg);
    if (type === 2) dyn = seg;
  }
  const toOffset = (vaddr) => {
    const seg = loads.find((s) => vaddr >= s.vaddr && vaddr < s.vaddr + s.filesz);
    return seg ? vaddr - seg.vaddr + seg.offset : null;
  };
  const neededOffsets = [];
  let strtab = null;
  if (dyn) {
    const size = bits === 64 ? 16 : 8;
    for (let o = dyn.offset; o + size <= dyn.offset + dyn.filesz; o += size) {
      const tag = bits === 64 ? word(o) : u32(o);
      const val = bits === 64 ? word(o + 8) : u32(o + 4);
      if (tag === 0) break;
      if (tag === 1) neededOffsets.push(val);
      if (tag === 5) strtab = toOffset(val);
    }
  }
  const cstr = (o) => {
    const end = buf.indexOf(0, o);
    return buf.subarray(o, end < 0 ? buf.length : end).toString('latin1');
  };
  const needed = strtab === null ? [] : neededOffsets.map((o) => cstr(strtab + o));
  let libc = 'unknown';
  if (needed.includes('libc.so')) libc = 'musl';
  else if (needed.includes('libc.so.6')) libc = 'glibc';
  else if (needed.some((n) => /^libc\.musl-.*\.so\.1$/.test(n))) libc = 'alpine-musl';
  return { machine, machineName: ELF_MACHINES[machine] ?? `e_machine ${machine}`, bits, needed, libc };
}

/**
 * Whether a native addon can load on an OpenWrt router of architecture `arch`, and why not.
 * @returns {{ok: boolean, reason: string}}
 */
export function addonFits(buf, arch) {
  let info;
  try {
    info = elfInfo(buf);
  } catch (err) {
    return { ok: false, reason: err.message };
  }
  const want = machineOfArch(arch);
  if (info.machine !== want) {
    return { ok: false, reason: `it is ${info.machineName} code, the ${arch} package needs ${ELF_MACHINES[want] ?? 'another CPU'}` };
  }
  if (info.libc === 'glibc') {
    return { ok: false, reason: 'it links glibc (libc.so.6); OpenWrt uses musl, so it would not load on the router' };
  }
  if (info.libc === 'alpine-musl') {
    return { ok: false, reason: `it links Alpine's musl (${info.needed.find((n) => n.startsWith('libc.musl'))}); OpenWrt's musl is libc.so` };
  }
  if (info.libc !== 'musl') return { ok: false, reason: `its C library is unknown (needs: ${info.needed.join(', ') || 'nothing'})` };
  return { ok: true, reason: `${info.machineName} code linked against musl (${info.needed.join(', ')})` };
}
