/**
 * Real high-entropy protocols through `p2pgw run` must not be labelled P2P (live, namespaces):
 * an scp of 50 MB over OpenSSH, a TLS 1.3 bulk transfer (node's TLS), and a random-bytes TCP
 * stream that does not follow MSE/PE's message structure. The daemon runs the default config
 * (classify everything); no connection may get the label or connmark of a P2P application
 * (category `p2p` in the registry). QUIC is not generated here: neither Node 20 nor Debian's curl
 * speaks it (the shared quic.pcap capture covers QUIC in replay). Skipped, with the reason
 * printed, when not root, without `ip netns`, or without OpenSSH/openssl (CI installs them).
 */
import { spawnSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { APPS } from '../../src/apps/registry.js';
import { onLines, parseJsonLine, waitExit } from '../../src/tools/lab/run.js';
import { ROOT } from '../helpers/paths.js';
import { waitUntil } from '../helpers/wait.js';
import { liveEnv } from './fixtures/netns.js';
import { MAIN, useLab } from './fixtures/daemon.js';

const PEER = path.join(ROOT, 'test', 'live', 'fixtures', 'fp-peer.mjs');
const P2P = new Set(APPS.filter((a) => a.category === 'p2p').map((a) => a.name));
const env = liveEnv('fp');
const missing = ['/usr/sbin/sshd', '/usr/lib/openssh/sftp-server', '/usr/bin/scp', '/usr/bin/ssh-keygen', '/usr/bin/openssl'].filter((f) => !fs.existsSync(f));
const why = !env.ok ? env.reason : missing.length ? `missing ${missing.join(', ')} (apt-get install openssh-server openssh-client openssl)` : !fs.existsSync(MAIN) ? 'dist/cli/main.js missing (npm run build)' : '';
if (why) console.warn(`skipping the false-positive live tests: ${why}`);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'p2pgw-fp-'));

const run = (argv: string[]) => {
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${argv.join(' ')}: ${r.stderr}`);
  return r.stdout;
};

describe.skipIf(!!why)('high-entropy protocols that are not P2P (live)', () => {
  const daemonLines: Record<string, unknown>[] = [];
  const daemonErr: string[] = [];

  const ctx = useLab({
    name: `pgfp${process.pid % 10000}`,
    tmp,
    timeouts: { beforeAll: 60_000 },
    afterCreate: async (lab) => {
      const cfg = path.join(tmp, 'p2pgw.yaml');
      fs.writeFileSync(cfg, 'apps: {}\n');
      const d = lab.spawn('gw', [process.execPath, MAIN, 'run', '--log-dest', 'stderr', '--config', cfg, '--status-socket', path.join(tmp, 's.sock')]);
      onLines(d.stderr, (l) => {
        const j = parseJsonLine(l);
        if (j) daemonLines.push(j);
        else daemonErr.push(l);
      });
      await waitUntil(() => daemonLines.some((l) => l.msg === 'ready') || d.exitCode !== null, 20_000, 'the daemon is ready');
      if (d.exitCode !== null) throw new Error(`daemon exited: ${daemonErr.join('\n')}`);
    },
    beforeDestroy: () => {
      const classified = daemonLines.filter((l) => l.msg === 'classified').map((l) => `${l.app}/${l.method} ${l.src}:${l.sport} → ${l.dst}:${l.dport}`);
      console.info(`false-positive live: classified lines: ${classified.length ? classified.join('; ') : 'none'}`);
    },
  });

  /** Verdict lines of the daemon for connections to `port`, and the gateway's conntrack marks for them. */
  function labels(port: number): { apps: unknown[]; marks: number[] } {
    const apps = daemonLines.filter((l) => l.msg === 'classified' && l.dport === port).map((l) => l.app);
    const ct = spawnSync('ip', ['netns', 'exec', ctx.lab.ns.gw, 'conntrack', '-L', '-p', 'tcp', '--dport', String(port)], { encoding: 'utf8' }).stdout;
    const marks = [...ct.matchAll(/mark=(\d+)/g)].map((m) => Number(m[1]));
    return { apps, marks };
  }
  const p2pMarks = () => new Set(daemonLines.find((l) => l.msg === 'ready')?.apps as string[] ?? []);
  function expectNoP2p(port: number): void {
    const { apps, marks } = labels(port);
    expect(apps.filter((a) => P2P.has(String(a))), JSON.stringify(apps)).toEqual([]);
    const marksOfP2p = [...p2pMarks()].map((s) => s.split(':')).filter(([app]) => P2P.has(app)).map(([, m]) => Number(m));
    expect(marks.length).toBeGreaterThan(0);
    expect(marks.filter((m) => marksOfP2p.includes(m))).toEqual([]);
  }

  it('scp of 50 MB over OpenSSH', async () => {
    const { lab } = ctx;
    fs.mkdirSync('/run/sshd', { recursive: true });
    const key = path.join(tmp, 'id');
    const host = path.join(tmp, 'host');
    run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', key]);
    run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', host]);
    const conf = path.join(tmp, 'sshd_config');
    fs.writeFileSync(conf, [
      'Port 2222', `ListenAddress ${lab.addr.server}`, `HostKey ${host}`, `AuthorizedKeysFile ${key}.pub`, `PidFile ${tmp}/sshd.pid`,
      'PermitRootLogin prohibit-password', 'PasswordAuthentication no', 'UsePAM no', 'StrictModes no',
      'Subsystem sftp /usr/lib/openssh/sftp-server', '', // scp speaks SFTP since OpenSSH 9
    ].join('\n'));
    const sshd = lab.spawn('server', ['/usr/sbin/sshd', '-D', '-e', '-f', conf]);
    await waitUntil(() => spawnSync('ip', ['netns', 'exec', lab.ns.server, 'ss', '-ltn', 'sport = :2222'], { encoding: 'utf8' }).stdout.includes(':2222'), 10_000, 'sshd listens');
    const src = path.join(tmp, 'payload.bin');
    const fd = fs.openSync(src, 'w');
    const chunk = Buffer.alloc(1 << 20);
    for (let i = 0; i < 50; i++) fs.writeSync(fd, randomFillSync(chunk));
    fs.closeSync(fd);
    const r = await lab.exec('client', ['scp', '-q', '-i', key, '-P', '2222', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes', src, `root@${lab.addr.server}:${tmp}/copy.bin`], { timeoutMs: 120_000 });
    sshd.kill('SIGTERM');
    await waitExit(sshd, 5000);
    expect(r.code, r.stderr).toBe(0);
    expect(fs.statSync(path.join(tmp, 'copy.bin')).size).toBe(50 << 20);
    expectNoP2p(2222);
  }, 180_000);

  it('TLS 1.3 bulk (20 MB)', async () => {
    const { lab } = ctx;
    const cert = path.join(tmp, 'cert.pem');
    const key = path.join(tmp, 'key.pem');
    run(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=p2pgw-test']);
    const server = lab.spawn('server', [process.execPath, PEER, 'tls-server', '8443', cert, key, String(20 << 20)]);
    const lines: Record<string, unknown>[] = [];
    onLines(server.stdout, (l) => (parseJsonLine(l) ? lines.push(parseJsonLine(l)!) : undefined));
    await waitUntil(() => lines.some((l) => l.event === 'listening'), 10_000, 'the TLS server listens');
    const r = await lab.exec('client', [process.execPath, PEER, 'tls-client', lab.addr.server, '8443'], { timeoutMs: 120_000 });
    server.kill('SIGTERM');
    expect(JSON.parse(r.stdout.trim().split('\n').pop()!)).toMatchObject({ event: 'done', bytes: 20 << 20, protocol: 'TLSv1.3' });
    expectNoP2p(8443);
  }, 180_000);

  it('a random-bytes TCP stream that does not follow MSE/PE', async () => {
    const { lab } = ctx;
    const server = lab.spawn('server', [process.execPath, PEER, 'rand-server', '9000']);
    const lines: Record<string, unknown>[] = [];
    onLines(server.stdout, (l) => (parseJsonLine(l) ? lines.push(parseJsonLine(l)!) : undefined));
    await waitUntil(() => lines.some((l) => l.event === 'listening'), 10_000, 'the random server listens');
    for (const n of [300, 5000, 1 << 20]) {
      const r = await lab.exec('client', [process.execPath, PEER, 'rand-client', lab.addr.server, '9000', String(n)], { timeoutMs: 60_000 });
      expect(JSON.parse(r.stdout.trim().split('\n').pop()!)).toMatchObject({ event: 'done', bytes: n });
    }
    server.kill('SIGTERM');
    expectNoP2p(9000);
  }, 120_000);
});
