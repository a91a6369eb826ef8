/**
 * A three-namespace lab (client — gateway — server) for running p2pgw without a router:
 *
 *     <name>-c  eth0 10.232.1.2/24  fd00:232:1::2/64   default via 10.232.1.1 / fd00:232:1::1
 *        | veth
 *     <name>-g  lan0 10.232.1.1/24  fd00:232:1::1/64   ip_forward=1, ipv6 forwarding=1
 *               wan0 10.232.2.1/24  fd00:232:2::1/64
 *        | veth
 *     <name>-s  eth0 10.232.2.2/24  fd00:232:2::2/64   default via 10.232.2.1 / fd00:232:2::1
 *
 * Everything is created with `ip -n <ns>` / `ip netns exec`, so the root namespace's network
 * configuration is never touched. rp_filter is 0 everywhere (packets re-injected by NFQUEUE and
 * asymmetric test routes must not be dropped), IPv6 addresses skip DAD (usable at once), and the
 * client and server put wire-like packets on their veth (full checksums, no GSO; see `wireLike`).
 * Requires root and iproute2 (`ip`); see ip-netns(8), veth(4), and the kernel's ip-sysctl.rst.
 */
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { P2pgwError } from '../../core/errors.js';

/** Role of a namespace in the lab. */
export type LabRole = 'client' | 'gw' | 'server';

/** The lab's fixed address plan (IPv6 entries are used only when `ipv6` is on). */
export const LAB_ADDR = Object.freeze({
  client: '10.232.1.2',
  gwLan: '10.232.1.1',
  gwWan: '10.232.2.1',
  server: '10.232.2.2',
  client6: 'fd00:232:1::2',
  gwLan6: 'fd00:232:1::1',
  gwWan6: 'fd00:232:2::1',
  server6: 'fd00:232:2::2',
});

/** Interface names inside the namespaces. */
export const LAB_IFACES = Object.freeze({ client: 'eth0', gwLan: 'lan0', gwWan: 'wan0', server: 'eth0' });

/** Options of `Lab.exec` / `Lab.spawn`. */
export interface LabExecOpts {
  /** exec only: kill the command after this many ms (default 30000). */
  timeoutMs?: number;
  /** exec only: bytes written to the command's stdin. */
  input?: string | Uint8Array;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** spawn only: stdio (default `pipe`). */
  stdio?: SpawnOptions['stdio'];
}

/** Result of `Lab.exec`: exit code (null if killed), signal, and decoded output. */
export interface LabExecResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** A running lab. */
export interface Lab {
  name: string;
  /** Namespace names by role. */
  ns: { client: string; gw: string; server: string };
  addr: { client: string; server: string; gwLan: string; gwWan: string; client6?: string; server6?: string; gwLan6?: string; gwWan6?: string };
  ifaces: typeof LAB_IFACES;
  /** Things worth knowing about this lab (e.g. a wire-likeness step that failed). Empty when all went well. */
  notes: string[];
  /** Runs `argv` inside namespace `ns` (a role or the namespace name) and collects its output. */
  exec(ns: LabRole | string, argv: string[], opts?: LabExecOpts): Promise<LabExecResult>;
  /** Starts `argv` inside `ns`; the process is killed by `destroy()` if still running. */
  spawn(ns: LabRole | string, argv: string[], opts?: LabExecOpts): ChildProcess;
  /** Kills spawned processes (SIGTERM, SIGKILL after 2 s) and deletes the namespaces. Idempotent. */
  destroy(): Promise<void>;
  /** Lets the namespaces outlive this process (no deletion at exit); `destroy()` still works. */
  release(): void;
}

/** Runs a command in the root namespace (only `ip` reads and `ip netns` management are issued). */
function run(argv: string[], opts: LabExecOpts = {}): Promise<LabExecResult> {
  return new Promise((resolve) => {
    const p = spawn(argv[0], argv.slice(1), { env: opts.env ?? process.env, cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    p.stdout!.on('data', (c: Buffer) => out.push(c));
    p.stderr!.on('data', (c: Buffer) => err.push(c));
    const timer = setTimeout(() => p.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    p.on('error', (e) => err.push(Buffer.from(`${e.message}\n`)));
    p.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() });
    });
    p.stdin!.on('error', () => undefined);
    p.stdin!.end(opts.input ?? '');
  });
}

/** Runs and throws P2pgwError('P2PGW_ERR_LAB') on a non-zero exit. */
async function must(argv: string[], what: string): Promise<string> {
  const r = await run(argv);
  if (r.code !== 0) throw new P2pgwError('P2PGW_ERR_LAB', `${what}: \`${argv.join(' ')}\` failed: ${r.stderr.trim() || `exit ${r.code ?? r.signal}`}`);
  return r.stdout;
}

/** Names of the existing network namespaces (`ip netns list`). */
export async function listNamespaces(): Promise<string[]> {
  const r = await run(['ip', 'netns', 'list']);
  if (r.code !== 0) return [];
  return r.stdout.split('\n').map((l) => l.trim().split(/\s+/)[0]).filter(Boolean);
}

/** Throws P2pgwError('P2PGW_ERR_LAB') with a clear reason unless we are root with a working `ip`. */
export async function checkLabPrereqs(): Promise<void> {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new P2pgwError('P2PGW_ERR_LAB', 'the lab needs root (network namespaces, veth and sysctls); run as root or use `p2pgw replay`');
  }
  const r = await run(['ip', '-V']);
  if (r.code !== 0) throw new P2pgwError('P2PGW_ERR_LAB', `the lab needs iproute2's \`ip\` in PATH (${r.stderr.trim() || 'not found'})`);
}

/** Kills every process inside namespace `ns` (`ip netns pids`), by pid. */
async function killNamespacePids(ns: string): Promise<void> {
  const r = await run(['ip', 'netns', 'pids', ns]);
  for (const pid of r.stdout.split(/\s+/).filter(Boolean).map(Number)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
}

/**
 * Deletes leftover lab namespaces from a crashed run: every namespace named `<prefix>...-c|-g|-s`
 * (processes inside are killed first). Resolves with the deleted names. Choose a prefix no live
 * lab of another process shares.
 */
export async function destroyStale(prefix: string): Promise<string[]> {
  const gone: string[] = [];
  for (const ns of await listNamespaces()) {
    if (!ns.startsWith(prefix) || !/-(c|g|s)$/.test(ns)) continue;
    await killNamespacePids(ns);
    const r = await run(['ip', 'netns', 'del', ns]);
    if (r.code === 0) gone.push(ns);
  }
  return gone;
}

/** Labs not yet destroyed (namespace names → spawned processes), cleaned synchronously at exit. */
const live = new Map<string[], Set<ChildProcess>>();
process.once('exit', () => {
  for (const [names, procs] of live) {
    for (const p of procs) p.kill('SIGKILL');
    for (const ns of names) {
      const pids = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).stdout ?? '';
      for (const pid of pids.split(/\s+/).filter(Boolean)) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          /* gone */
        }
      }
      spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
    }
  }
});

/**
 * Makes client and server emit packets as a NIC would put them on a wire, so what the gateway
 * queues has valid TCP/UDP checksums and no 64 KB GSO super-packets: `ethtool -K tx off tso off gso
 * off` when ethtool exists, else `gso_max_segs 1` (ip-link(8)) plus an iptables `CHECKSUM
 * --checksum-fill` rule in the client's and server's own mangle POSTROUTING (iptables-extensions(8)).
 * Failures only add a note.
 */
async function wireLike(ns: { client: string; server: string }, ipv6: boolean, notes: string[]): Promise<void> {
  const ends: [string, string][] = [[ns.client, LAB_IFACES.client], [ns.server, LAB_IFACES.server]];
  if ((await run(['ip', 'netns', 'exec', ns.client, 'ethtool', '--version'])).code === 0) {
    for (const [n, i] of ends) {
      const r = await run(['ip', 'netns', 'exec', n, 'ethtool', '-K', i, 'tx', 'off', 'tso', 'off', 'gso', 'off']);
      if (r.code !== 0) notes.push(`ethtool -K ${i} in ${n} failed: ${r.stderr.trim()}`);
    }
    return;
  }
  for (const [n, i] of ends) {
    const r = await run(['ip', '-n', n, 'link', 'set', 'dev', i, 'gso_max_segs', '1']);
    if (r.code !== 0) notes.push(`gso_max_segs on ${n}/${i} failed: ${r.stderr.trim()}`);
    for (const tool of ipv6 ? ['iptables', 'ip6tables'] : ['iptables']) {
      for (const proto of ['tcp', 'udp']) {
        const c = await run(['ip', 'netns', 'exec', n, tool, '-t', 'mangle', '-A', 'POSTROUTING', '-p', proto, '-j', 'CHECKSUM', '--checksum-fill']);
        if (c.code !== 0) {
          notes.push(`${tool} CHECKSUM --checksum-fill in ${n} failed (${c.stderr.trim() || c.code}): queued packets may carry partial checksums`);
          return;
        }
      }
    }
  }
}

/** Namespace names of a lab, by role. */
type LabNs = Lab['ns'];

/** Runs `ip -n <n> argv...`; throws P2pgwError('P2PGW_ERR_LAB') on failure. */
const inNs = (n: string, ...argv: string[]): Promise<string> => must(['ip', '-n', n, ...argv], `configuring ${n}`);

/**
 * Builds the lab (see the file comment). `name` is a short unique prefix (1-12 chars of
 * [A-Za-z0-9_-]); namespaces `<name>-c`, `<name>-g`, `<name>-s` must not exist yet (clean them
 * with `destroyStale`). Throws P2pgwError('P2PGW_ERR_LAB') when not root, `ip` is missing, the
 * names are taken or a step fails (whatever was created is removed).
 */
export async function createLab(opts: { name: string; ipv6?: boolean; wireLike?: boolean }): Promise<Lab> {
  await checkLabPrereqs();
  const { name } = opts;
  const ns = await freeNamespaces(name);
  const names = [ns.client, ns.gw, ns.server];
  const procs = new Set<ChildProcess>();
  const notes: string[] = [];
  const state = { destroyed: false };
  const destroy = (): Promise<void> => destroyLab(names, procs, state);
  live.set(names, procs);
  // Processes we spawn get SIGTERM if we die without destroy() (setpriv(1) --pdeathsig), so a
  // crashed run leaves no daemon behind; without setpriv, destroyStale kills them later.
  const pdeath = (await run(['setpriv', '--help'])).stdout.includes('--pdeathsig') ? ['setpriv', '--pdeathsig', 'TERM'] : [];
  try {
    await buildNetwork(ns, !!opts.ipv6);
    // Off by default: NFQUEUE already completes partial checksums (skb_checksum_help) and segments
    // GSO packets before they reach user space (no NFQA_CFG_F_GSO), so the daemon sees wire-valid
    // packets anyway. `wireLike` is for tools that capture on the gateway's veths (tcpdump).
    if (opts.wireLike) await wireLike(ns, !!opts.ipv6, notes);
  } catch (e) {
    await destroy();
    throw e instanceof P2pgwError ? e : new P2pgwError('P2PGW_ERR_LAB', `creating lab ${name}: ${(e as Error).message}`, { cause: e });
  }
  const resolveNs = (r: LabRole | string): string => {
    const n = (ns as Record<string, string>)[r] ?? r;
    if (!names.includes(n)) throw new P2pgwError('P2PGW_ERR_LAB', `unknown lab namespace "${r}"`);
    return n;
  };
  return {
    name,
    ns,
    addr: {
      client: LAB_ADDR.client,
      server: LAB_ADDR.server,
      gwLan: LAB_ADDR.gwLan,
      gwWan: LAB_ADDR.gwWan,
      ...(opts.ipv6 ? { client6: LAB_ADDR.client6, server6: LAB_ADDR.server6, gwLan6: LAB_ADDR.gwLan6, gwWan6: LAB_ADDR.gwWan6 } : {}),
    },
    ifaces: LAB_IFACES,
    notes,
    exec: (r, argv, o = {}) => run(['ip', 'netns', 'exec', resolveNs(r), ...argv], o),
    spawn(r, argv, o = {}) {
      if (state.destroyed) throw new P2pgwError('P2PGW_ERR_LAB', `lab ${name} is destroyed`);
      const p = spawn('ip', ['netns', 'exec', resolveNs(r), ...pdeath, ...argv], { env: o.env ?? process.env, cwd: o.cwd, stdio: o.stdio ?? 'pipe' });
      procs.add(p);
      p.once('exit', () => procs.delete(p));
      return p;
    },
    destroy,
    release: () => void live.delete(names),
  };
}

/**
 * The namespace names of lab `name`, after checking the name and that none of them exists.
 * @throws P2pgwError('P2PGW_ERR_LAB') for a bad name or a name taken
 */
async function freeNamespaces(name: string): Promise<LabNs> {
  if (!/^[A-Za-z0-9][A-Za-z0-9_-]{0,11}$/.test(name)) throw new P2pgwError('P2PGW_ERR_LAB', `bad lab name "${name}" (1-12 of [A-Za-z0-9_-])`);
  const ns = { client: `${name}-c`, gw: `${name}-g`, server: `${name}-s` };
  const existing = await listNamespaces();
  const taken = [ns.client, ns.gw, ns.server].filter((n) => existing.includes(n));
  if (taken.length) throw new P2pgwError('P2PGW_ERR_LAB', `namespaces already exist: ${taken.join(', ')} (destroyStale('${name}-') removes them)`);
  return ns;
}

/**
 * Destroys a lab once: SIGTERM to the processes it spawned (SIGKILL after 2 s), kills whatever else
 * runs in its namespaces, deletes them and forgets the lab.
 */
async function destroyLab(names: string[], procs: Set<ChildProcess>, state: { destroyed: boolean }): Promise<void> {
  if (state.destroyed) return;
  state.destroyed = true;
  const alive = [...procs].filter((p) => p.exitCode === null && p.signalCode === null);
  for (const p of alive) p.kill('SIGTERM');
  const exited = (p: ChildProcess): Promise<void> =>
    new Promise<void>((r) => {
      if (p.exitCode !== null || p.signalCode !== null) return r();
      const t = setTimeout(() => (p.kill('SIGKILL'), r()), 2000);
      p.once('exit', () => (clearTimeout(t), r()));
    });
  await Promise.all(alive.map(exited));
  for (const n of names) await killNamespacePids(n);
  for (const n of names) await run(['ip', 'netns', 'del', n]);
  live.delete(names);
}

/**
 * The lab's network, step by step: the three namespaces and two veth pairs, the sysctls, the
 * addresses, links up and default routes, then waits until every veth is operationally up.
 * @throws P2pgwError('P2PGW_ERR_LAB') naming the step that failed
 */
async function buildNetwork(ns: LabNs, ipv6: boolean): Promise<void> {
  for (const n of [ns.client, ns.gw, ns.server]) await must(['ip', 'netns', 'add', n], 'creating namespace');
  await inNs(ns.gw, 'link', 'add', LAB_IFACES.gwLan, 'type', 'veth', 'peer', 'name', LAB_IFACES.client, 'netns', ns.client);
  await inNs(ns.gw, 'link', 'add', LAB_IFACES.gwWan, 'type', 'veth', 'peer', 'name', LAB_IFACES.server, 'netns', ns.server);
  await setSysctls(ns, ipv6);
  await addAddresses(ns, ipv6);
  await linksUpAndRoutes(ns, ipv6);
  await waitVethsUp(ns);
}

/**
 * rp_filter 0 everywhere; forwarding on the gateway; with IPv6, IPv6 on and no DAD anywhere (the
 * veths already exist, so `default` alone would miss them): link-local addresses are usable at
 * once and the first neighbour discovery does not stall for a second.
 */
async function setSysctls(ns: LabNs, ipv6: boolean): Promise<void> {
  const sysctl = async (n: string, kv: string[]): Promise<void> => {
    await must(['ip', 'netns', 'exec', n, 'sysctl', '-qw', ...kv], `sysctl in ${n}`);
  };
  const rp = (ifs: string[]): string[] => ['all', 'default', 'lo', ...ifs].map((i) => `net.ipv4.conf.${i}.rp_filter=0`);
  const v6 = (on: boolean, ifs: string[]): string[] =>
    on ? ['net.ipv6.conf.all.disable_ipv6=0', ...['all', 'default', ...ifs].map((i) => `net.ipv6.conf.${i}.accept_dad=0`)] : [];
  await sysctl(ns.client, [...rp([LAB_IFACES.client]), ...v6(ipv6, [LAB_IFACES.client])]);
  await sysctl(ns.server, [...rp([LAB_IFACES.server]), ...v6(ipv6, [LAB_IFACES.server])]);
  await sysctl(ns.gw, [
    ...rp([LAB_IFACES.gwLan, LAB_IFACES.gwWan]),
    'net.ipv4.ip_forward=1',
    'net.ipv6.conf.all.forwarding=1',
    ...v6(ipv6, [LAB_IFACES.gwLan, LAB_IFACES.gwWan]),
  ]);
}

/** The address plan (LAB_ADDR): IPv4 /24s, and with `ipv6` the /64s (nodad). */
async function addAddresses(ns: LabNs, ipv6: boolean): Promise<void> {
  const A = LAB_ADDR;
  const addr = async (n: string, a: string, dev: string): Promise<void> => {
    await inNs(n, 'addr', 'add', a, 'dev', dev, ...(a.includes(':') ? ['nodad'] : []));
  };
  await addr(ns.client, `${A.client}/24`, LAB_IFACES.client);
  await addr(ns.gw, `${A.gwLan}/24`, LAB_IFACES.gwLan);
  await addr(ns.gw, `${A.gwWan}/24`, LAB_IFACES.gwWan);
  await addr(ns.server, `${A.server}/24`, LAB_IFACES.server);
  if (ipv6) {
    await addr(ns.client, `${A.client6}/64`, LAB_IFACES.client);
    await addr(ns.gw, `${A.gwLan6}/64`, LAB_IFACES.gwLan);
    await addr(ns.gw, `${A.gwWan6}/64`, LAB_IFACES.gwWan);
    await addr(ns.server, `${A.server6}/64`, LAB_IFACES.server);
  }
}

/** Every interface (and lo) up; client and server route by default through the gateway. */
async function linksUpAndRoutes(ns: LabNs, ipv6: boolean): Promise<void> {
  for (const [n, ifs] of [
    [ns.client, [LAB_IFACES.client]],
    [ns.gw, [LAB_IFACES.gwLan, LAB_IFACES.gwWan]],
    [ns.server, [LAB_IFACES.server]],
  ] as const) {
    for (const i of ['lo', ...ifs]) await inNs(n, 'link', 'set', i, 'up');
  }
  await inNs(ns.client, 'route', 'add', 'default', 'via', LAB_ADDR.gwLan);
  await inNs(ns.server, 'route', 'add', 'default', 'via', LAB_ADDR.gwWan);
  if (ipv6) {
    await inNs(ns.client, '-6', 'route', 'add', 'default', 'via', LAB_ADDR.gwLan6);
    await inNs(ns.server, '-6', 'route', 'add', 'default', 'via', LAB_ADDR.gwWan6);
  }
}

/**
 * The kernel's linkwatch attaches the veths' qdiscs (and IPv6 starts using them) up to a second
 * after `link set up`; packets sent before are dropped. Waits until every veth is operationally UP.
 * @throws P2pgwError('P2PGW_ERR_LAB') after 5 s
 */
async function waitVethsUp(ns: LabNs): Promise<void> {
  const waitUp = Date.now() + 5000;
  for (const [n, i] of [[ns.client, LAB_IFACES.client], [ns.gw, LAB_IFACES.gwLan], [ns.gw, LAB_IFACES.gwWan], [ns.server, LAB_IFACES.server]]) {
    while (!/\bstate UP\b/.test((await run(['ip', '-n', n, '-o', 'link', 'show', 'dev', i])).stdout)) {
      if (Date.now() > waitUp) throw new P2pgwError('P2PGW_ERR_LAB', `${n}/${i} did not come up within 5 s`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/**
 * Adds `count` (1–100) more addresses to the client's interface and returns them: IPv4
 * 10.232.1.100+i/24, or IPv6 fd00:232:1::100+i/64 (hex, no DAD) for `family` 6 (the lab must have
 * been made with `ipv6`). The gateway reaches them on its connected LAN route. For flows from many
 * sources, e.g. to spread `--queue-balance`, which hashes addresses and protocol, not ports.
 * Throws P2pgwError('P2PGW_ERR_LAB') when `ip` fails.
 */
export async function addClientAddresses(lab: Lab, count: number, family: 4 | 6): Promise<string[]> {
  if (!Number.isInteger(count) || count < 1 || count > 100) throw new P2pgwError('P2PGW_ERR_LAB', `addClientAddresses: count must be 1..100, not ${count}`);
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const a = family === 4 ? `10.232.1.${100 + i}` : `fd00:232:1::${(0x100 + i).toString(16)}`;
    const r = await lab.exec('client', ['ip', 'addr', 'add', `${a}/${family === 4 ? 24 : 64}`, 'dev', lab.ifaces.client, ...(family === 6 ? ['nodad'] : [])]);
    if (r.code !== 0) throw new P2pgwError('P2PGW_ERR_LAB', `adding ${a} to the client: ${r.stderr.trim() || `exit ${r.code}`}`);
    out.push(a);
  }
  return out;
}
