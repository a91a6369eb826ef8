/**
 * Issue 14, item 8: hostile files and paths given to the CLI (dist/cli/main.js, as a user runs it).
 * Every case must end with a non-zero exit code, exactly one line on stderr, no Node stack (`    at `
 * lines), and within a deadline: a FIFO must not hang the open, /dev/zero or a sparse multi-GiB file
 * must not be read into memory, a YAML alias bomb must not expand. `check-config` runs every check
 * `run` runs at start-up (keyword lists, scan databases, audit directory, flow log, rules), so what
 * `run` refuses, `check-config` refuses too.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, capture } from '../helpers/paths.js';

const CLI = path.join(ROOT, 'dist', 'cli', 'main.js');
const DEADLINE_MS = 20_000;
const root = typeof process.getuid === 'function' && process.getuid() === 0;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'p2pgw-hostile-'));
const at = (...p: string[]) => path.join(tmp, ...p);
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const THREE_GIB = 3 * 1024 ** 3;
/** A YAML "billion laughs": 9 levels of 9 aliases each (9^9 strings once expanded). */
const ALIAS_BOMB = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
  ...'bcdefghi'.split('').map((k, i) => `${k}: &${k} [${Array(9).fill(`*${'abcdefgh'[i]}`).join(',')}]`)].join('\n');

beforeAll(() => {
  fs.mkdirSync(at('dir'));
  fs.mkdirSync(at('dir.ndb'));
  fs.symlinkSync(at('loop2'), at('loop1'));
  fs.symlinkSync(at('loop1'), at('loop2'));
  for (const f of ['fifo', 'fifo.ndb', 'fifo.p2pgwdb', 'fifo.pcap']) expect(spawnSync('mkfifo', [at(f)]).status).toBe(0);
  for (const f of ['big.yaml', 'big.ndb', 'big.pcap']) fs.truncateSync((fs.writeFileSync(at(f), ''), at(f)), THREE_GIB); // sparse
  fs.writeFileSync(at('bomb.yaml'), `${ALIAS_BOMB}\n`);
  fs.writeFileSync(at('file'), 'not a directory\n');
  fs.writeFileSync(at('sig.ndb'), 'Test.Sig:0:*:41424344454647\n');
  // Rules directories: the bundled rules plus one hostile *.rules entry.
  for (const [name, make] of [
    ['rules-fifo', (p: string) => spawnSync('mkfifo', [p])],
    ['rules-big', (p: string) => fs.truncateSync((fs.writeFileSync(p, ''), p), THREE_GIB)],
    ['rules-dir', (p: string) => fs.mkdirSync(p)],
  ] as const) {
    fs.mkdirSync(at(name));
    for (const r of fs.readdirSync(path.join(ROOT, 'rules')).filter((f) => f.endsWith('.rules'))) fs.copyFileSync(path.join(ROOT, 'rules', r), at(name, r));
    make(at(name, 'zz-hostile.rules'));
  }
  const cfg = (name: string, yaml: string) => fs.writeFileSync(at(name), yaml);
  cfg('rules-fifo.yaml', 'rules: {dir: rules-fifo}\n');
  cfg('rules-big.yaml', 'rules: {dir: rules-big}\n');
  cfg('rules-dir.yaml', 'rules: {dir: rules-dir}\n');
  cfg('rules-loop.yaml', 'rules: {dir: loop1}\n');
  cfg('db-fifo.yaml', 'scan: {databases: [fifo.ndb]}\n');
  cfg('db-fifo-compiled.yaml', 'scan: {databases: [fifo.p2pgwdb]}\n');
  cfg('db-missing.yaml', 'scan: {databases: [missing.ndb]}\n');
  cfg('db-dir.yaml', 'scan: {databases: [dir.ndb]}\n');
  cfg('db-big.yaml', 'scan: {databases: [big.ndb]}\n');
  cfg('db-loop.yaml', 'scan: {databases: [loop1]}\n');
  cfg('audit-file.yaml', 'audit: {enabled: true, dir: file}\n'); // EEXIST: a file where the directory goes
  cfg('audit-under-file.yaml', 'audit: {enabled: true, dir: file/audit}\n');
  cfg('audit-symlink.yaml', 'audit: {enabled: true, dir: audit-link}\n');
  fs.mkdirSync(at('audit-real'), { mode: 0o700 });
  fs.symlinkSync(at('audit-real'), at('audit-link'));
  cfg('audit-open.yaml', 'audit: {enabled: true, dir: audit-open}\n');
  fs.mkdirSync(at('audit-open'));
  fs.chmodSync(at('audit-open'), 0o777);
  cfg('audit-other.yaml', 'audit: {enabled: true, dir: audit-other}\n');
  fs.mkdirSync(at('audit-other'), { mode: 0o700 });
  if (root) fs.chownSync(at('audit-other'), 65534, 65534);
  cfg('keyword-empty.yaml', 'keywords: {lists: {banned: ["  "]}}\n');
  cfg('flowlog-file.yaml', 'flow_log: {dir: file}\n');
});

interface Case {
  name: string;
  args: () => string[];
  /** What the one stderr line must say. */
  says: RegExp;
  skip?: boolean;
}

const CASES: Case[] = [
  { name: 'check-config: a directory as the config (EISDIR)', args: () => ['check-config', at('dir')], says: /is a directory/ },
  { name: 'check-config: a symlink loop (ELOOP)', args: () => ['check-config', at('loop1')], says: /ELOOP/ },
  { name: 'check-config: a FIFO as the config does not hang', args: () => ['check-config', at('fifo')], says: /FIFO/ },
  { name: 'check-config: /dev/zero as the config', args: () => ['check-config', '/dev/zero'], says: /character device/ },
  { name: 'check-config: a 3 GiB (sparse) config', args: () => ['check-config', at('big.yaml')], says: /3 GiB, more than/ },
  { name: 'check-config: a YAML alias bomb', args: () => ['check-config', at('bomb.yaml')], says: /YAML aliases expand too much/ },
  { name: 'check-config: a FIFO as a rules file', args: () => ['check-config', at('rules-fifo.yaml')], says: /zz-hostile\.rules:0: .*FIFO/ },
  { name: 'check-config: a 3 GiB rules file', args: () => ['check-config', at('rules-big.yaml')], says: /zz-hostile\.rules:0: .*3 GiB/ },
  { name: 'check-config: a directory named *.rules', args: () => ['check-config', at('rules-dir.yaml')], says: /zz-hostile\.rules:0: .*directory/ },
  { name: 'check-config: a rules directory that is a symlink loop', args: () => ['check-config', at('rules-loop.yaml')], says: /cannot read rules directory: ELOOP/ },
  { name: 'check-config: a FIFO as a scan database', args: () => ['check-config', at('db-fifo.yaml')], says: /fifo\.ndb: cannot read: .*FIFO/ },
  { name: 'check-config: a FIFO as a compiled database', args: () => ['check-config', at('db-fifo-compiled.yaml')], says: /fifo\.p2pgwdb: .*FIFO/ },
  { name: 'check-config: a missing scan database', args: () => ['check-config', at('db-missing.yaml')], says: /missing\.ndb: cannot read: ENOENT/ },
  { name: 'check-config: a directory as a scan database', args: () => ['check-config', at('db-dir.yaml')], says: /dir\.ndb: .*directory/ },
  { name: 'check-config: a 3 GiB scan database', args: () => ['check-config', at('db-big.yaml')], says: /big\.ndb: .*3 GiB/ },
  { name: 'check-config: a symlink loop as a scan database', args: () => ['check-config', at('db-loop.yaml')], says: /ELOOP/ },
  { name: 'check-config: audit.dir is a regular file (EEXIST)', args: () => ['check-config', at('audit-file.yaml')], says: /audit directory .*regular file, not a directory/ },
  { name: 'check-config: audit.dir under a regular file (ENOTDIR)', args: () => ['check-config', at('audit-under-file.yaml')], says: /audit directory .*not a directory/ },
  { name: 'check-config: audit.dir is a symlink', args: () => ['check-config', at('audit-symlink.yaml')], says: /audit directory .*symbolic link/ },
  { name: 'check-config: audit.dir is world-writable', args: () => ['check-config', at('audit-open.yaml')], says: /audit directory .*writable by other users/ },
  { name: 'check-config: audit.dir owned by another user', args: () => ['check-config', at('audit-other.yaml')], says: /owned by uid 65534/, skip: !root },
  { name: 'check-config: a keyword list `run` refuses', args: () => ['check-config', at('keyword-empty.yaml')], says: /keywords\.lists\.banned\[0\]: empty keyword/ },
  { name: 'check-config: flow_log.dir is a regular file', args: () => ['check-config', at('flowlog-file.yaml')], says: /flow log: directory .* not a directory/ },
  { name: 'replay: /dev/zero is refused, memory stays bounded', args: () => ['replay', '/dev/zero'], says: /\/dev\/zero: cannot read capture: .*character device/ },
  { name: 'replay: a FIFO capture does not hang', args: () => ['replay', at('fifo.pcap')], says: /fifo\.pcap: .*FIFO/ },
  { name: 'replay: a directory (EISDIR)', args: () => ['replay', at('dir')], says: /dir: cannot read capture: .*directory/ },
  { name: 'replay: a symlink loop (ELOOP)', args: () => ['replay', at('loop1')], says: /ELOOP/ },
  { name: 'replay: a 3 GiB (sparse) capture', args: () => ['replay', at('big.pcap')], says: /big\.pcap: .*3 GiB, more than/ },
  { name: 'replay: --flows into a directory (EISDIR)', args: () => ['replay', capture('dns.pcap'), '--flows', at('dir')], says: /--flows .*EISDIR/ },
  { name: 'replay: --config that is a FIFO', args: () => ['replay', capture('dns.pcap'), '--config', at('fifo')], says: /FIFO/ },
  { name: 'analyze: a FIFO as input does not hang', args: () => ['analyze', at('fifo'), '--local', '10.0.0.0/8'], says: /fifo: is a FIFO/ },
  { name: 'analyze: a directory as input', args: () => ['analyze', at('dir'), '--local', '10.0.0.0/8'], says: /dir: is a directory, not a regular file/ },
  { name: 'analyze: /dev/zero as input', args: () => ['analyze', '/dev/zero', '--local', '10.0.0.0/8'], says: /\/dev\/zero: is a character device/ },
  { name: 'analyze: a 3 GiB (sparse) record file', args: () => ['analyze', at('big.pcap'), '--local', '10.0.0.0/8'], says: /big\.pcap: is 3 GiB, more than the 256 MiB allowed/ },
  { name: 'profile: a FIFO as input does not hang', args: () => ['profile', at('fifo')], says: /fifo: is a FIFO/ },
  { name: 'compile-sigs: a FIFO as input', args: () => ['compile-sigs', at('fifo.ndb'), '-o', at('out.p2pgwdb')], says: /fifo\.ndb: .*FIFO/ },
  // A system call's error that reaches the top (here the output's open) is one line, not a stack.
  { name: 'compile-sigs: the output is a directory (EISDIR)', args: () => ['compile-sigs', at('sig.ndb'), '-o', at('dir')], says: /EISDIR/ },
];

/** Runs the CLI; kills it at the deadline. */
function runCli(args: string[]): Promise<{ code: number | null; signal: string | null; stderr: string; ms: number }> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const child = spawn(process.execPath, [CLI, ...args], { cwd: tmp, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), DEADLINE_MS);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stderr, ms: Date.now() - t0 });
    });
  });
}

describe.concurrent('hostile inputs: one clear line, a non-zero exit, no stack, no hang', () => {
  it.for(CASES.filter((c) => !c.skip).map((c) => [c.name, c] as const))('%s', async ([, c], { expect }) => {
    const r = await runCli(c.args());
    expect(r.signal, `killed at the ${DEADLINE_MS} ms deadline; stderr: ${r.stderr}`).toBeNull();
    expect(r.code).not.toBe(0);
    expect(r.stderr).not.toMatch(/^ {4}at /m);
    const lines = r.stderr.split('\n').filter((l) => l.length > 0);
    expect(lines, r.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(/^p2pgw: /);
    expect(lines[0]).toMatch(c.says);
  });
});
