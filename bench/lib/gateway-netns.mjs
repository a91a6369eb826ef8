/**
 * The gateway benchmark's topology (thesis Figure 6): two client namespaces, one gateway, three
 * server namespaces, each end on its own point-to-point veth link to the gateway.
 *
 *   <p>-c1  eth0 10.240.11.2/24 ── lan1 10.240.11.1/24 ┐
 *   <p>-c2  eth0 10.240.12.2/24 ── lan2 10.240.12.1/24 ├ <p>-gw (ip_forward=1)
 *   <p>-s1  eth0 10.240.21.2/24 ── wan1 10.240.21.1/24 │
 *   <p>-s2  eth0 10.240.22.2/24 ── wan2 10.240.22.1/24 │
 *   <p>-s3  eth0 10.240.23.2/24 ── wan3 10.240.23.1/24 ┘
 *
 * Clients and servers route everything via the gateway. Every address lives inside namespaces we
 * create; the root namespace's network configuration is never touched (only `ip netns add/del` and
 * `ip -n <ours> ...` are issued). The ends put wire-like packets on their veths (`ethtool -K tx off
 * tso off gso off`, or without ethtool `gso_max_segs 1` + a CHECKSUM fill rule in the end's own
 * namespace), and GRO is off on the gateway's veths, so the gateway forwards MTU-sized packets as
 * a router with a real NIC would: the per-packet costs the thesis measured are what we measure.
 *
 * Plain JS (no build step): used by bench/gateway.mjs and its smoke test.
 */
import { spawn, spawnSync } from 'node:child_process';

export const CLIENTS = 2;
export const SERVERS = 3;

/** Address plan (fixed; the namespaces isolate it from any other lab using the same numbers). */
export const addr = {
  client: (i) => `10.240.${10 + i}.2`,
  gwLan: (i) => `10.240.${10 + i}.1`,
  server: (j) => `10.240.${20 + j}.2`,
  gwWan: (j) => `10.240.${20 + j}.1`,
};

/** Runs argv (no shell), collects output; kills it after timeoutMs. */
export function run(argv, { timeoutMs = 30_000, input, env } = {}) {
  return new Promise((resolve) => {
    const p = spawn(argv[0], argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'], env: env ?? process.env });
    const out = [];
    const err = [];
    p.stdout.on('data', (c) => out.push(c));
    p.stderr.on('data', (c) => err.push(c));
    const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('error', (e) => err.push(Buffer.from(`${e.message}\n`)));
    p.on('close', (code, signal) => {
      clearTimeout(t);
      resolve({ code, signal, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() });
    });
    p.stdin.on('error', () => undefined);
    p.stdin.end(input ?? '');
  });
}

async function must(argv, what) {
  const r = await run(argv);
  if (r.code !== 0) throw new Error(`${what}: \`${argv.join(' ')}\` failed: ${r.stderr.trim() || `exit ${r.code ?? r.signal}`}`);
  return r.stdout;
}

export async function listNamespaces() {
  const r = await run(['ip', 'netns', 'list']);
  return r.code === 0 ? r.stdout.split('\n').map((l) => l.trim().split(/\s+/)[0]).filter(Boolean) : [];
}

function pidsIn(ns) {
  const out = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).stdout ?? '';
  return out.split(/\s+/).filter(Boolean).map(Number);
}

function killPids(pids) {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

const alive = (pid) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === 'EPERM';
  }
};

/**
 * Removes namespaces of earlier runs that died without cleaning up: `pgwb<pid>-*` whose creating
 * process no longer exists (processes inside are killed by pid first). Returns the names deleted.
 */
export async function destroyStale() {
  const gone = [];
  for (const ns of await listNamespaces()) {
    const m = /^pgwb(\d+)-/.exec(ns);
    if (!m || alive(Number(m[1]))) continue;
    killPids(pidsIn(ns));
    if ((await run(['ip', 'netns', 'del', ns])).code === 0) gone.push(ns);
  }
  return gone;
}

const labs = new Set();
process.once('exit', () => {
  for (const lab of labs) lab.destroySync();
});

/**
 * Builds the topology. Returns { ns: {clients, gw, servers}, addr, notes, exec(ns, argv, opts),
 * spawn(ns, argv, opts), destroy() }. Throws (after removing what it created) on any failure.
 */
export async function createTopology({ wireLike = true } = {}) {
  if (process.getuid?.() !== 0) throw new Error('the gateway bench needs root (network namespaces, veth, iptables)');
  const p = `pgwb${process.pid}`;
  const ns = {
    clients: Array.from({ length: CLIENTS }, (_, i) => `${p}-c${i + 1}`),
    gw: `${p}-gw`,
    servers: Array.from({ length: SERVERS }, (_, j) => `${p}-s${j + 1}`),
  };
  const all = [...ns.clients, ns.gw, ...ns.servers];
  const procs = new Set();
  const notes = [];
  let destroyed = false;
  const destroySync = () => {
    if (destroyed) return;
    destroyed = true;
    for (const c of procs) c.kill('SIGKILL');
    for (const n of all) killPids(pidsIn(n));
    for (const n of all) spawnSync('ip', ['netns', 'del', n], { stdio: 'ignore' });
    labs.delete(lab);
  };
  const lab = {
    prefix: p,
    ns,
    addr,
    notes,
    exec: (n, argv, o) => run(['ip', 'netns', 'exec', n, ...argv], o),
    /** Starts argv in namespace n; SIGTERM reaches it if we die (setpriv --pdeathsig). */
    spawn(n, argv, { stdio = 'pipe', env } = {}) {
      if (destroyed) throw new Error('topology destroyed');
      const c = spawn('ip', ['netns', 'exec', n, 'setpriv', '--pdeathsig', 'TERM', ...argv], { stdio, env: env ?? process.env });
      procs.add(c);
      c.once('exit', () => procs.delete(c));
      return c;
    },
    async destroy() {
      if (destroyed) return;
      const live = [...procs].filter((c) => c.exitCode === null && c.signalCode === null);
      for (const c of live) c.kill('SIGTERM');
      await Promise.all(live.map((c) => new Promise((r) => {
        if (c.exitCode !== null || c.signalCode !== null) return r();
        const t = setTimeout(() => (c.kill('SIGKILL'), r()), 3000);
        c.once('exit', () => (clearTimeout(t), r()));
      })));
      destroySync();
    },
    destroySync,
  };
  labs.add(lab);
  try {
    const existing = await listNamespaces();
    for (const n of all) if (existing.includes(n)) throw new Error(`namespace ${n} already exists`);
    for (const n of all) await must(['ip', 'netns', 'add', n], 'creating namespace');
    const inNs = (n, ...argv) => must(['ip', '-n', n, ...argv], `configuring ${n}`);
    const sysctl = (n, kv) => must(['ip', 'netns', 'exec', n, 'sysctl', '-qw', ...kv], `sysctl in ${n}`);
    const rp = (ifs) => ['all', 'default', 'lo', ...ifs].map((i) => `net.ipv4.conf.${i}.rp_filter=0`);
    const links = [];
    for (let i = 1; i <= CLIENTS; i++) links.push({ end: ns.clients[i - 1], gwIf: `lan${i}`, endAddr: addr.client(i), gwAddr: addr.gwLan(i) });
    for (let j = 1; j <= SERVERS; j++) links.push({ end: ns.servers[j - 1], gwIf: `wan${j}`, endAddr: addr.server(j), gwAddr: addr.gwWan(j) });
    for (const l of links) {
      await inNs(ns.gw, 'link', 'add', l.gwIf, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', l.end);
      await sysctl(l.end, [...rp(['eth0']), 'net.ipv6.conf.all.disable_ipv6=1']);
      await inNs(l.end, 'addr', 'add', `${l.endAddr}/24`, 'dev', 'eth0');
      await inNs(ns.gw, 'addr', 'add', `${l.gwAddr}/24`, 'dev', l.gwIf);
      for (const i of ['lo', 'eth0']) await inNs(l.end, 'link', 'set', i, 'up');
      await inNs(ns.gw, 'link', 'set', l.gwIf, 'up');
      await inNs(l.end, 'route', 'add', 'default', 'via', l.gwAddr);
    }
    await inNs(ns.gw, 'link', 'set', 'lo', 'up');
    await sysctl(ns.gw, [...rp(links.map((l) => l.gwIf)), 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.disable_ipv6=1']);
    const until = Date.now() + 5000;
    for (const l of links) {
      for (const [n, i] of [[l.end, 'eth0'], [ns.gw, l.gwIf]]) {
        while (!/\bstate UP\b/.test((await run(['ip', '-n', n, '-o', 'link', 'show', 'dev', i])).stdout)) {
          if (Date.now() > until) throw new Error(`${n}/${i} did not come up within 5 s`);
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    }
    lab.links = links;
    lab.traffic = 'gso'; // veth's defaults: TSO/GSO on, checksums left to the stack
    if (wireLike) await setTraffic(lab, 'mtu');
  } catch (e) {
    await lab.destroy();
    throw e;
  }
  return lab;
}

/**
 * Switches what the ends send (bench/gateway.mjs sets it per configuration; a no-op when unchanged):
 * - `mtu`: wire-like, MTU-sized, fully checksummed packets (see the file comment), like a router
 *   whose NIC does no GRO;
 * - `gso`: the ends' veths with TSO/GSO and checksum offload on and GRO on the gateway's veths, so
 *   the gateway forwards GSO super-packets (up to 64 KiB, checksums left partial), like a router
 *   whose NIC does GRO. Needs ethtool; without it the mode stays `mtu` (noted).
 * Failures become notes in lab.notes.
 */
export async function setTraffic(lab, mode) {
  if (lab.traffic === mode) return;
  if (mode === 'mtu') await makeWireLike(lab, lab.links, lab.notes);
  else if ((await run(['ethtool', '--version'])).code !== 0) {
    // The ends stay wire-like (switching back needs ethtool too): GSO rows measure MTU traffic.
    if (!lab.notes.includes('no ethtool: GSO traffic runs as MTU traffic')) lab.notes.push('no ethtool: GSO traffic runs as MTU traffic');
    return;
  } else {
    for (const l of lab.links) {
      const r = await lab.exec(l.end, ['ethtool', '-K', 'eth0', 'tx', 'on', 'tso', 'on', 'gso', 'on', 'gro', 'on']);
      if (r.code !== 0) lab.notes.push(`ethtool -K eth0 (gso) in ${l.end} failed: ${r.stderr.trim()}`);
      const g = await lab.exec(lab.ns.gw, ['ethtool', '-K', l.gwIf, 'tx', 'on', 'gro', 'on', 'tso', 'on', 'gso', 'on']);
      if (g.code !== 0) lab.notes.push(`ethtool -K ${l.gwIf} (gso) failed: ${g.stderr.trim()}`);
    }
  }
  lab.traffic = mode;
}

/** MTU-sized, fully checksummed packets on every veth (see the file comment). Failures become notes. */
async function makeWireLike(lab, links, notes) {
  const haveEthtool = (await run(['ethtool', '--version'])).code === 0;
  for (const l of links) {
    if (haveEthtool) {
      const r = await lab.exec(l.end, ['ethtool', '-K', 'eth0', 'tx', 'off', 'tso', 'off', 'gso', 'off', 'gro', 'off']);
      if (r.code !== 0) notes.push(`ethtool -K eth0 in ${l.end} failed: ${r.stderr.trim()}`);
      const g = await lab.exec(lab.ns.gw, ['ethtool', '-K', l.gwIf, 'gro', 'off', 'tso', 'off', 'gso', 'off']);
      if (g.code !== 0) notes.push(`ethtool -K ${l.gwIf} failed: ${g.stderr.trim()}`);
    } else {
      const r = await run(['ip', '-n', l.end, 'link', 'set', 'dev', 'eth0', 'gso_max_segs', '1']);
      if (r.code !== 0) notes.push(`gso_max_segs on ${l.end} failed: ${r.stderr.trim()}`);
      const c = await lab.exec(l.end, ['iptables', '-t', 'mangle', '-A', 'POSTROUTING', '-p', 'tcp', '-j', 'CHECKSUM', '--checksum-fill']);
      if (c.code !== 0) notes.push(`CHECKSUM --checksum-fill in ${l.end} failed: ${c.stderr.trim()}`);
    }
  }
  if (!haveEthtool) notes.push('ethtool not installed: wire-likeness by gso_max_segs 1 + CHECKSUM fill (install ethtool for the documented setup)');
}
