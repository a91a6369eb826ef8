/**
 * The kernel side of p2pgw: our chains in the mangle and filter tables (IPv4 and IPv6).
 *
 * mangle FORWARD → P2PGW:
 *   1. packets carrying a mark (set by the daemon's NF_REPEAT verdict) save it to the connmark;
 *   2. the first 2×N packets of unmarked TCP/UDP connections go to NFQUEUE (with --queue-bypass, so
 *      traffic flows when the daemon is down). Once marked, a connection leaves user space, except in
 *      the learning window (`learning`: marked, at most N packets) and when inspected (all packets).
 * filter FORWARD → P2PGW: connections whose connmark is a blocked application's mark are reset (TCP)
 * or dropped (UDP).
 *
 * Installation is idempotent and crash-safe: one `iptables-restore --noflush` per family creates or
 * flushes our chains, fills them and inserts the jump rules that `-C` reports absent, atomically per
 * table. Removal deletes every jump (repeating -D while -C finds one), then flushes and deletes the chains.
 */
import { P2pgwError } from '../core/errors.js';
import { run, type Backend, type Family, type NetnsOpt, type RunResult } from './backend.js';
import { diagnose } from './iptables-diagnose.js';

export { detectBackend, type Backend, type BackendName, type Family } from './backend.js';
export { diagnose, featuresOf, type ProcLists } from './iptables-diagnose.js';

export interface RuleOptions {
  /** Our chain name (same in both tables). */
  chain: string;
  /** NFQUEUE number (the first one when queueCount > 1). */
  queueNum: number;
  /**
   * Number of queues: > 1 spreads connections over queues queueNum…queueNum+count−1 with
   * `--queue-balance` (the kernel hashes both directions of a flow to the same queue).
   */
  queueCount?: number;
  /** Packets per direction to classify; the kernel queues up to 2× this per connection. */
  classifyPackets: number;
  /** Connmarks of blocked applications. */
  blocked: { mark: number }[];
  /** Connmarks of inspected applications: all their packets keep going to the queue. */
  inspected?: { mark: number }[];
  /** Connmark of connections reset by content management (keyword hit, virus); 0/absent = none. */
  killMark?: number;
  /** Learning window: connections with these connmarks stay queued up to `packets` packets (both directions). */
  learning?: { marks: { mark: number }[]; packets: number };
  /**
   * The bits of nfmark/connmark that are ours (`iptables.mark_mask`; absent = all 32): every match
   * is `--mark X/MASK`, the save and restore copy only these bits (`--nfmask/--ctmask`), so other
   * tools' marks (mwan3, QoS) are neither saved as ours nor cleared. Every mark must fit in it.
   */
  markMask?: number;
  family: Family;
}

export type Table = 'mangle' | 'filter';

export interface TableRules {
  table: Table;
  /** Built-in chain that jumps to ours. */
  hook: string;
  /** Rules of our chain, each as an argv (`['-A', chain, ...]`), in order. */
  rules: string[][];
}

/** Where our chains hook in, per table. */
export const HOOKS: readonly { table: Table; hook: string }[] = Object.freeze([
  { table: 'mangle', hook: 'FORWARD' },
  { table: 'filter', hook: 'FORWARD' },
]);

const hex = (n: number): string => `0x${n.toString(16)}`;

function bad(message: string): never {
  throw new P2pgwError('P2PGW_ERR_IPTABLES', message);
}

/** Checks the options that end up in rule text (a chain name with a space would split the argv). */
export function validateRuleOptions(o: Omit<RuleOptions, 'family'>): void {
  // The kernel limit is XT_EXTENSION_MAXNAMELEN - 1 = 28 characters.
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,27}$/.test(o.chain) || /^(INPUT|OUTPUT|FORWARD|PREROUTING|POSTROUTING|ACCEPT|DROP|RETURN|QUEUE)$/.test(o.chain)) {
    bad(`invalid chain name ${JSON.stringify(o.chain)}: 1-28 characters of A-Z a-z 0-9 _ . -, not a built-in chain or target`);
  }
  if (!Number.isInteger(o.queueNum) || o.queueNum < 0 || o.queueNum > 65535) bad(`invalid queue number ${o.queueNum} (0-65535)`);
  const n = o.queueCount ?? 1;
  if (!Number.isInteger(n) || n < 1 || o.queueNum + n - 1 > 65535) bad(`invalid queue count ${n} (1-65536 queues from ${o.queueNum})`);
  if (!Number.isInteger(o.classifyPackets) || o.classifyPackets < 1 || o.classifyPackets > 1_000_000) {
    bad(`invalid classify packet count ${o.classifyPackets} (1-1000000)`);
  }
  const lp = o.learning?.packets ?? 0;
  if (!Number.isInteger(lp) || lp < 0 || lp > 1_000_000) bad(`invalid learning window ${lp} packets (0-1000000)`);
  const mask = o.markMask ?? 0xffffffff;
  if (!Number.isInteger(mask) || mask < 1 || mask > 0xffffffff) bad(`invalid mark mask ${mask} (1-0xffffffff)`);
  for (const b of [...o.blocked, ...(o.inspected ?? []), ...(o.learning?.marks ?? []), ...(o.killMark ? [{ mark: o.killMark }] : [])]) {
    if (!Number.isInteger(b.mark) || b.mark < 1 || b.mark > 0xffffffff) bad(`invalid blocked mark ${b.mark} (1-0xffffffff; 0 means unclassified)`);
    if ((b.mark & ~mask) >>> 0) bad(`mark ${hex(b.mark)} does not fit the mark mask ${hex(mask)}`);
  }
}

/** The rules of our chains for one family (pure; used by install and by unit tests). */
export function buildRules(opts: RuleOptions): TableRules[] {
  validateRuleOptions(opts);
  const { chain } = opts;
  const n = opts.queueCount ?? 1;
  const target = n > 1
    ? ['-j', 'NFQUEUE', '--queue-balance', `${opts.queueNum}:${opts.queueNum + n - 1}`, '--queue-bypass']
    : ['-j', 'NFQUEUE', '--queue-num', String(opts.queueNum), '--queue-bypass'];
  const mask = (opts.markMask ?? 0xffffffff) >>> 0;
  // `--mark X/MASK` and `--nfmask/--ctmask MASK` with a mask; the plain forms when all 32 bits are ours.
  const mm = (mark: number): string => (mask === 0xffffffff ? hex(mark) : `${hex(mark)}/${hex(mask)}`);
  const copyBits = mask === 0xffffffff ? [] : ['--nfmask', hex(mask), '--ctmask', hex(mask)];
  const mangle: string[][] = [['-A', chain, '-m', 'mark', '!', '--mark', mm(0), '-j', 'CONNMARK', '--save-mark', ...copyBits]];
  for (const proto of ['tcp', 'udp']) {
    mangle.push([
      '-A', chain, '-p', proto,
      '-m', 'connmark', '--mark', mm(0),
      '-m', 'connbytes', '--connbytes', `0:${2 * opts.classifyPackets}`, '--connbytes-mode', 'packets', '--connbytes-dir', 'both',
      ...target,
    ]);
  }
  // Learning window (endpoint knowledge): young connections of learning applications; nfmark 0 only,
  // so the daemon's re-injected (NF_REPEAT) packet is not queued again.
  const lw = opts.learning ?? { marks: [], packets: 0 };
  for (const mark of lw.packets ? [...new Set(lw.marks.map((b) => b.mark))] : []) {
    const window = ['-m', 'connbytes', '--connbytes', `0:${lw.packets}`, '--connbytes-mode', 'packets', '--connbytes-dir', 'both'];
    mangle.push(['-A', chain, '-m', 'connmark', '--mark', mm(mark), '-m', 'mark', '--mark', mm(0), ...window, ...target]);
  }
  // Inspected applications: every packet goes to the daemon, in both directions, with the connmark
  // restored into its nfmark, so the daemon knows that a packet of a flow it has no state for was
  // being inspected (src/runtime/lost-state.ts). Packets the daemon re-injected (NF_REPEAT, nfmark
  // set: also the restored ones it passes with their mark) return first, never to be queued again.
  const inspected = [...new Set((opts.inspected ?? []).map((b) => mm(b.mark)))];
  if (inspected.length) mangle.push(['-A', chain, '-m', 'mark', '!', '--mark', mm(0), '-j', 'RETURN']);
  for (const m of inspected) {
    mangle.push(['-A', chain, '-m', 'connmark', '--mark', m, '-m', 'mark', '--mark', mm(0), '-j', 'CONNMARK', '--restore-mark', ...copyBits]);
    mangle.push(['-A', chain, '-m', 'connmark', '--mark', m, '-m', 'mark', '--mark', m, ...target]);
  }
  const filter: string[][] = [];
  if (opts.killMark) {
    // A killed connection: the daemon's RST (built from the offending packet) reaches its receiver;
    // any other packet, from either end, is rejected with a reset.
    const k = mm(opts.killMark);
    filter.push(['-A', chain, '-p', 'tcp', '--tcp-flags', 'RST', 'RST', '-m', 'connmark', '--mark', k, '-j', 'ACCEPT']);
    filter.push(['-A', chain, '-p', 'tcp', '-m', 'connmark', '--mark', k, '-j', 'REJECT', '--reject-with', 'tcp-reset']);
    filter.push(['-A', chain, '-p', 'udp', '-m', 'connmark', '--mark', k, '-j', 'DROP']);
  }
  for (const mark of [...new Set(opts.blocked.map((b) => b.mark))]) {
    filter.push(['-A', chain, '-p', 'tcp', '-m', 'connmark', '--mark', mm(mark), '-j', 'REJECT', '--reject-with', 'tcp-reset']);
    filter.push(['-A', chain, '-p', 'udp', '-m', 'connmark', '--mark', mm(mark), '-j', 'DROP']);
  }
  return [
    { table: 'mangle', hook: 'FORWARD', rules: mangle },
    { table: 'filter', hook: 'FORWARD', rules: filter },
  ];
}

/** The jump from a hook to our chain, as given to -C/-D/-I after the hook name. */
export const jumpSpec = (chain: string): string[] => ['-j', chain];

/** `iptables-restore --noflush` input: per table, declare (create or flush) our chain, fill it, add missing jumps. */
export function renderRestore(tables: TableRules[], chain: string, jumpMissing: ReadonlySet<Table>): string {
  const out: string[] = [];
  for (const t of tables) {
    out.push(`*${t.table}`, `:${chain} - [0:0]`, `-F ${chain}`);
    for (const r of t.rules) out.push(r.join(' '));
    if (jumpMissing.has(t.table)) out.push(['-I', t.hook, '1', ...jumpSpec(chain)].join(' '));
    out.push('COMMIT');
  }
  return `${out.join('\n')}\n`;
}

export interface InstallOptions extends Omit<RuleOptions, 'family'>, NetnsOpt {
  backend: Backend;
  /** Families to act on; default: backend.families (both when their tools exist). */
  families?: Family[];
}

export interface RemoveOptions extends NetnsOpt {
  chain: string;
  backend: Backend;
  families?: Family[];
}

const tools = (b: Backend, f: Family): { ipt: string; save: string; restore: string } =>
  f === 4 ? { ipt: b.iptables, save: b.save, restore: b.restore } : { ipt: b.ip6tables, save: b.save6, restore: b.restore6 };

/** `*-save` output split by table: chain names and `-A` lines. */
export function parseSave(text: string): Map<string, { chains: Set<string>; lines: string[] }> {
  const tables = new Map<string, { chains: Set<string>; lines: string[] }>();
  let cur: { chains: Set<string>; lines: string[] } | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('*')) {
      cur = { chains: new Set(), lines: [] };
      tables.set(line.slice(1).trim(), cur);
    } else if (!cur || line.startsWith('#')) {
      continue;
    } else if (line.startsWith(':')) {
      cur.chains.add(line.slice(1).split(/\s/)[0]);
      cur.lines.push(line);
    } else if (line.startsWith('-')) {
      cur.lines.push(line);
    }
  }
  return tables;
}

function failed(r: RunResult, what: string): P2pgwError {
  const msg = `${what} failed (exit ${r.code}): ${r.cmd}\n${r.stderr.trim()}`;
  if (r.code === 127) return new P2pgwError('P2PGW_ERR_MISSING_FEATURE', `${msg}\n(the iptables tool could not be started; install the iptables package)`);
  if (/Couldn't load (match|target)|extension not found|Can't find library for/i.test(r.stderr)) {
    return new P2pgwError('P2PGW_ERR_MISSING_FEATURE', `${msg}\n(iptables extensions (libxt_*.so) are missing: install the full iptables package)`);
  }
  return new P2pgwError('P2PGW_ERR_IPTABLES', msg);
}

async function save(b: Backend, f: Family, netns?: string): Promise<Map<string, { chains: Set<string>; lines: string[] }>> {
  const r = await run([tools(b, f).save], { netns });
  if (r.code !== 0) throw failed(r, `reading the IPv${f} ruleset`);
  return parseSave(r.stdout);
}

/** Is the jump hook → chain present? `-C` exit codes: 0 yes, 1 no, 2 our chain does not exist. */
async function jumpPresent(b: Backend, f: Family, table: Table, hook: string, chain: string, netns?: string): Promise<boolean> {
  const r = await run([tools(b, f).ipt, '-w', '-t', table, '-C', hook, ...jumpSpec(chain)], { netns });
  if (r.code === 0) return true;
  if (r.code === 1 || r.code === 2) return false;
  throw failed(r, 'checking for our jump rule');
}

/**
 * Installs (or updates: the blocked list may change) our chains and jump rules. Safe to call again
 * after a crash: chains are flushed and refilled, jumps are only added when absent. The error names
 * the command, its stderr and, when a kernel match/target or an iptables extension is missing, which
 * one and how to get it. A failed first install is rolled back; a failed update leaves the previous
 * rules (each table is replaced atomically, so none is half-written).
 */
export async function install(opts: InstallOptions): Promise<void> {
  validateRuleOptions(opts);
  const { backend, chain, netns } = opts;
  const families = opts.families ?? backend.families;
  // Roll back only what we know to be a first install (no chain of ours seen before we started).
  let rollback: boolean | undefined;
  try {
    for (const family of families) {
      const tables = buildRules({ ...opts, family });
      const current = await save(backend, family, netns);
      const had = [...current.values()].some((t) => t.chains.has(chain));
      rollback = (rollback ?? true) && !had;
      const missing = new Set<Table>();
      for (const t of tables) {
        const saved = current.get(t.table);
        const exists = saved?.chains.has(chain) ?? false;
        // Duplicate jumps cannot come from us, but an older version or a person may have left some.
        const jump = ['-A', t.hook, ...jumpSpec(chain)].join(' ');
        const extra = (saved?.lines.filter((l) => l === jump).length ?? 0) - 1;
        for (let i = 0; i < extra; i++) {
          const r = await run([tools(backend, family).ipt, '-w', '-t', t.table, '-D', t.hook, ...jumpSpec(chain)], { netns });
          if (r.code !== 0) throw failed(r, 'removing a duplicate jump rule');
        }
        if (!exists || !(await jumpPresent(backend, family, t.table, t.hook, chain, netns))) missing.add(t.table);
      }
      const input = renderRestore(tables, chain, missing);
      const r = await run([tools(backend, family).restore, '-w', '--noflush'], { netns, input });
      if (r.code !== 0) throw diagnose(r, input, backend, family);
    }
  } catch (err) {
    if (rollback) await remove({ chain, backend, netns, families }).catch(() => undefined);
    throw err;
  }
}

/**
 * Removes every jump to our chains, then flushes and deletes them. Idempotent. Best effort: goes on
 * with the other tables and families after an error, then throws the first one (naming the others).
 */
export async function remove(opts: RemoveOptions): Promise<void> {
  const errors: P2pgwError[] = [];
  for (const family of opts.families ?? opts.backend.families) {
    for (const { table, hook } of HOOKS) {
      try {
        await removeOne(opts, family, table, hook);
      } catch (err) {
        errors.push(err instanceof P2pgwError ? err : new P2pgwError('P2PGW_ERR_IPTABLES', String(err), { cause: err }));
      }
    }
  }
  if (errors.length === 1) throw errors[0];
  if (errors.length > 1) {
    throw new P2pgwError(errors[0].code, `${errors[0].message}\n(and ${errors.length - 1} more: ${errors.slice(1).map((e) => e.message.split('\n')[0]).join('; ')})`);
  }
}

async function removeOne(opts: RemoveOptions, family: Family, table: Table, hook: string): Promise<void> {
  const { backend, chain, netns } = opts;
  const { ipt, save: saveTool } = tools(backend, family);
  if (!(await save(backend, family, netns)).get(table)?.chains.has(chain)) return;
  for (let i = 0; i < 1000 && (await jumpPresent(backend, family, table, hook, chain, netns)); i++) {
    const r = await run([ipt, '-w', '-t', table, '-D', hook, ...jumpSpec(chain)], { netns });
    if (r.code !== 0) throw failed(r, 'removing our jump rule');
  }
  for (const op of ['-F', '-X']) {
    const r = await run([ipt, '-w', '-t', table, op, chain], { netns });
    if (r.code !== 0) {
      const hint = op === '-X' && /link|in use|busy/i.test(r.stderr) ? ` (another rule still jumps to ${chain}: list them with \`${saveTool}\`)` : '';
      throw failed(r, `${op === '-F' ? 'flushing' : 'deleting'} chain ${chain} in table ${table}${hint}`);
    }
  }
}

/**
 * Every line of `iptables-save`/`ip6tables-save` that mentions our chain, prefixed with the family
 * and table: `ip mangle -A FORWARD -j P2PGW`, `ip6 filter :P2PGW - [0:0]`. For tests and `p2pgw status`.
 */
export async function listOurRules(backend: Backend, opts: NetnsOpt & { chain?: string; families?: Family[] } = {}): Promise<string[]> {
  const chain = opts.chain ?? 'P2PGW';
  const re = new RegExp(`(^|[\\s:])${chain.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(\\s|$)`);
  const out: string[] = [];
  for (const family of opts.families ?? backend.families) {
    for (const [table, t] of await save(backend, family, opts.netns)) {
      for (const line of t.lines) if (re.test(line)) out.push(`${family === 4 ? 'ip' : 'ip6'} ${table} ${line}`);
    }
  }
  return out;
}
