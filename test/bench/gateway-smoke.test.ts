/**
 * Smoke test of the gateway benchmark (bench/gateway.mjs): `--quick --only 0,3,4` builds the
 * 2-client / gateway / 3-server namespaces, measures plain forwarding, p2pgw classification and
 * HTTP inspection for one 3 s window each, and writes its JSON. Checks: positive throughput for
 * each configuration, the daemon exited 0 and left no iptables rule in the gateway, and no
 * namespace of the bench is left. Needs root, `ip netns`, iptables and the built daemon (`npm run
 * build`); skipped with the reason printed otherwise. Uses `wrk` when installed, else its node
 * load client.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/paths.js';

function why(): string | null {
  if (process.platform !== 'linux') return 'not Linux';
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return 'not root (the bench needs network namespaces, iptables and NFQUEUE)';
  const probe = `pgwbsmoke${process.pid}`;
  const add = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8' });
  if (add.status !== 0) return `\`ip netns add\` unavailable: ${(add.stderr || add.error?.message || '').trim()}`;
  spawnSync('ip', ['netns', 'del', probe]);
  if (spawnSync('iptables', ['--version']).status !== 0) return 'iptables not installed';
  if (!fs.existsSync(path.join(ROOT, 'dist', 'cli', 'main.js'))) return 'dist/cli/main.js missing (npm run build)';
  const nfq = spawnSync(process.execPath, ['-e', "require('nfqueue')"], { cwd: ROOT, encoding: 'utf8' });
  if (nfq.status !== 0) return `the nfqueue binding does not load: ${nfq.stderr.trim().split('\n')[0]}`;
  return null;
}

const reason = why();
if (reason) console.warn(`skipping the gateway bench smoke test: ${reason}`);
const out = fs.mkdtempSync(path.join(os.tmpdir(), 'p2pgw-bench-smoke-'));
afterAll(() => fs.rmSync(out, { recursive: true, force: true }));

describe('bench:gateway --quick', () => {
  it.skipIf(!!reason)('measures configurations 0, 3 and 4 and leaves nothing behind', async () => {
    const child = spawn(process.execPath, [path.join(ROOT, 'bench', 'gateway.mjs'), '--quick', '--only', '0,3,4', '--out', out], {
      cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const code = await new Promise<number | null>((resolve) => {
      const t = setTimeout(() => child.kill('SIGTERM'), 110_000);
      child.on('exit', (c) => (clearTimeout(t), resolve(c)));
    });
    expect(code, `bench exited ${code}\n${stderr}`).toBe(0);
    expect(stdout).toMatch(/plain forwarding/);
    const json = fs.readdirSync(out).find((f) => f.endsWith('-quick.json'));
    expect(json, `no JSON in ${out}: ${fs.readdirSync(out).join(', ')}`).toBeTruthy();
    const doc = JSON.parse(fs.readFileSync(path.join(out, json!), 'utf8')) as {
      configs: { key: string; mbps: { median: number } | null }[];
      runs: { key: string; mbps: number; error?: string; daemon_exit?: number | string | null; rules_left?: string[] }[];
    };
    for (const key of ['0', '3', '4']) {
      const c = doc.configs.find((x) => x.key === key);
      expect(c?.mbps?.median, `throughput of configuration ${key}`).toBeGreaterThan(0);
    }
    for (const r of doc.runs.filter((x) => x.key === '3' || x.key === '4')) {
      expect(r.error).toBeUndefined();
      expect(r.daemon_exit, `daemon exit code in configuration ${r.key}`).toBe(0);
      expect(r.rules_left, `iptables rules left by the daemon in configuration ${r.key}`).toEqual([]);
    }
    expect(fs.readdirSync(out).some((f) => f.endsWith('-quick.md'))).toBe(true);
    const ns = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
    expect(ns.split('\n').filter((l) => new RegExp(`^pgwb${child.pid}-`).test(l))).toEqual([]);
  }, 120_000);
});
