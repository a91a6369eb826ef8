/**
 * The OpenWrt package: the .ipk that `npm run package:openwrt` builds (read back the way opkg reads
 * it), the shell scripts (sh -n, busybox ash, shellcheck), the UCI → YAML converter (validated by the
 * project's own config loader) and the procd init script (run against stubs of procd's shell API).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';
import * as tar from 'tar';
import { parse as parseYaml } from 'yaml';
import ts from 'typescript';
import { parseConfig } from '../../src/config/load.js';
import { APPS } from '../../src/apps/registry.js';
import { ConfigError } from '../../src/core/errors.js';
// @ts-expect-error plain JavaScript module without type declarations
import * as ipkLib from '../../openwrt/ipk.mjs';
// @ts-expect-error plain JavaScript module without type declarations
import * as shippedLib from '../../openwrt/shipped.mjs';

const ROOT = path.resolve(fileURLToPath(new URL('../..', import.meta.url)));
const OW = path.join(ROOT, 'openwrt');
const FILES = path.join(OW, 'files');
const FIX = path.join(ROOT, 'test', 'openwrt', 'fixtures');
const PKG = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
const LOCK = JSON.parse(fs.readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8')) as {
  packages: Record<string, { dev?: boolean; optional?: boolean; version?: string }>;
};
const KNOWN_APPS = APPS.map((a) => a.name);
const ARCHS = ['x86_64', 'aarch64_generic', 'aarch64_cortex-a53'];
const EPOCH = 1_700_000_000;

const have = (cmd: string): boolean => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
const HAVE_SHELLCHECK = have('shellcheck');
const HAVE_BUSYBOX = have('busybox');
const HAVE_MUSL_GCC = have('musl-gcc');
const HAVE_PATCH = have('patch');
const skipNote = (what: string, why: string): void => {
  console.log(`[openwrt] skipped: ${what}: ${why}`);
};

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'p2pgw-openwrt-'));
  if (!fs.existsSync(path.join(ROOT, 'dist/cli/main.js')) || !fs.existsSync(path.join(ROOT, 'asm/build/matcher.release.wasm'))) {
    console.log('[openwrt] dist/ or asm/build is missing: running npm run build');
    execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' });
  }
});
afterAll(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// A tar reader with opkg's rules (opkg-lede libbb/unarchive.c get_header_tar): ustar magic, a valid
// header checksum, GNU 'L'/'K' long names, and only the entry types opkg extracts (no pax headers).

interface TarEntry {
  name: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  linkname: string;
  data: Buffer;
}

function readTar(buf: Buffer): TarEntry[] {
  const out: TarEntry[] = [];
  let off = 0;
  let longName: string | null = null;
  let longLink: string | null = null;
  const str = (o: number, n: number) => {
    const s = buf.subarray(o, o + n);
    const z = s.indexOf(0);
    return s.subarray(0, z < 0 ? n : z).toString('utf8');
  };
  const num = (o: number, n: number) => parseInt(str(o, n).trim() || '0', 8);
  while (off + 512 <= buf.length) {
    const h = off;
    const block = buf.subarray(h, h + 512);
    if (block.every((b) => b === 0)) break;
    expect(str(h + 257, 5), `ustar magic at ${h}`).toBe('ustar');
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i];
    expect(num(h + 148, 8), `header checksum at ${h}`).toBe(sum);
    const type = String.fromCharCode(block[156] || 0x30);
    expect('0572LK', `entry type ${JSON.stringify(type)} is one opkg extracts`).toContain(type);
    const size = num(h + 124, 12);
    const data = buf.subarray(h + 512, h + 512 + size);
    off = h + 512 + Math.ceil(size / 512) * 512;
    if (type === 'L' || type === 'K') {
      const value = data.subarray(0, data.indexOf(0)).toString('utf8');
      if (type === 'L') longName = value;
      else longLink = value;
      continue;
    }
    out.push({
      name: longName ?? str(h, 100),
      type,
      mode: num(h + 100, 8),
      uid: num(h + 108, 8),
      gid: num(h + 116, 8),
      size,
      mtime: num(h + 136, 12),
      linkname: longLink ?? str(h + 157, 100),
      data,
    });
    longName = null;
    longLink = null;
  }
  return out;
}

interface Ipk {
  outer: TarEntry[];
  control: Map<string, TarEntry>;
  data: Map<string, TarEntry>;
  dataTar: Buffer;
  fields: Record<string, string>;
}

function openIpk(file: string): Ipk {
  const raw = fs.readFileSync(file);
  const outer = readTar(zlib.gunzipSync(raw));
  const member = (n: string) => outer.find((e) => e.name === n)!.data;
  const control = new Map(readTar(zlib.gunzipSync(member('./control.tar.gz'))).map((e) => [e.name, e]));
  const dataTar = zlib.gunzipSync(member('./data.tar.gz'));
  const data = new Map(readTar(dataTar).map((e) => [e.name, e]));
  const fields: Record<string, string> = {};
  let last = '';
  for (const line of control.get('./control')!.data.toString('utf8').split('\n')) {
    if (!line) continue;
    if (line.startsWith(' ')) fields[last] += `\n${line.slice(1)}`;
    else {
      last = line.slice(0, line.indexOf(':'));
      fields[last] = line.slice(line.indexOf(':') + 1).trim();
    }
  }
  return { outer, control, data, dataTar, fields };
}

/**
 * The relative imports of a compiled module, read with the TypeScript parser (independently of
 * openwrt/shipped.mjs's scan): static (`import`/`export … from`) and dynamic (`import('…')`),
 * resolved against `rel` (its path under dist/).
 */
function jsImports(rel: string, source: string): { static: string[]; dynamic: string[] } {
  const sf = ts.createSourceFile(rel, source, ts.ScriptTarget.ES2022, false, ts.ScriptKind.JS);
  const out = { static: [] as string[], dynamic: [] as string[] };
  const add = (kind: 'static' | 'dynamic', spec: string) => {
    if (spec.startsWith('./') || spec.startsWith('../')) out[kind].push(path.posix.normalize(path.posix.join(path.posix.dirname(rel), spec)));
  };
  const visit = (n: ts.Node): void => {
    if ((ts.isImportDeclaration(n) || ts.isExportDeclaration(n)) && n.moduleSpecifier && ts.isStringLiteral(n.moduleSpecifier)) add('static', n.moduleSpecifier.text);
    else if (ts.isCallExpression(n) && n.expression.kind === ts.SyntaxKind.ImportKeyword && n.arguments[0] && ts.isStringLiteral(n.arguments[0])) add('dynamic', n.arguments[0].text);
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}

/** Unpacks the data of a package into `root` (files and folders, as opkg would). */
function unpack(ipk: Ipk, root: string): void {
  fs.mkdirSync(root, { recursive: true });
  for (const [name, e] of ipk.data) {
    const p = path.join(root, name);
    if (e.type === '5') fs.mkdirSync(p, { recursive: true });
    else if (e.type === '0') fs.writeFileSync(p, e.data, { mode: e.mode });
  }
}

/** The router package's answer to a development-tool command (see src/cli/main.ts). */
const TOOL_COMMANDS = ['demo', 'gen', 'profile', 'analyze'];

const runBuild = (out: string, extra: string[] = []) =>
  execFileSync(process.execPath, [path.join(OW, 'build-ipk.mjs'), '--out', out, ...extra], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, SOURCE_DATE_EPOCH: String(EPOCH) },
  });

const productionDirs = () => Object.entries(LOCK.packages).filter(([p, m]) => p.startsWith('node_modules/') && !m.dev).map(([p]) => p);
const devOnlyDirs = () => Object.entries(LOCK.packages).filter(([p, m]) => p.startsWith('node_modules/') && m.dev).map(([p]) => p);

describe('openwrt .ipk (npm run package:openwrt)', () => {
  let out: string;
  let log: string;
  const ipks = new Map<string, Ipk>();
  beforeAll(() => {
    out = path.join(tmp, 'ipk');
    log = runBuild(out);
    for (const a of ARCHS) ipks.set(a, openIpk(path.join(out, `p2pgw_${PKG.version}_${a}.ipk`)));
  });

  it('writes one package per architecture, named as ipkg-build names them', () => {
    expect(fs.readdirSync(out).sort()).toEqual(ARCHS.map((a) => `p2pgw_${PKG.version}_${a}.ipk`).sort());
  });

  it('is the gzip\'d tar container OpenWrt\'s opkg reads: debian-binary, data.tar.gz, control.tar.gz', () => {
    for (const a of ARCHS) {
      const raw = fs.readFileSync(path.join(out, `p2pgw_${PKG.version}_${a}.ipk`));
      expect(raw.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b])); // gzip, not an ar archive
      const { outer } = ipks.get(a)!;
      expect(outer.map((e) => e.name)).toEqual(['./debian-binary', './data.tar.gz', './control.tar.gz']);
      expect(outer[0].data.toString()).toBe('2.0\n');
      for (const e of outer) expect([e.uid, e.gid, e.mtime]).toEqual([0, 0, EPOCH]);
    }
  });

  it('is read the same by an independent tar implementation (node-tar)', () => {
    const file = path.join(out, `p2pgw_${PKG.version}_x86_64.ipk`);
    const outer: string[] = [];
    tar.t({ file, sync: true, onReadEntry: (e) => outer.push(e.path) });
    expect(outer).toEqual(['./debian-binary', './data.tar.gz', './control.tar.gz']);
    const dataFile = path.join(tmp, 'data.tar.gz');
    fs.writeFileSync(dataFile, zlib.gzipSync(ipks.get('x86_64')!.dataTar));
    const names: string[] = [];
    tar.t({ file: dataFile, sync: true, onReadEntry: (e) => names.push(e.path) });
    expect(names).toEqual([...ipks.get('x86_64')!.data.keys()]);
  });

  it('has the control fields opkg needs, per architecture', () => {
    for (const a of ARCHS) {
      const { fields, dataTar } = ipks.get(a)!;
      expect(fields.Package).toBe('p2pgw');
      expect(fields.Version).toBe(PKG.version);
      expect(fields.Architecture).toBe(a);
      expect(fields.Section).toBe('net');
      expect(fields.Maintainer).toBeTruthy();
      expect(fields.Description).toMatch(/P2P/);
      expect(Number(fields['Installed-Size'])).toBe(dataTar.length); // as ipkg-build computes it
      const deps = fields.Depends.split(',').map((s) => s.trim());
      for (const d of [
        'node', 'libnetfilter-queue', 'iptables-nft', 'ip6tables-nft',
        'kmod-nfnetlink-queue', 'kmod-ipt-nfqueue', 'iptables-mod-nfqueue',
        'kmod-ipt-conntrack', 'kmod-ipt-conntrack-extra', 'iptables-mod-conntrack-extra',
        'kmod-ipt-ipopt', 'iptables-mod-ipopt', 'tc', 'kmod-sched-core',
      ]) expect(deps).toContain(d);
    }
  });

  it('lists both configs as conffiles, and ships them', () => {
    for (const a of ARCHS) {
      const { control, data } = ipks.get(a)!;
      expect(control.get('./conffiles')!.data.toString()).toBe('/etc/config/p2pgw\n/etc/p2pgw/p2pgw.yaml\n');
      expect(data.get('./etc/config/p2pgw')!.data).toEqual(fs.readFileSync(path.join(FILES, 'p2pgw.config')));
      expect(data.get('./etc/p2pgw/p2pgw.yaml')!.data).toEqual(fs.readFileSync(path.join(ROOT, 'rules/default.yaml')));
    }
  });

  it('has executable postinst/prerm that hand over to OpenWrt\'s default_postinst/default_prerm', () => {
    const { control } = ipks.get('x86_64')!;
    for (const s of ['./postinst', './prerm']) {
      expect(control.get(s)!.mode).toBe(0o755);
      expect(control.get(s)!.data.toString()).toMatch(/^#!\/bin\/sh\n/);
    }
    expect(control.get('./postinst')!.data.toString()).toContain('default_postinst "$0" "$@"');
    expect(control.get('./prerm')!.data.toString()).toContain('default_prerm "$0" "$@"');
  });

  it('installs the init script (0755), the CLI wrapper, the converter, the .wasm, dist/ and rules/', () => {
    const { data } = ipks.get('x86_64')!;
    const init = data.get('./etc/init.d/p2pgw')!;
    expect(init.mode).toBe(0o755);
    expect(init.data).toEqual(fs.readFileSync(path.join(FILES, 'p2pgw.init')));
    expect(data.get('./usr/bin/p2pgw')!.mode).toBe(0o755);
    expect(data.get('./usr/libexec/p2pgw-uci-to-yaml')!.mode).toBe(0o755);
    expect(data.get('./usr/libexec/p2pgw-uci-to-yaml')!.data).toEqual(fs.readFileSync(path.join(FILES, 'p2pgw.uci-to-yaml.sh')));
    for (const w of fs.readdirSync(path.join(ROOT, 'asm/build')).filter((f) => f.endsWith('.wasm'))) {
      expect(data.get(`./usr/lib/p2pgw/asm/build/${w}`)!.data).toEqual(fs.readFileSync(path.join(ROOT, 'asm/build', w)));
    }
    expect(data.has('./usr/lib/p2pgw/dist/cli/main.js')).toBe(true);
    expect(data.has('./usr/lib/p2pgw/package.json')).toBe(true);
    for (const r of fs.readdirSync(path.join(ROOT, 'rules'))) expect(data.has(`./usr/lib/p2pgw/rules/${r}`)).toBe(true);
    expect([...data.keys()].filter((n) => n.endsWith('.map'))).toEqual([]);
    // Every directory comes before what it holds, as tar --sort=name writes them.
    const names = [...data.keys()];
    for (const [i, n] of names.entries()) {
      if (n === './') continue;
      const parent = `${n.replace(/\/$/, '').slice(0, n.replace(/\/$/, '').lastIndexOf('/'))}/`;
      expect(names.indexOf(parent), n).toBeLessThan(i);
    }
  });

  it('holds the production dependencies of package-lock.json and no devDependency', () => {
    const { data } = ipks.get('x86_64')!;
    const shipped = new Set(
      [...data.keys()]
        .map((n) => /^\.\/usr\/lib\/p2pgw\/((?:node_modules\/(?:@[^/]+\/)?[^/]+\/?)+)package\.json$/.exec(n)?.[1]?.replace(/\/$/, ''))
        .filter((x): x is string => !!x),
    );
    const installed = productionDirs().filter((p) => fs.existsSync(path.join(ROOT, p, 'package.json')));
    expect([...shipped].sort()).toEqual(installed.sort());
    const dev = devOnlyDirs();
    expect(dev.length).toBeGreaterThan(0);
    for (const d of dev) expect(data.has(`./usr/lib/p2pgw/${d}/package.json`), d).toBe(false);
    for (const d of ['typescript', 'vitest', 'assemblyscript', 'fast-check', 'patch-package', 'tar']) {
      expect(data.has(`./usr/lib/p2pgw/node_modules/${d}/`), d).toBe(false);
    }
    expect(data.has('./usr/lib/p2pgw/node_modules/.bin/')).toBe(false);
  });

  it('leaves out the glibc addons of this machine and says why and how to build them', () => {
    for (const a of ARCHS) {
      const { data, fields } = ipks.get(a)!;
      expect([...data.keys()].filter((n) => n.endsWith('.node')), a).toEqual([]);
      expect(fields.Description).toMatch(/Native addons in this build: none/);
    }
    const local = path.join(ROOT, 'node_modules/nfqueue/build/Release/nfqueue.node');
    if (fs.existsSync(local) && ipkLib.elfInfo(fs.readFileSync(local)).libc === 'glibc') {
      expect(log).toContain('it links glibc (libc.so.6); OpenWrt uses musl');
    }
    expect(log).toContain('make package/p2pgw/compile');
    expect(log).toContain('openwrt-node-packages');
  });

  it('is the same payload for every architecture (JavaScript and WebAssembly only)', () => {
    const ref = ipks.get('x86_64')!.dataTar;
    for (const a of ARCHS) expect(ipks.get(a)!.dataTar.equals(ref), a).toBe(true);
  });

  it('runs from the unpacked package: the CLI validates the shipped config with only the shipped node_modules', () => {
    const root = path.join(tmp, 'root');
    unpack(ipks.get('x86_64')!, root);
    const out = execFileSync(process.execPath, [path.join(root, 'usr/lib/p2pgw/dist/cli/main.js'), 'check-config', path.join(root, 'etc/p2pgw/p2pgw.yaml')], {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, NODE_PATH: '' },
    });
    expect(out).toMatch(/: ok \(\d+ applications/);
    const version = execFileSync(process.execPath, [path.join(root, 'usr/lib/p2pgw/dist/cli/main.js'), '--version'], { encoding: 'utf8' });
    expect(version.trim()).toBe(PKG.version);
  });

  it('ships no development tools: no dist/tools, no tool commands, nothing only they use', () => {
    const { data } = ipks.get('x86_64')!;
    const prefix = './usr/lib/p2pgw/dist/';
    const dist = [...data.keys()].filter((n) => n.startsWith(prefix) && n.endsWith('.js')).map((n) => n.slice(prefix.length)).sort();
    expect(dist.filter((f) => f.startsWith('tools/'))).toEqual([]);
    expect([...data.keys()].filter((n) => n.startsWith(`${prefix}tools`))).toEqual([]);
    for (const f of ['cli/demo.js', 'cli/profile.js', 'cli/analyze.js']) expect(dist, f).not.toContain(f);
    for (const f of ['cli/main.js', 'runtime/daemon.js', 'runtime/supervisor.js', 'runtime/replay.js', 'content/scan-worker.js', 'matcher/wasm.js', 'sigscan/sigdb.js', 'cli/sink.js', 'cli/status.js', 'cli/compile-sigs.js']) {
      expect(dist, f).toContain(f);
    }
    const plan = shippedLib.shippedDist(path.join(ROOT, 'dist')) as { files: string[]; tools: string[]; problems: string[] };
    expect(plan.problems).toEqual([]);
    expect(dist).toEqual(plan.files);
  });

  it('the dist files it ships never import tools/, and every static import stays inside the package (TypeScript parser)', () => {
    const { data } = ipks.get('x86_64')!;
    const prefix = './usr/lib/p2pgw/dist/';
    const shipped = new Map([...data].filter(([n]) => n.startsWith(prefix) && n.endsWith('.js')).map(([n, e]) => [n.slice(prefix.length), e.data.toString('utf8')]));
    const bad: string[] = [];
    const lazy = new Set<string>();
    for (const [rel, src] of shipped) {
      const imp = jsImports(rel, src);
      for (const t of imp.static) {
        if (t.startsWith('tools/')) bad.push(`${rel} imports ${t}`);
        else if (!shipped.has(t)) bad.push(`${rel} imports ${t}, which the package lacks`);
      }
      for (const t of imp.dynamic) if (!shipped.has(t)) lazy.add(t);
    }
    expect(bad).toEqual([]);
    // What is loaded on demand but not shipped is a development tool (the CLI's demo, gen, profile, analyze).
    const plan = shippedLib.shippedDist(path.join(ROOT, 'dist')) as { tools: string[] };
    for (const t of lazy) expect(plan.tools, t).toContain(t);
    expect(lazy.size).toBeGreaterThan(0);
  });

  it('the development-tool commands fail in one line in the router package, not with a stack trace', (ctx) => {
    const cli = path.join(ROOT, 'dist/cli');
    if (!fs.readdirSync(cli).some((f) => f.endsWith('.js') && fs.readFileSync(path.join(cli, f), 'utf8').includes('not part of the router package'))) {
      skipNote('tool commands in the router package', 'dist/cli has no router-package guard yet (src/cli, issue 11): rebuild');
      ctx.skip();
      return;
    }
    const root = path.join(tmp, 'root-tools');
    unpack(ipks.get('x86_64')!, root);
    for (const cmd of TOOL_COMMANDS) {
      const r = spawnSync(process.execPath, [path.join(root, 'usr/lib/p2pgw/dist/cli/main.js'), cmd, '--help'], { cwd: root, encoding: 'utf8', env: { ...process.env, NODE_PATH: '' } });
      expect(r.status, `${cmd}: ${r.stderr}`).toBe(2);
      expect(r.stderr.trim().split('\n'), cmd).toHaveLength(1);
      expect(r.stderr, cmd).toContain('not part of the router package');
      expect(r.stderr, cmd).toContain(cmd);
    }
  });

  it('takes cross-built musl addons with --addon, into the packages of their CPU only', (ctx) => {
    if (!HAVE_MUSL_GCC) {
      skipNote('musl addon packaging', 'musl-gcc not found (apt-get install musl-tools)');
      ctx.skip();
      return;
    }
    const dir = path.join(tmp, 'addons');
    fs.mkdirSync(path.join(dir, 'x64'), { recursive: true });
    fs.mkdirSync(path.join(dir, 'arm64'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'a.c'), 'int p2pgw_addon_stand_in(void) { return 42; }\n');
    for (const name of ['p2pgw_nfq.node', 'nfqueue.node', 'unix_dgram.node']) {
      execFileSync('musl-gcc', ['-shared', '-fPIC', '-o', path.join(dir, 'x64', name), path.join(dir, 'a.c')]);
      // The same file claiming to be aarch64 code: only its ELF header is read.
      const b = fs.readFileSync(path.join(dir, 'x64', name));
      b.writeUInt16LE(183, 18);
      fs.writeFileSync(path.join(dir, 'arm64', name), b);
    }
    expect(ipkLib.elfInfo(fs.readFileSync(path.join(dir, 'x64', 'nfqueue.node')))).toMatchObject({ machineName: 'x86_64', libc: 'musl' });
    const out2 = path.join(tmp, 'ipk-addons');
    const log2 = runBuild(out2, [
      '--arch', 'x86_64,aarch64_cortex-a53',
      '--addon', path.join(dir, 'arm64', 'nfqueue.node'),
      '--addon', path.join(dir, 'x64', 'nfqueue.node'),
      '--addon', path.join(dir, 'x64', 'unix_dgram.node'),
      '--addon', path.join(dir, 'x64', 'p2pgw_nfq.node'),
    ]);
    const x64 = openIpk(path.join(out2, `p2pgw_${PKG.version}_x86_64.ipk`));
    const nfq = x64.data.get('./usr/lib/p2pgw/node_modules/nfqueue/build/Release/nfqueue.node')!;
    expect(nfq.mode).toBe(0o755);
    expect(nfq.data).toEqual(fs.readFileSync(path.join(dir, 'x64', 'nfqueue.node')));
    expect(x64.data.has('./usr/lib/p2pgw/node_modules/unix-dgram/build/Release/unix_dgram.node')).toBe(true);
    expect(x64.fields.Description).toMatch(/Native addons in this build: p2pgw_nfq\.node, nfqueue\.node, unix_dgram\.node/);
    const own = x64.data.get('./usr/lib/p2pgw/src/capture/native/build/Release/p2pgw_nfq.node')!;
    expect(own.mode).toBe(0o755);
    expect(own.data).toEqual(fs.readFileSync(path.join(dir, 'x64', 'p2pgw_nfq.node')));
    const arm = openIpk(path.join(out2, `p2pgw_${PKG.version}_aarch64_cortex-a53.ipk`));
    expect(arm.data.get('./usr/lib/p2pgw/node_modules/nfqueue/build/Release/nfqueue.node')!.data)
      .toEqual(fs.readFileSync(path.join(dir, 'arm64', 'nfqueue.node')));
    expect(arm.data.has('./usr/lib/p2pgw/node_modules/unix-dgram/build/Release/unix_dgram.node')).toBe(false);
    expect(log2).toContain('no unix_dgram.node in this package');
    expect(log2).toContain('no p2pgw_nfq.node in this package');
  });

  it('rejects a missing --addon file and an unknown architecture', () => {
    const r1 = spawnSync(process.execPath, [path.join(OW, 'build-ipk.mjs'), '--out', path.join(tmp, 'x'), '--addon', '/nonexistent/nfqueue.node'], { encoding: 'utf8' });
    expect(r1.status).toBe(2);
    expect(r1.stderr).toContain('no such file');
    const r2 = spawnSync(process.execPath, [path.join(OW, 'build-ipk.mjs'), '--out', path.join(tmp, 'x'), '--arch', 'mips_24kc'], { encoding: 'utf8' });
    expect(r2.status).toBe(2);
    expect(r2.stderr).toContain('mips_24kc');
  });
});

describe('openwrt ipk building blocks', () => {
  it('shipped.mjs follows static, dynamic and new URL imports from the entry points and leaves the tools out', () => {
    const dist = path.join(tmp, 'dist-fixture');
    const put = (rel: string, text: string) => {
      fs.mkdirSync(path.dirname(path.join(dist, rel)), { recursive: true });
      fs.writeFileSync(path.join(dist, rel), text);
    };
    put('cli/main.js', "import { a } from '../core/a.js';\nexport {\n  b,\n} from './b.js';\nconst demo = () => import('./demo.js');\nconst gen = () => import('../tools/lab/gen.js');\nconst w = new URL('../runtime/worker.js', import.meta.url);\n/* import { x } from '../tools/comment.js'; */\n");
    put('cli/b.js', "import 'node:fs';\nimport '../core/side.js';\nexport const b = 1;\n");
    put('cli/demo.js', "import { lab } from '../tools/lab/netns.js';\n");
    put('core/a.js', 'export const a = 1;\n');
    put('core/side.js', 'globalThis.x = 1;\n');
    put('core/only-tools.js', 'export const t = 1;\n');
    put('core/a.js.map', '{}');
    put('runtime/worker.js', "import { a } from '../core/a.js';\n");
    put('content/scan-worker.js', "import { a } from '../core/a.js';\n");
    put('tools/lab/gen.js', "import { t } from '../../core/only-tools.js';\n");
    put('tools/lab/netns.js', 'export const lab = 1;\n');
    const r = shippedLib.shippedDist(dist) as { files: string[]; tools: string[]; problems: string[] };
    expect(r.problems).toEqual([]);
    expect(r.files).toEqual(['cli/b.js', 'cli/main.js', 'content/scan-worker.js', 'core/a.js', 'core/side.js', 'runtime/worker.js']);
    expect(r.tools).toEqual(['cli/demo.js', 'tools/lab/gen.js', 'tools/lab/netns.js']);
    shippedLib.pruneDist(dist);
    const left: string[] = [];
    const walk = (d: string, sub = ''): void => {
      for (const e of fs.readdirSync(d, { withFileTypes: true })) {
        if (e.isDirectory()) walk(path.join(d, e.name), `${sub}${e.name}/`);
        else left.push(`${sub}${e.name}`);
      }
    };
    walk(dist);
    expect(left.sort()).toEqual(r.files);
    expect(fs.existsSync(path.join(dist, 'tools'))).toBe(false);
    // A shipped module that imports a tool statically could not load in the package: an error.
    put('cli/main.js', "import { lab } from '../tools/lab/netns.js';\n");
    expect((shippedLib.shippedDist(dist) as { problems: string[] }).problems).toEqual(['entry point dist/cli/main.js statically imports the development tools']);
  });

  it('writes GNU long-name records for paths of 100 bytes and more, which opkg and node-tar read back', () => {
    const long = `./usr/lib/p2pgw/node_modules/${'a'.repeat(60)}/${'b'.repeat(60)}/index.js`;
    const buf = ipkLib.tar([{ name: long, type: 'file', mode: 0o644, data: Buffer.from('x') }, { name: './short', type: 'file', mode: 0o600, data: Buffer.from('y') }], EPOCH);
    const entries = readTar(buf);
    expect(entries.map((e) => [e.name, e.mode, e.data.toString()])).toEqual([[long, 0o644, 'x'], ['./short', 0o600, 'y']]);
    const f = path.join(tmp, 'long.tar');
    fs.writeFileSync(f, buf);
    const names: string[] = [];
    tar.t({ file: f, sync: true, onReadEntry: (e) => names.push(e.path) });
    expect(names).toEqual([long, './short']);
  });

  it('tells glibc, musl and foreign-CPU addons apart', () => {
    const local = path.join(ROOT, 'node_modules/nfqueue/build/Release/nfqueue.node');
    if (fs.existsSync(local)) {
      const info = ipkLib.elfInfo(fs.readFileSync(local));
      expect(info.needed).toContain('libnetfilter_queue.so.1');
      expect(ipkLib.addonFits(fs.readFileSync(local), info.machineName === 'x86_64' ? 'x86_64' : 'aarch64_generic').ok).toBe(info.libc === 'musl');
    }
    expect(ipkLib.addonFits(Buffer.from('not elf at all, but long enough to have a header of fifty-two bytes'), 'x86_64')).toEqual({ ok: false, reason: 'not an ELF file' });
    expect(ipkLib.machineOfArch('aarch64_cortex-a53')).toBe(183);
    expect(ipkLib.machineOfArch('arm_cortex-a7_neon-vfpv4')).toBe(40);
    expect(ipkLib.machineOfArch('mips_24kc')).toBe(null);
  });

  it('the SDK Makefile agrees with the .ipk: version, dependencies, conffiles, installed files', async () => {
    const mk = fs.readFileSync(path.join(OW, 'Makefile'), 'utf8');
    expect(/^PKG_VERSION:=(.*)$/m.exec(mk)?.[1]).toBe(PKG.version);
    expect(mk).toMatch(/^include \$\(TOPDIR\)\/rules\.mk$/m);
    expect(mk).toMatch(/^include \$\(INCLUDE_DIR\)\/package\.mk$/m);
    expect(mk).toMatch(/^\$\(eval \$\(call BuildPackage,p2pgw\)\)$/m);
    const depends = /^\s+DEPENDS:=((?:.*\\\n)*.*)/m.exec(mk)![1].replace(/\\\n/g, ' ').split(/\s+/).filter((d) => d.startsWith('+'))
      .map((d) => d.replace(/^\+(?:[A-Z0-9_]+:)?/, ''));
    const { DEPENDS, CONFFILES } = await import('../../openwrt/build-ipk.mjs' as string);
    for (const d of DEPENDS as string[]) if (d !== 'libc') expect(depends, d).toContain(d);
    const conf = /define Package\/p2pgw\/conffiles\n([\s\S]*?)endef/.exec(mk)![1].trim().split('\n');
    expect(conf).toEqual(CONFFILES);
    for (const f of ['p2pgw.init', 'p2pgw.config', 'p2pgw.sh', 'p2pgw.uci-to-yaml.sh']) expect(mk).toContain(`./files/${f}`);
    expect(mk).toMatch(/npm_config_nodedir=\$\(STAGING_DIR\)\/usr\//);
    expect(mk).toMatch(/npm_config_arch=\$\(NODEJS_CPU\)/);
    // The SDK build ships the same dist/ files as build-ipk.mjs: no development tools.
    expect(mk).toMatch(/^\tnode \$\(CURDIR\)\/shipped\.mjs --prune \$\(1\)\/usr\/lib\/p2pgw\/dist$/m);
  });

  it('the SDK build applies the source hunks of the nfqueue patch (reversible on the installed, patched copy)', (ctx) => {
    const installed = path.join(ROOT, 'node_modules/nfqueue');
    if (!fs.existsSync(path.join(installed, 'src/node_nfqueue.cpp')) || !HAVE_PATCH) {
      skipNote('nfqueue patch round trip', HAVE_PATCH ? 'node_modules/nfqueue is not installed' : 'patch(1) not found (apt-get install patch)');
      ctx.skip();
      return;
    }
    const copy = path.join(tmp, 'nfqueue');
    fs.cpSync(installed, copy, { recursive: true, filter: (src) => !src.includes(`${path.sep}build${path.sep}`) });
    const script = path.join(OW, 'apply-nfq-patch.sh');
    const patchDir = path.join(ROOT, 'src/capture/nfq-patch');
    execFileSync('sh', [script, patchDir, copy, '-R'], { stdio: 'pipe' });
    expect(fs.readFileSync(path.join(copy, 'src/node_nfqueue.cpp'), 'utf8')).not.toContain('p2pgw patch');
    execFileSync('sh', [script, patchDir, copy], { stdio: 'pipe' });
    for (const f of ['src/node_nfqueue.cpp', 'nfqueue.js']) {
      expect(fs.readFileSync(path.join(copy, f), 'utf8'), f).toBe(fs.readFileSync(path.join(installed, f), 'utf8'));
    }
  });
});

// ---------------------------------------------------------------------------------------------

const SCRIPTS = ['p2pgw.init', 'p2pgw.uci-to-yaml.sh', 'p2pgw.sh', 'postinst', 'prerm'].map((f) => path.join(FILES, f)).concat(path.join(OW, 'apply-nfq-patch.sh'));

describe('openwrt shell scripts', () => {
  it('parse with sh -n (and busybox ash, OpenWrt\'s /bin/sh)', () => {
    for (const s of SCRIPTS) {
      const r = spawnSync('sh', ['-n', s], { encoding: 'utf8' });
      expect(r.status, `${s}: ${r.stderr}`).toBe(0);
      if (HAVE_BUSYBOX) {
        const b = spawnSync('busybox', ['sh', '-n', s], { encoding: 'utf8' });
        expect(b.status, `busybox sh -n ${s}: ${b.stderr}`).toBe(0);
      }
    }
    if (!HAVE_BUSYBOX) skipNote('busybox sh -n', 'busybox not found (apt-get install busybox)');
  });

  it('pass shellcheck, disabling only what rc.common requires', (ctx) => {
    for (const s of SCRIPTS) {
      const disables = fs.readFileSync(s, 'utf8').split('\n').filter((l) => /#\s*shellcheck\s+disable=/.test(l));
      for (const d of disables) expect(d, s).toMatch(/disable=SC2034\b/);
    }
    if (!HAVE_SHELLCHECK) {
      skipNote('shellcheck', 'shellcheck not found (apt-get install shellcheck)');
      ctx.skip();
      return;
    }
    const r = spawnSync('shellcheck', ['--shell=sh', '--severity=style', ...SCRIPTS], { encoding: 'utf8' });
    expect(r.status, r.stdout + r.stderr).toBe(0);
  });

  it('the init script is a procd script with the usual settings', () => {
    const init = fs.readFileSync(path.join(FILES, 'p2pgw.init'), 'utf8');
    expect(init.split('\n')[0]).toBe('#!/bin/sh /etc/rc.common');
    expect(init).toMatch(/^USE_PROCD=1$/m);
    expect(init).toMatch(/^START=\d+$/m);
    expect(init).toMatch(/^STOP=\d+$/m);
  });
});

// ---------------------------------------------------------------------------------------------
// UCI → YAML, under dash and busybox ash, with the stub of /lib/functions.sh.

const SHELLS = ['sh', ...(HAVE_BUSYBOX ? ['busybox sh'] : [])];

function convert(uciText: string, shell = 'sh'): { status: number; yaml: string; stderr: string } {
  const dir = fs.mkdtempSync(path.join(tmp ?? os.tmpdir(), 'uci-'));
  fs.writeFileSync(path.join(dir, 'p2pgw'), uciText);
  const [cmd, ...pre] = shell.split(' ');
  const r = spawnSync(cmd, [...pre, path.join(FILES, 'p2pgw.uci-to-yaml.sh')], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH, P2PGW_FUNCTIONS: path.join(FIX, 'functions.sh'), UCI_CONFIG_DIR: dir },
  });
  return { status: r.status ?? -1, yaml: r.stdout, stderr: r.stderr };
}

describe('openwrt UCI → YAML (p2pgw-uci-to-yaml)', () => {
  it('turns the shipped /etc/config/p2pgw into a config the daemon accepts', () => {
    for (const sh of SHELLS) {
      const r = convert(fs.readFileSync(path.join(FILES, 'p2pgw.config'), 'utf8'), sh);
      expect(r.status, `${sh}: ${r.stderr}`).toBe(0);
      expect(r.stderr).toBe('');
      expect(parseYaml(r.yaml)).toEqual({ queue: { num: 0 }, log: { level: 'info', facility: 'daemon' } });
      const c = parseConfig(r.yaml, '/var/etc/p2pgw.yaml', KNOWN_APPS);
      expect(c.queue.num).toBe(0);
      expect(c.apps).toEqual({});
      expect(c.log).toMatchObject({ level: 'info', facility: 'daemon' });
    }
  });

  it('maps every option, and the result validates', () => {
    const outs = SHELLS.map((sh) => convert(fs.readFileSync(path.join(FIX, 'p2pgw.full'), 'utf8'), sh));
    for (const r of outs) {
      expect(r.status, r.stderr).toBe(0);
      expect(r.stderr).toBe('');
      expect(r.yaml).toBe(outs[0].yaml);
    }
    const c = parseConfig(outs[0].yaml, '/var/etc/p2pgw.yaml', KNOWN_APPS);
    expect(c.queue).toMatchObject({ num: 3, maxlen: 2048, failOpen: false, rcvbuf: 4194304 }); // UCI has no key for the rest
    expect(c.classify).toEqual({ packets: 6, bytes: 1500, unknownMark: 0xfd });
    expect(c.apps).toEqual({
      bittorrent: { action: 'block', shape: { rate: '1mbit', ceil: '2mbit' } },
      gnutella: { action: 'block' },
      edonkey: { action: 'allow', mark: 0x12, shape: { rate: '500kbit' } },
      msn: { action: 'inspect', mark: 77 },
    });
    expect(c.shaping).toEqual({
      wan: { dev: 'eth1', rate: '20mbit' },
      lan: { dev: 'br-lan', rate: '100mbit' },
      default: { rate: '5mbit', ceil: '20mbit' },
      leaf: 'fq_codel',
      classifier: 'auto',
    });
    expect(c.flow).toEqual({ maxFlows: 10000, tcpIdleSec: 600, udpIdleSec: 90 });
    expect(c.reassembly).toEqual({ maxOooBytesPerDir: 32768, maxOooSegmentsPerDir: 32 });
    expect(c.endpoints).toMatchObject({ size: 4096, ttlSec: 600, learnPackets: 24, shareBacklog: 512 });
    expect(c.hostHeuristics.enabled).toBe(false);
    expect(c.log).toEqual({ level: 'debug', dest: 'syslog', facility: 'local3', syslogSocket: '/dev/log' });
    expect(c.iptables).toEqual({ backend: 'nft', chain: 'P2PGW_WAN', markMask: 0x1ff });
    expect(c.rulesDir).toBe('/etc/p2pgw/rules.d');
    expect(c.inspect.lostState).toBe('pass');
    expect(c.watchdog.timeoutMs).toBe(2000);
  });

  it('quotes strings, so odd values reach the daemon intact and its validator has the last word', () => {
    const r = convert("config p2pgw 'global'\n\toption p2pgw_rules_dir '/tmp/a \"b\" \\c: #d'\n\toption p2pgw_chain 'bad chain'\n");
    expect(r.status, r.stderr).toBe(0);
    expect(parseYaml(r.yaml)).toEqual({ iptables: { chain: 'bad chain' }, rules: { dir: '/tmp/a "b" \\c: #d' } });
    expect(() => parseConfig(r.yaml, 'p2pgw.yaml', KNOWN_APPS)).toThrow(ConfigError);
    expect(() => parseConfig(r.yaml, 'p2pgw.yaml', KNOWN_APPS)).toThrow(/iptables\.chain/);
  });

  it('an application the daemon does not know is caught by the config loader', () => {
    const r = convert("config p2pgw 'global'\n\tlist p2pgw_block 'skype'\n");
    expect(r.status).toBe(0);
    expect(() => parseConfig(r.yaml, 'p2pgw.yaml', KNOWN_APPS)).toThrow(/apps\.skype.*unknown application/);
  });

  it.each([
    ["option p2pgw_queue 'zero'", /option p2pgw_queue 'zero': not a whole number/],
    ["option p2pgw_unknown_mark '0xZZ'", /p2pgw_unknown_mark '0xZZ'/],
    ["option p2pgw_fail_open 'maybe'", /option p2pgw_fail_open 'maybe': not a boolean/],
    ["list p2pgw_block 'bittorrent'\n\tlist p2pgw_allow 'bittorrent'", /'bittorrent' is listed in both p2pgw_block and p2pgw_allow/],
    ["list p2pgw_mark 'edonkey'", /expected <application>:<mark>/],
    ["list p2pgw_mark 'edonkey:x'", /mark 'x' is not a whole number/],
    ["list p2pgw_mark 'edonkey:1'\n\tlist p2pgw_mark 'edonkey:2'", /two marks/],
    ["list p2pgw_block 'Bit Torrent'", /application name 'Bit Torrent'/],
    ["list p2pgw_shape 'bittorrent'", /expected <application>:<rate>\[:<ceil>\]/],
    ["list p2pgw_shape 'bittorrent:1mbit'\n\tlist p2pgw_shape 'bittorrent:2mbit'", /'bittorrent' is in p2pgw_shape twice/],
  ])('refuses %s, naming the option', (line, msg) => {
    const r = convert(`config p2pgw 'global'\n\t${line}\n`);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(msg);
    expect(r.stderr).toContain('/etc/config/p2pgw');
  });

  it('warns about unknown options and goes on', () => {
    const r = convert("config p2pgw 'global'\n\toption p2pgw_blok 'x'\n\tlist p2pgw_typo 'a'\n\tlist p2pgw_typo 'b'\n\toption p2pgw_queue '1'\n");
    expect(r.status).toBe(0);
    expect(r.stderr.trim().split('\n')).toEqual([
      'p2pgw-uci-to-yaml: /etc/config/p2pgw: ignoring unknown option p2pgw_blok',
      'p2pgw-uci-to-yaml: /etc/config/p2pgw: ignoring unknown option p2pgw_typo',
    ]);
    expect(parseYaml(r.yaml)).toEqual({ queue: { num: 1 } });
  });
});

// ---------------------------------------------------------------------------------------------
// The init script's logic, with procd's shell API stubbed (test/openwrt/fixtures/init-harness.sh).

describe('openwrt init script (against procd stubs)', () => {
  let work: string;
  let cli: string;
  beforeAll(() => {
    work = fs.mkdtempSync(path.join(tmp, 'init-'));
    fs.mkdirSync(path.join(work, 'uci'));
    fs.writeFileSync(path.join(work, 'p2pgw_nfq.node'), '');
    // /usr/bin/p2pgw: the real CLI of this checkout (check-config validates for real).
    cli = path.join(work, 'p2pgw');
    fs.writeFileSync(cli, `#!/bin/sh\nexec "${process.execPath}" "${path.join(ROOT, 'dist/cli/main.js')}" "$@"\n`, { mode: 0o755 });
  });

  const uci = (text: string) => fs.writeFileSync(path.join(work, 'uci', 'p2pgw'), `config p2pgw 'global'\n${text}`);
  const run = (fns: string[], env: Record<string, string> = {}, shell = 'sh') => {
    const [cmd, ...pre] = shell.split(' ');
    const r = spawnSync(cmd, [...pre, path.join(FIX, 'init-harness.sh'), ...fns], {
      encoding: 'utf8',
      env: {
        PATH: process.env.PATH,
        INIT: path.join(FILES, 'p2pgw.init'),
        P2PGW_FUNCTIONS: path.join(FIX, 'functions.sh'),
        UCI_CONFIG_DIR: path.join(work, 'uci'),
        WORK: work,
        P2PGW_CLI: cli,
        CONVERT: path.join(FILES, 'p2pgw.uci-to-yaml.sh'),
        ...env,
      },
    });
    return { out: r.stdout, err: r.stderr, all: r.stdout + r.stderr };
  };
  const generated = () => path.join(work, 'var/etc/p2pgw.yaml');

  it('start: writes /var/etc/p2pgw.yaml from UCI and starts `p2pgw run` under procd', () => {
    for (const sh of SHELLS) {
      fs.rmSync(path.join(work, 'var'), { recursive: true, force: true });
      uci("\toption p2pgw_enabled '1'\n\tlist p2pgw_block 'bittorrent'\n\toption p2pgw_flows '/tmp/flows.jsonl'\n\toption p2pgw_max_heap '64'\n\toption p2pgw_facility 'local2'\n");
      const r = run(['start_service'], {}, sh);
      expect(r.out.split('\n').filter(Boolean), r.all).toEqual([
        'procd_open_instance p2pgw',
        `procd_set_param command ${cli} run --config ${generated()}`,
        'procd_append_param command --flows /tmp/flows.jsonl',
        'procd_set_param env NODE_OPTIONS=--max-old-space-size=64',
        'procd_set_param respawn 3600 5 5',
        'procd_set_param term_timeout 15',
        'procd_set_param stdout 1',
        'procd_set_param stderr 1',
        'procd_set_param facility local2',
        'procd_set_param pidfile /var/run/p2pgw.pid',
        'procd_close_instance',
        'start_service returned 0',
      ]);
      const c = parseConfig(fs.readFileSync(generated(), 'utf8'), generated(), KNOWN_APPS);
      expect(c.apps).toEqual({ bittorrent: { action: 'block' } });
      expect(fs.existsSync(`${generated()}.new`)).toBe(false);
    }
  });

  it('start: disabled (the shipped default) starts nothing', () => {
    fs.copyFileSync(path.join(FILES, 'p2pgw.config'), path.join(work, 'uci', 'p2pgw'));
    const r = run(['start_service']);
    expect(r.out).not.toContain('procd_open_instance');
    expect(r.out).toContain('start_service returned 0');
    expect(r.err).toContain('p2pgw_enabled=1');
  });

  it('start: uses the file option p2pgw_yaml names, as it is', () => {
    const yamlFile = path.join(work, 'hand.yaml');
    fs.copyFileSync(path.join(ROOT, 'rules/default.yaml'), yamlFile);
    uci(`\toption p2pgw_enabled '1'\n\toption p2pgw_yaml '${yamlFile}'\n`);
    const r = run(['start_service']);
    expect(r.out, r.all).toContain(`procd_set_param command ${cli} run --config ${yamlFile}\n`);
    uci(`\toption p2pgw_enabled '1'\n\toption p2pgw_yaml '${yamlFile}.missing'\n`);
    const r2 = run(['start_service']);
    expect(r2.out).not.toContain('procd_open_instance');
    expect(r2.out).toContain('start_service returned 1');
    expect(r2.all).toContain('no such file');
  });

  it('start: refuses, and says why, without the NFQUEUE addon or with a config the daemon rejects', () => {
    uci("\toption p2pgw_enabled '1'\n");
    fs.renameSync(path.join(work, 'p2pgw_nfq.node'), path.join(work, 'p2pgw_nfq.node.off'));
    try {
      const r = run(['start_service']);
      expect(r.out).toContain('start_service returned 1');
      expect(r.all).toContain('built without the native NFQUEUE addon (p2pgw_nfq.node)');
    } finally {
      fs.renameSync(path.join(work, 'p2pgw_nfq.node.off'), path.join(work, 'p2pgw_nfq.node'));
    }
    uci("\toption p2pgw_enabled '1'\n\toption p2pgw_log_level 'loud'\n");
    const r = run(['start_service']);
    expect(r.out).not.toContain('procd_open_instance');
    expect(r.all).toMatch(/logger -t p2pgw -p daemon\.err -- config generated from \/etc\/config\/p2pgw rejected: .*log\.level/);
  });

  it('reload: SIGHUP to the running daemon; start when its command line changes; stop when disabled; nothing on a bad config', () => {
    fs.rmSync(path.join(work, 'var'), { recursive: true, force: true });
    uci("\toption p2pgw_enabled '1'\n");
    expect(run(['start_service']).out).toContain('procd_close_instance');
    const hup = run(['reload_service'], { RUNNING: '1' });
    expect(hup.out.split('\n').filter(Boolean), hup.all).toEqual(['procd_send_signal p2pgw * HUP', 'reload_service returned 0']);

    const stopped = run(['reload_service'], { RUNNING: '0' });
    expect(stopped.out).toContain('rc.common start');
    expect(stopped.out).toContain('procd_open_instance p2pgw');

    uci("\toption p2pgw_enabled '1'\n\toption p2pgw_flows '/tmp/f.jsonl'\n");
    const changed = run(['reload_service'], { RUNNING: '1' });
    expect(changed.out).toContain('rc.common start');
    expect(changed.out).not.toContain('HUP');

    const before = fs.readFileSync(generated(), 'utf8');
    uci("\toption p2pgw_enabled '1'\n\toption p2pgw_queue 'x'\n");
    const bad = run(['reload_service'], { RUNNING: '1' });
    expect(bad.out).toContain('reload_service returned 1');
    expect(bad.out).not.toContain('procd_send_signal');
    expect(bad.all).toContain("option p2pgw_queue 'x'");
    expect(fs.readFileSync(generated(), 'utf8')).toBe(before);

    uci("\toption p2pgw_enabled '0'\n");
    const off = run(['reload_service'], { RUNNING: '1' });
    expect(off.out.split('\n').filter(Boolean)).toEqual(['rc.common stop', 'reload_service returned 0']);
  });

  it('registers a reload trigger on /etc/config/p2pgw, and counters sends SIGUSR1', () => {
    expect(run(['service_triggers']).out).toContain('procd_add_reload_trigger p2pgw\n');
    expect(run(['counters']).out).toContain('procd_send_signal p2pgw * USR1\n');
  });
});
