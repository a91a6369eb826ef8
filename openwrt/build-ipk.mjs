#!/usr/bin/env node
/**
 * `npm run package:openwrt`: builds installable OpenWrt packages (.ipk, for opkg) of p2pgw from
 * this checkout, one per router architecture, with Node.js alone (no tar, gzip or ar needed).
 *
 *   node openwrt/build-ipk.mjs [--out DIR] [--arch A,B,...] [--addon FILE.node]... [--quiet]
 *
 *   --out DIR     where the .ipk files go (default: build/openwrt)
 *   --arch LIST   opkg architectures (default: x86_64,aarch64_generic,aarch64_cortex-a53); the
 *                 router's own is the last one `opkg print-architecture` prints
 *   --addon FILE  a native addon (p2pgw_nfq.node, nfqueue.node, unix_dgram.node) cross-built for a router, e.g. by
 *                 the OpenWrt SDK (see openwrt/README.md); it goes into every package whose CPU it
 *                 matches, if it links musl. Repeatable.
 *
 * What a package holds (under /usr/lib/p2pgw unless said): package.json, dist/ (the JavaScript the
 * daemon and the router's commands load, no source maps; not the development tools of src/tools nor
 * the commands built on them, demo, gen, profile and analyze: see shipped.mjs), asm/build/*.wasm,
 * rules/, the production dependencies of package-lock.json (no devDependencies; docs, tests and
 * TypeScript sources pruned), /usr/bin/p2pgw, the procd init script
 * /etc/init.d/p2pgw, the UCI config /etc/config/p2pgw and its converter /usr/libexec/p2pgw-uci-to-yaml,
 * and /etc/p2pgw/p2pgw.yaml (the bundled default config, for hand-written YAML); both configs are
 * conffiles, so upgrades keep them.
 *
 * The JavaScript and the .wasm run on any CPU. The native addons do not: p2pgw_nfq (p2pgw's own
 * NFQUEUE addon, src/capture/native, without which the daemon cannot run), nfqueue (the fallback
 * binding, `queue.binding: nfqueue`) and unix-dgram (syslog through /dev/log; without it the daemon
 * logs to stderr, which procd also sends to syslog). They must be compiled for the router's CPU
 * against musl, OpenWrt's C library: an addon built on a glibc system (Debian, Ubuntu, Fedora) does
 * not load there, even on x86_64. Such addons are left out, with the reason and the SDK command that
 * builds them; a package without p2pgw_nfq.node installs, and its init script refuses to start the
 * daemon and says why.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { addonFits, buildIpk, controlText, productionPackages } from './ipk.mjs';
import { shippedDist } from './shipped.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..');
const PREFIX = 'usr/lib/p2pgw';

export const DEFAULT_ARCHS = ['x86_64', 'aarch64_generic', 'aarch64_cortex-a53'];

/** Runtime dependencies on the router (OpenWrt package names; virtual names such as tc are provided by a variant). */
export const DEPENDS = [
  'libc',
  'node',
  'libstdcpp',
  'libnetfilter-queue',
  'iptables-nft',
  'ip6tables-nft',
  'kmod-nfnetlink-queue',
  'kmod-ipt-nfqueue',
  'iptables-mod-nfqueue',
  'kmod-ipt-conntrack',
  'kmod-ipt-conntrack-extra',
  'iptables-mod-conntrack-extra',
  'kmod-ipt-ipopt',
  'iptables-mod-ipopt',
  'tc',
  'kmod-sched-core',
];

export const CONFFILES = ['/etc/config/p2pgw', '/etc/p2pgw/p2pgw.yaml'];

/**
 * The native addons: file name, where it goes under /usr/lib/p2pgw (and where this checkout builds
 * it), the npm package it belongs to (none: p2pgw's own), and what it is for.
 */
export const ADDONS = [
  {
    file: 'p2pgw_nfq.node', dir: 'src/capture/native/build/Release', required: true,
    role: 'p2pgw\'s NFQUEUE addon (queue.binding batch, the default); without it the daemon cannot start',
  },
  { pkg: 'nfqueue', file: 'nfqueue.node', dir: 'node_modules/nfqueue/build/Release', required: false, role: 'the fallback NFQUEUE binding (queue.binding nfqueue)' },
  { pkg: 'unix-dgram', file: 'unix_dgram.node', dir: 'node_modules/unix-dgram/build/Release', required: false, role: 'syslog via /dev/log; without it the daemon logs to stderr, which procd sends to syslog' },
];

/** Files and folders of dependencies that are never loaded at run time. */
const PRUNE_FILE = /(\.d\.[mc]?ts|\.[mc]?ts|\.map|\.md|\.markdown)$/i;
const KEEP_FILE = /^(licen[cs]e|copying|notice|authors)/i;
const PRUNE_TOP_DIR = new Set(['test', 'tests', '__tests__', 'doc', 'docs', 'example', 'examples', 'bench', 'benchmark', 'benchmarks', '.github', '.vscode', 'coverage']);

class BuildError extends Error {}

const rel = (p) => {
  const r = path.relative(process.cwd(), p);
  return r.startsWith('..') ? p : r || '.';
};

/** Adds every file under `dir` (recursively) to `files` at `dest`, with its mode (0755 if executable, else 0644). */
function addTree(files, dir, dest, { skip = () => false } = {}) {
  for (const ent of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const src = path.join(dir, ent.name);
    const to = `${dest}/${ent.name}`;
    if (skip(src, ent, to)) continue;
    if (ent.isDirectory()) addTree(files, src, to, { skip });
    else if (ent.isSymbolicLink()) files.set(to, { type: 'symlink', mode: 0o777, target: fs.readlinkSync(src) });
    else if (ent.isFile()) addFile(files, src, to);
  }
}

function addFile(files, src, to, mode) {
  const st = fs.statSync(src);
  files.set(to, { type: 'file', mode: mode ?? (st.mode & 0o111 ? 0o755 : 0o644), data: fs.readFileSync(src) });
}

/** The architecture-free payload every package shares, plus notes on what was pruned. */
export function collectCommon(root = ROOT) {
  const need = [
    ['dist/cli/main.js', 'npm run build'],
    ['asm/build/matcher.release.wasm', 'npm run build'],
    ['package-lock.json', 'npm install'],
  ];
  for (const [f, fix] of need) {
    if (!fs.existsSync(path.join(root, f))) throw new BuildError(`${f} is missing: run \`${fix}\` first`);
  }
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  const lock = JSON.parse(fs.readFileSync(path.join(root, 'package-lock.json'), 'utf8'));
  const files = new Map();
  addFile(files, path.join(root, 'package.json'), `${PREFIX}/package.json`, 0o644);
  const dist = shippedDist(path.join(root, 'dist'));
  if (dist.problems.length) throw new BuildError(`dist/ cannot be packaged:\n${dist.problems.join('\n')}`);
  for (const f of dist.files) addFile(files, path.join(root, 'dist', f), `${PREFIX}/dist/${f}`);
  for (const f of fs.readdirSync(path.join(root, 'asm/build')).filter((n) => n.endsWith('.wasm')).sort()) {
    addFile(files, path.join(root, 'asm/build', f), `${PREFIX}/asm/build/${f}`, 0o644);
  }
  addTree(files, path.join(root, 'rules'), `${PREFIX}/rules`);

  const prod = productionPackages(lock);
  const addonPkgs = new Set(ADDONS.filter((a) => a.pkg).map((a) => `node_modules/${a.pkg}`));
  for (const p of prod) {
    const dir = path.join(root, p);
    const meta = lock.packages[p];
    if (!fs.existsSync(path.join(dir, 'package.json'))) {
      if (meta.optional) continue; // npm skips optional packages that fail to install; so do we
      throw new BuildError(`${p} (a production dependency in package-lock.json) is not installed: run \`npm ci\``);
    }
    const installed = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')).version;
    if (meta.version && installed !== meta.version) {
      throw new BuildError(`${p} is ${installed} but package-lock.json says ${meta.version}: run \`npm ci\``);
    }
    addTree(files, dir, `${PREFIX}/${p}`, {
      skip: (src, ent) => {
        const inPkg = path.relative(dir, src);
        const top = !inPkg.includes(path.sep);
        if (ent.isDirectory() && top && ent.name === 'node_modules') return true; // nested packages are lockfile entries of their own
        if (ent.isDirectory() && top && PRUNE_TOP_DIR.has(ent.name)) return true;
        if (ent.isDirectory() && top && ent.name === 'build' && addonPkgs.has(p)) return true; // native build output: per architecture, below
        return ent.isFile() && PRUNE_FILE.test(ent.name) && !KEEP_FILE.test(ent.name);
      },
    });
  }

  const etc = (name) => path.join(HERE, 'files', name);
  addFile(files, etc('p2pgw.sh'), 'usr/bin/p2pgw', 0o755);
  addFile(files, etc('p2pgw.uci-to-yaml.sh'), 'usr/libexec/p2pgw-uci-to-yaml', 0o755);
  addFile(files, etc('p2pgw.init'), 'etc/init.d/p2pgw', 0o755);
  addFile(files, etc('p2pgw.config'), 'etc/config/p2pgw', 0o600);
  addFile(files, path.join(root, 'rules/default.yaml'), 'etc/p2pgw/p2pgw.yaml', 0o600);
  return { pkg, files, prod };
}

/**
 * For one architecture: which addon files go in, and why the others do not.
 * @param {string} arch
 * @param {string[]} candidates .node files (explicit ones first, then this checkout's own builds)
 */
export function pickAddons(arch, candidates) {
  const chosen = [];
  const rejected = [];
  for (const addon of ADDONS) {
    let hit = null;
    for (const file of candidates.filter((f) => path.basename(f) === addon.file)) {
      const verdict = addonFits(fs.readFileSync(file), arch);
      if (verdict.ok && !hit) hit = { addon, file, reason: verdict.reason };
      else if (!verdict.ok) rejected.push({ addon, file, reason: verdict.reason });
    }
    if (hit) chosen.push(hit);
  }
  return { chosen, rejected };
}

function sdkHelp(archs) {
  const one = archs.length === 1 ? archs[0] : '<arch>';
  return [
    'The JavaScript and the .wasm are architecture-free, the native addons are not: they must be compiled',
    "for the router's CPU and against musl, OpenWrt's C library (a glibc build, as on Debian or Ubuntu,",
    'does not load there, even on x86_64). Build the package with the OpenWrt SDK of the router\'s target',
    `(${archs.join(', ')}), together with the node feed that provides Node.js for the target:`,
    '  [ -f feeds.conf ] || cp feeds.conf.default feeds.conf',
    '  echo "src-git node https://github.com/nxhack/openwrt-node-packages.git" >> feeds.conf',
    '  ./scripts/feeds update -a && rm -f package/feeds/packages/node package/feeds/packages/node-*',
    '  ./scripts/feeds install -a -p node && ./scripts/feeds install libnetfilter-queue',
    `  ln -s ${ROOT}/openwrt package/p2pgw && make defconfig && make package/p2pgw/compile V=s`,
    `then install the SDK's bin/packages/${one}/base/p2pgw_*.ipk, or put its addons into this package:`,
    `  node openwrt/build-ipk.mjs --arch ${one} \\`,
    '    --addon <sdk>/build_dir/target-*/p2pgw-*/src/capture/native/build/Release/p2pgw_nfq.node \\',
    '    --addon <sdk>/build_dir/target-*/p2pgw-*/node_modules/nfqueue/build/Release/nfqueue.node \\',
    '    --addon <sdk>/build_dir/target-*/p2pgw-*/node_modules/unix-dgram/build/Release/unix_dgram.node',
    'See openwrt/README.md.',
  ].join('\n');
}

/**
 * Builds one .ipk per architecture into `out`.
 * @returns {{arch: string, file: string, size: number, installedSize: number, files: number, addons: string[], control: string}[]}
 */
export function buildAll({ out, archs = DEFAULT_ARCHS, addons = [], log = console.log, mtime } = {}) {
  const { pkg, files: common, prod } = collectCommon();
  const local = ADDONS.map((a) => path.join(ROOT, a.dir, a.file)).filter((f) => fs.existsSync(f));
  for (const f of addons) if (!fs.existsSync(f)) throw new BuildError(`--addon ${f}: no such file`);
  const when = mtime ?? Number(process.env.SOURCE_DATE_EPOCH || Math.floor(Date.now() / 1000));
  fs.mkdirSync(out, { recursive: true });
  const results = [];
  const incomplete = [];
  for (const arch of archs) {
    const files = new Map(common);
    const { chosen, rejected } = pickAddons(arch, [...addons.map((f) => path.resolve(f)), ...local]);
    for (const c of chosen) {
      files.set(`${PREFIX}/${c.addon.dir}/${c.addon.file}`, { type: 'file', mode: 0o755, data: fs.readFileSync(c.file) });
    }
    const { ipk, installedSize, control } = buildIpk({
      files,
      mtime: when,
      conffiles: CONFFILES,
      scripts: {
        postinst: fs.readFileSync(path.join(HERE, 'files/postinst'), 'utf8'),
        prerm: fs.readFileSync(path.join(HERE, 'files/prerm'), 'utf8'),
      },
      control: (size) => controlText({
        package: 'p2pgw',
        version: pkg.version,
        depends: DEPENDS,
        license: pkg.license,
        section: 'net',
        maintainer: process.env.P2PGW_MAINTAINER || 'p2pgw maintainers',
        architecture: arch,
        installedSize: size,
        description: `${pkg.description}
Logs verdicts to syslog (logread -e p2pgw); configured in /etc/config/p2pgw.
Native addons in this build: ${chosen.map((c) => c.addon.file).join(', ') || 'none (build with the OpenWrt SDK: see the p2pgw README)'}.`,
      }),
    });
    const file = path.join(out, `p2pgw_${pkg.version}_${arch}.ipk`);
    fs.writeFileSync(file, ipk);
    results.push({ arch, file, size: ipk.length, installedSize, files: files.size, addons: chosen.map((c) => c.addon.file), control });

    log(`${rel(file)}: ${(ipk.length / 1024).toFixed(0)} KiB (${(installedSize / 1048576).toFixed(1)} MiB installed), ${files.size} files, ${prod.length} production packages`);
    for (const c of chosen) log(`  + ${c.addon.file} from ${rel(c.file)}: ${c.reason}`);
    const missing = ADDONS.filter((a) => !chosen.some((c) => c.addon === a));
    if (missing.length) {
      for (const r of rejected.filter((x) => missing.includes(x.addon))) log(`  - ${rel(r.file)} left out: ${r.reason}`);
      for (const a of missing) log(`  ! no ${a.file} in this package: ${a.role}`);
      incomplete.push(arch);
    }
  }
  if (incomplete.length) log(`\n${sdkHelp(incomplete)}`);
  return results;
}

function main(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      out: { type: 'string', default: path.join(ROOT, 'build', 'openwrt') },
      arch: { type: 'string' },
      addon: { type: 'string', multiple: true, default: [] },
      quiet: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    const text = fs.readFileSync(fileURLToPath(import.meta.url), 'utf8');
    process.stdout.write(`${text.slice(text.indexOf('/**') + 3, text.indexOf('*/')).replace(/^ \* ?/gm, '').trim()}\n`);
    return 0;
  }
  const archs = values.arch ? values.arch.split(',').map((s) => s.trim()).filter(Boolean) : DEFAULT_ARCHS;
  for (const a of archs) {
    if (!/^(x86_64|aarch64_[a-z0-9_-]+|arm_[a-z0-9_+-]+|i386_[a-z0-9_-]+)$/.test(a)) {
      throw new BuildError(`--arch ${a}: not an opkg architecture of a Node.js-capable target (x86_64, aarch64_*, arm_*, i386_*)`);
    }
  }
  buildAll({ out: path.resolve(values.out), archs, addons: values.addon, log: values.quiet ? () => {} : console.log });
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  try {
    process.exitCode = main(process.argv.slice(2));
  } catch (err) {
    if (err instanceof BuildError || err?.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      console.error(`build-ipk: ${err.message}`);
      process.exitCode = 2;
    } else {
      throw err;
    }
  }
}
