/**
 * The sink's kernel side: our own chain in the IPv4 nat table that DNATs every unsolicited inbound
 * TCP/UDP connection arriving on the WAN interface to the sink's listeners (iptables-extensions(8),
 * DNAT: `--to-destination addr:port`; only the first packet of a connection traverses the nat
 * table, conntrack applies the mapping to the rest and un-NATs the replies).
 *
 *   nat PREROUTING (appended last) -i <wan> -m addrtype --dst-type LOCAL -j P2PGW_SINK
 *   P2PGW_SINK: -p tcp --dport <except> -j RETURN ...   (ports kept for the router's own services)
 *               -p tcp [-d <dst>] -j DNAT --to-destination <listen>:<tcp port>
 *               -p udp [-d <dst>] -j DNAT --to-destination <listen>:<udp port>
 *
 * "Unsolicited" is what the nat table sees: replies to connections this host opened are
 * conntrack ESTABLISHED and never reach it. The jump is appended, so DNAT port forwards the router
 * already has (earlier in PREROUTING) keep precedence, and `addrtype LOCAL` leaves forwarded and
 * broadcast traffic alone. The filter table is not touched: a firewall dropping WAN input must
 * accept the DNATed packets (e.g. `-m conntrack --ctstate DNAT -j ACCEPT`).
 *
 * Like src/enforce/iptables.ts: installation is one `iptables-restore --noflush` (atomic) that
 * creates or flushes our chain, deletes every earlier jump to it (a crashed run, another WAN
 * interface) and adds ours, so it is idempotent; removal deletes the jumps, flushes and deletes the
 * chain, and does nothing when the chain is absent.
 */
import { isIPv4 } from 'node:net';
import { P2pgwError } from '../core/errors.js';
import { run, type Backend, type NetnsOpt, type RunResult } from '../enforce/backend.js';
import { parseSave } from '../enforce/iptables.js';

export interface SinkNatOptions extends NetnsOpt {
  backend: Backend;
  /** Our nat chain (1-28 of A-Z a-z 0-9 _ . -). */
  chain: string;
  /** WAN interface (`-i`). */
  wan: string;
  /** IPv4 address the listeners are bound to (the DNAT target). */
  to: string;
  tcpPort: number;
  udpPort: number;
  /** Only connections to this local address (the idle address); default every local address. */
  dst?: string;
  /** Destination ports (TCP and UDP) left alone, e.g. the router's own SSH. */
  except?: number[];
}

function bad(message: string): never {
  throw new P2pgwError('P2PGW_ERR_USAGE', message);
}

const port = (p: number): boolean => Number.isInteger(p) && p >= 1 && p <= 65535;

/** Checks everything that ends up in rule text. @throws P2pgwError(P2PGW_ERR_USAGE) */
export function validateSinkNat(o: Omit<SinkNatOptions, 'backend'>): void {
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,27}$/.test(o.chain) || /^(PREROUTING|INPUT|OUTPUT|POSTROUTING|ACCEPT|DROP|RETURN|DNAT|SNAT)$/.test(o.chain)) {
    bad(`invalid chain name ${JSON.stringify(o.chain)}`);
  }
  if (!/^[A-Za-z0-9_.:@-]{1,15}$/.test(o.wan)) bad(`invalid interface name ${JSON.stringify(o.wan)} (1-15 characters, no spaces or /)`);
  if (!isIPv4(o.to)) bad(`listener address ${JSON.stringify(o.to)} is not an IPv4 address`);
  if (o.dst !== undefined && !isIPv4(o.dst)) bad(`--dst ${JSON.stringify(o.dst)} is not an IPv4 address`);
  if (!port(o.tcpPort) || !port(o.udpPort)) bad(`listener ports must be 1-65535 (tcp ${o.tcpPort}, udp ${o.udpPort})`);
  for (const p of o.except ?? []) if (!port(p)) bad(`excepted port ${p} is not 1-65535`);
}

/** The jump from nat PREROUTING to our chain (after `-A`/`-C`/`-D`). */
export function sinkJump(o: Pick<SinkNatOptions, 'chain' | 'wan'>): string[] {
  return ['PREROUTING', '-i', o.wan, '-m', 'addrtype', '--dst-type', 'LOCAL', '-j', o.chain];
}

/** Rules of our chain, each as an argv starting with `-A <chain>` (pure). */
export function buildSinkChain(o: Omit<SinkNatOptions, 'backend'>): string[][] {
  validateSinkNat(o);
  const rules: string[][] = [];
  for (const proto of ['tcp', 'udp']) {
    for (const p of [...new Set(o.except ?? [])]) rules.push(['-A', o.chain, '-p', proto, '--dport', String(p), '-j', 'RETURN']);
  }
  const dst = o.dst ? ['-d', o.dst] : [];
  rules.push(['-A', o.chain, '-p', 'tcp', ...dst, '-j', 'DNAT', '--to-destination', `${o.to}:${o.tcpPort}`]);
  rules.push(['-A', o.chain, '-p', 'udp', ...dst, '-j', 'DNAT', '--to-destination', `${o.to}:${o.udpPort}`]);
  return rules;
}

/** `-A PREROUTING ... -j <chain>` lines of a saved nat table, as `-D` argvs (any interface, any form). */
function jumpsToChain(lines: string[], chain: string): string[][] {
  return lines
    .filter((l) => l.startsWith('-A PREROUTING ') && l.trimEnd().endsWith(` -j ${chain}`))
    .map((l) => ['-D', ...l.trim().split(/\s+/).slice(1)]);
}

async function savedNat(o: Pick<SinkNatOptions, 'backend' | 'netns'>): Promise<{ chains: Set<string>; lines: string[] }> {
  const r = await run([o.backend.save, '-t', 'nat'], { netns: o.netns });
  if (r.code !== 0) throw failed(r, 'reading the nat table', r.stdout);
  return parseSave(r.stdout).get('nat') ?? { chains: new Set(), lines: [] };
}

function failed(r: RunResult, what: string, input: string): P2pgwError {
  const missing = /Couldn't load|extension|not supported|No such file|No chain\/target\/match|Protocol not supported|table `?nat'? does not exist/i.test(r.stderr);
  const hint = missing
    ? '\n(the sink needs the IPv4 nat table with the DNAT target and the addrtype match: kernel modules iptable_nat or ' +
      'nft_chain_nat, nf_nat, xt_nat, xt_addrtype (and nft_compat with iptables-nft); OpenWrt: kmod-ipt-nat, iptables-mod-nat-extra)'
    : '';
  return new P2pgwError(missing ? 'P2PGW_ERR_MISSING_FEATURE' : 'P2PGW_ERR_IPTABLES', `${what} failed (exit ${r.code}): ${r.cmd}\n${r.stderr.trim()}${hint}\ninput:\n${input}`);
}

/** The `iptables-restore --noflush` input that installs our chain and jump (pure). */
export function renderSinkInstall(o: Omit<SinkNatOptions, 'backend'>, staleJumps: string[][]): string {
  return [
    '*nat',
    `:${o.chain} - [0:0]`,
    ...staleJumps.map((j) => j.join(' ')),
    `-F ${o.chain}`,
    ...buildSinkChain(o).map((r) => r.join(' ')),
    ['-A', ...sinkJump(o)].join(' '),
    'COMMIT',
    '',
  ].join('\n');
}

/**
 * Installs (or re-installs after a crash) our chain and its jump, atomically. The DNAT rules start
 * working for new connections at once. @throws P2pgwError (MISSING_FEATURE with the kernel pieces
 * to load, or IPTABLES) naming the command and its stderr
 */
export async function installSinkNat(o: SinkNatOptions): Promise<void> {
  validateSinkNat(o);
  const saved = await savedNat(o);
  const input = renderSinkInstall(o, saved.chains.has(o.chain) ? jumpsToChain(saved.lines, o.chain) : []);
  const r = await run([o.backend.restore, '-w', '--noflush'], { netns: o.netns, input });
  if (r.code !== 0) throw failed(r, 'installing the sink DNAT rules', input);
}

/** Removes every jump to our chain, then the chain. Idempotent (nothing to do when it is absent). */
export async function removeSinkNat(o: Pick<SinkNatOptions, 'backend' | 'chain' | 'netns'>): Promise<void> {
  const saved = await savedNat(o);
  if (!saved.chains.has(o.chain)) return;
  const input = ['*nat', ...jumpsToChain(saved.lines, o.chain).map((j) => j.join(' ')), `-F ${o.chain}`, `-X ${o.chain}`, 'COMMIT', ''].join('\n');
  const r = await run([o.backend.restore, '-w', '--noflush'], { netns: o.netns, input });
  if (r.code !== 0) throw failed(r, 'removing the sink DNAT rules', input);
}

/** Lines of the nat table that mention our chain (`:CHAIN ...`, its rules, jumps to it). */
export async function listSinkNat(o: Pick<SinkNatOptions, 'backend' | 'chain' | 'netns'>): Promise<string[]> {
  const saved = await savedNat(o);
  const re = new RegExp(`(^|[\\s:])${o.chain.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(\\s|$)`);
  return saved.lines.filter((l) => re.test(l));
}
