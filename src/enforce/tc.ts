/**
 * Bandwidth control per application: an HTB tree on each shaped interface, and the kernel rules
 * that put each connection into its application's class by connmark.
 *
 *     dev <wan|lan>  root qdisc 1: htb default fffe
 *       class 1:ffff           the link: rate = ceil = shaping.<wan|lan>.rate
 *         class 1:<mark>       one per shaped application: rate/ceil from apps.<name>.shape; leaf qdisc
 *         class 1:fffe         everything else (unclassified, unshaped apps, the router's own traffic)
 *
 * Upload is shaped on WAN egress, download on LAN egress (a qdisc only controls what a device
 * sends). Classification: `CLASSIFY --set-class 1:<mark>` for `-m connmark --mark <mark>` in our
 * chain (default P2PGW_TC) in mangle POSTROUTING (iptables-extensions(8) CLASSIFY: HTB picks the
 * class from skb->priority when its major matches the qdisc); or, where CLASSIFY is missing and the
 * kernel has cls_fw, `MARK --set-mark <mark>` there plus a tc `fw` filter (tc-fw(8)). Leaf queues:
 * fq_codel, else SFQ, else bfifo (with a notice). Sources: tc-htb(8), the LARTC HOWTO's HTB chapter
 * and HTB user guide (quantum, burst), tc-tbf(8), iptables-extensions(8).
 *
 * Setup is idempotent (re-applying the same or a changed plan converges; stale classes are removed)
 * and removed on stop. The parsers live in tc-parse.ts, detection in tc-support.ts.
 */
import { DEFAULTS } from '../core/defaults.js';
import { P2pgwError, type ErrorCode } from '../core/errors.js';
import { detectBackend, run, which, type Backend, type Family, type NetnsOpt, type RunResult } from './backend.js';
import { diagnose, parseSave, renderRestore } from './iptables.js';
import { parseClassStats, ShapeError, type ClassStats } from './tc-parse.js';
import { classId, missingFeature, type ShapingPlan } from './tc-plan.js';

export * from './tc-parse.js';
export * from './tc-plan.js';
export * from './tc-support.js';

/** Error code of failed tc commands (errors.ts has no tc-specific code yet). */
const TC_ERR: ErrorCode = 'P2PGW_ERR_TC';

/** Options of applyShaping/removeShaping: where to act, and the iptables backend (default: detected). */
export interface ShapingRunOpts extends NetnsOpt {
  backend?: Backend;
  /** Families for our chain (default backend.families). */
  families?: Family[];
}

const tcBin = (): string => which('tc') ?? 'tc';
const runTc = (argv: readonly string[], netns?: string): Promise<RunResult> => run([tcBin(), ...argv.slice(argv[0] === 'tc' ? 1 : 0)], { netns, timeoutMs: 15_000 });

/** Turns a failed tc command into an error naming the missing feature when that is the cause. */
export function tcError(r: RunResult, what: string): P2pgwError {
  const msg = `${what} failed (exit ${r.code}): ${r.cmd}\n${r.stderr.trim()}`;
  if (r.code === 127) return new P2pgwError('P2PGW_ERR_MISSING_FEATURE', `${msg}\n(tc could not be started: install iproute2; OpenWrt: tc-full or tc-tiny)`);
  const kind = /qdisc kind is unknown|Unknown qdisc/i.test(r.stderr)
    ? (['fq_codel', 'sfq', 'bfifo', 'pfifo', 'htb', 'tbf'] as const).find((k) => r.cmd.split(' ').includes(k))
    : undefined;
  if (kind) return missingFeature(kind, `: ${msg}`);
  if (/classifier not found|Unknown filter/i.test(r.stderr)) return missingFeature('fw', `: ${msg}`);
  if (/Cannot find device/i.test(r.stderr)) return new P2pgwError(TC_ERR, `${msg}\n(no such interface: check shaping.wan.dev / shaping.lan.dev)`);
  return new P2pgwError(TC_ERR, msg);
}

/** Root qdisc of `dev`: kind and handle (`htb`, `1:`), or null when the device does not exist. */
async function rootQdisc(dev: string, netns?: string): Promise<{ kind: string; handle: string } | null> {
  const r = await runTc(['qdisc', 'show', 'dev', dev, 'root'], netns);
  if (r.code !== 0) return null;
  const m = /^qdisc (\S+) (\S+) root/m.exec(r.stdout);
  return m ? { kind: m[1], handle: m[2] } : { kind: 'noqueue', handle: '0:' };
}

/** Is the tree on `dev` ours (root htb 1: holding our link class 1:ffff)? */
async function isOurs(dev: string, netns?: string): Promise<{ ours: boolean; root: { kind: string; handle: string } | null; classes: ClassStats[] }> {
  const root = await rootQdisc(dev, netns);
  if (!root || root.kind !== 'htb' || root.handle !== `${DEFAULTS.shaping.major}:`) return { ours: false, root, classes: [] };
  const r = await runTc(['class', 'show', 'dev', dev], netns);
  const classes = r.code === 0 ? parseClassStats(r.stdout) : [];
  return { ours: classes.some((c) => c.classid === classId(DEFAULTS.shaping.linkMinor) && c.parent === null), root, classes };
}

async function must(argv: readonly string[], what: string, netns?: string): Promise<void> {
  const r = await runTc(argv, netns);
  if (r.code !== 0) throw tcError(r, what);
}

const ipt = (b: Backend, f: Family): { ipt: string; save: string; restore: string } =>
  f === 4 ? { ipt: b.iptables, save: b.save, restore: b.restore } : { ipt: b.ip6tables, save: b.save6, restore: b.restore6 };

async function chainState(b: Backend, f: Family, chain: string, netns?: string): Promise<{ exists: boolean; jumps: number }> {
  const r = await run([ipt(b, f).save, '-t', 'mangle'], { netns });
  if (r.code !== 0) throw new P2pgwError('P2PGW_ERR_IPTABLES', `reading the IPv${f} mangle table failed (exit ${r.code}): ${r.cmd}\n${r.stderr.trim()}`);
  const t = parseSave(r.stdout).get('mangle');
  const jump = `-A POSTROUTING -j ${chain}`;
  return { exists: t?.chains.has(chain) ?? false, jumps: t?.lines.filter((l) => l === jump).length ?? 0 };
}

async function installChain(plan: ShapingPlan, b: Backend, families: Family[], netns?: string): Promise<void> {
  const { chain, hook, rules } = plan.iptables;
  for (const f of families) {
    const st = await chainState(b, f, chain, netns);
    for (let i = 1; i < st.jumps; i++) await run([ipt(b, f).ipt, '-w', '-t', 'mangle', '-D', hook, '-j', chain], { netns });
    const input = renderRestore([{ table: 'mangle', hook, rules }], chain, new Set(st.exists && st.jumps > 0 ? [] : ['mangle' as const]));
    const r = await run([ipt(b, f).restore, '-w', '--noflush'], { netns, input });
    if (r.code === 0) continue;
    if (/CLASSIFY/.test(r.stderr) || (/Couldn't load target|No chain\/target\/match/i.test(r.stderr) && plan.classifier === 'classify')) {
      throw missingFeature('CLASSIFY', ` (IPv${f}): ${r.cmd}\n${r.stderr.trim()}\n(set shaping.classifier: fw if the kernel has cls_fw)`);
    }
    throw diagnose(r, input, b, f);
  }
}

async function removeChain(chain: string, b: Backend, families: Family[], netns?: string): Promise<void> {
  for (const f of families) {
    const st = await chainState(b, f, chain, netns);
    for (let i = 0; i < st.jumps + 1; i++) {
      const c = await run([ipt(b, f).ipt, '-w', '-t', 'mangle', '-C', 'POSTROUTING', '-j', chain], { netns });
      if (c.code !== 0) break;
      const d = await run([ipt(b, f).ipt, '-w', '-t', 'mangle', '-D', 'POSTROUTING', '-j', chain], { netns });
      if (d.code !== 0) throw new P2pgwError('P2PGW_ERR_IPTABLES', `removing the jump to ${chain} failed: ${d.cmd}\n${d.stderr.trim()}`);
    }
    if (!st.exists) continue;
    for (const op of ['-F', '-X']) {
      const r = await run([ipt(b, f).ipt, '-w', '-t', 'mangle', op, chain], { netns });
      if (r.code !== 0) throw new P2pgwError('P2PGW_ERR_IPTABLES', `${op === '-F' ? 'flushing' : 'deleting'} chain ${chain} failed: ${r.cmd}\n${r.stderr.trim()}`);
    }
  }
}

/**
 * Installs a plan: per device the HTB tree (created, or updated in place when ours is already there:
 * classes and leaves replaced, stale classes and filters removed; a foreign root qdisc is replaced,
 * with a notice), then our mangle chain and its POSTROUTING jump (via iptables-restore --noflush, as
 * iptables.ts does). Idempotent. A failure during a first install removes what it added.
 * Resolves with notices (replaced foreign qdiscs) to log.
 * @throws ShapeError (P2PGW_ERR_CONFIG, path `shaping.<wan|lan>.dev`) when an interface does not exist;
 *   P2pgwError P2PGW_ERR_MISSING_FEATURE naming the kernel feature (qdisc, classifier, CLASSIFY) and
 *   how to get it; P2PGW_ERR_IPTABLES for other tc/iptables failures (command and stderr)
 */
export async function applyShaping(plan: ShapingPlan, opts: ShapingRunOpts = {}): Promise<string[]> {
  const { netns } = opts;
  const backend = opts.backend ?? (await detectBackend('auto', { netns }));
  const families = opts.families ?? backend.families;
  const notices: string[] = [];
  const fresh: string[] = [];
  let chainExisted = true;
  try {
    for (const d of plan.devices) {
      const st = await isOurs(d.dev, netns);
      if (!st.root) throw new ShapeError(`shaping.${d.role}.dev`, `no interface ${d.dev}${netns ? ` in namespace ${netns}` : ''}`);
      if (!st.ours) {
        if (!['noqueue', 'pfifo_fast', 'mq', 'fq_codel', 'pfifo', 'noop'].includes(st.root.kind) || st.root.handle !== '0:') {
          notices.push(`${d.dev}: replacing the existing root qdisc ${st.root.kind} ${st.root.handle} with p2pgw's HTB tree`);
        }
        if (st.root.handle !== '0:') await runTc(['qdisc', 'del', 'dev', d.dev, 'root'], netns);
        fresh.push(d.dev);
        await must(d.rootCmd, `creating the HTB root on ${d.dev}`, netns);
      } else {
        // Ours already: drop filters (re-added below) and classes the plan no longer has.
        await runTc(['filter', 'del', 'dev', d.dev, 'parent', `${DEFAULTS.shaping.major}:`], netns);
        const want = new Set(d.classes.map((c) => c.classid));
        for (const c of st.classes.filter((x) => !want.has(x.classid)).sort((x, y) => (x.parent === null ? 1 : 0) - (y.parent === null ? 1 : 0))) {
          await must(['tc', 'class', 'del', 'dev', d.dev, 'classid', c.classid], `removing stale class ${c.classid} on ${d.dev}`, netns);
        }
      }
      for (const c of d.classes) await must(c.cmd, `setting class ${c.classid} (${c.app ?? c.role}) on ${d.dev}`, netns);
      for (const c of d.classes) if (c.leafCmd) await must(c.leafCmd, `setting the ${plan.leaf} leaf of ${c.classid} on ${d.dev}`, netns);
      for (const f of d.filterCmds) await must(f, `adding the fw filter on ${d.dev}`, netns);
    }
    chainExisted = (await chainState(backend, families[0] ?? 4, plan.iptables.chain, netns)).exists;
    await installChain(plan, backend, families, netns);
  } catch (err) {
    for (const dev of fresh) await runTc(['qdisc', 'del', 'dev', dev, 'root'], netns);
    if (!chainExisted) await removeChain(plan.iptables.chain, backend, families, netns).catch(() => undefined);
    throw err;
  }
  return notices;
}

/**
 * Removes our chain (jumps first; default chain P2PGW_TC) and our HTB tree from each of `devs`
 * (only a root that is ours: htb 1: with class 1:ffff; the kernel then restores the default qdisc).
 * `keepChain` leaves the chain alone (a reload that drops an interface but keeps shaping others).
 * Idempotent; missing devices are skipped. Best effort: goes on after an error and throws the first.
 */
export async function removeShaping(opts: ShapingRunOpts & { devs: readonly string[]; chain?: string; keepChain?: boolean }): Promise<void> {
  const { netns } = opts;
  const errors: Error[] = [];
  try {
    if (!opts.keepChain) {
      const backend = opts.backend ?? (await detectBackend('auto', { netns }));
      await removeChain(opts.chain ?? DEFAULTS.shaping.chain, backend, opts.families ?? backend.families, netns);
    }
  } catch (e) {
    errors.push(e as Error);
  }
  for (const dev of opts.devs) {
    try {
      if ((await isOurs(dev, netns)).ours) await must(['tc', 'qdisc', 'del', 'dev', dev, 'root'], `removing the HTB tree of ${dev}`, netns);
    } catch (e) {
      errors.push(e as Error);
    }
  }
  if (errors.length) throw errors[0];
}

/** A class's counters with what it stands for. */
export interface ShapingClassStats extends ClassStats {
  dev: string;
  role: 'link' | 'default' | 'app' | 'other';
  /** Application name for app classes (from `apps`), else null. */
  app: string | null;
}

/**
 * Per-class counters of `dev` for `p2pgw status`: runs `tc -s -j class show dev <dev>` (JSON or
 * text, see parseClassStats) and labels our classes (1:ffff link, 1:fffe default, 1:<mark> the
 * application with that mark in `apps`). Bytes and packets are cumulative since the class was made.
 * @throws P2pgwError when tc fails (e.g. no such device), MISSING_FEATURE when tc is not installed
 */
export async function readClassStats(dev: string, opts: NetnsOpt & { apps?: readonly { name: string; mark: number }[] } = {}): Promise<ShapingClassStats[]> {
  const r = await runTc(['-s', '-j', 'class', 'show', 'dev', dev], opts.netns);
  if (r.code !== 0) throw tcError(r, `reading the classes of ${dev}`);
  const names = new Map((opts.apps ?? []).map((a) => [a.mark, a.name]));
  const D = DEFAULTS.shaping;
  return parseClassStats(r.stdout).map((c) => {
    const ourMajor = c.classid.startsWith(`${D.major}:`);
    const role = !ourMajor ? 'other' : c.minor === D.linkMinor ? 'link' : c.minor === D.defaultMinor ? 'default' : names.has(c.minor) ? 'app' : 'other';
    return { ...c, dev, role, app: role === 'app' ? names.get(c.minor)! : null };
  });
}
