/**
 * Finding and running the iptables tools: which backend (`legacy` = x_tables, `nft` = nf_tables
 * through iptables-nft) is in use, where its binaries are, and a small runner that can execute them
 * inside a network namespace (`ip netns exec <ns> ...`), so live tests never touch the host.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants as fsConstants } from 'node:fs';
import path from 'node:path';
import { P2pgwError } from '../core/errors.js';

export type BackendName = 'legacy' | 'nft';
export type Family = 4 | 6;

/** The iptables tools of one backend, as absolute paths. */
export interface Backend {
  backend: BackendName;
  iptables: string;
  ip6tables: string;
  save: string;
  save6: string;
  restore: string;
  restore6: string;
  /** Families whose tools were found (the ones install/remove act on by default). */
  families: Family[];
  /** What `iptables --version` (or the backend binary) printed, e.g. `iptables v1.8.9 (nf_tables)`. */
  version: string;
  /** Why this backend was chosen, for the startup log. */
  reason: string;
  /** Things the user should know (both backends hold rules, ...). */
  warnings: string[];
}

export interface RunResult {
  /** Exit code; 127 when the binary could not be started. */
  code: number;
  stdout: string;
  stderr: string;
  /** The command line as a user would type it (with the `ip netns exec` prefix, if any). */
  cmd: string;
}

export interface NetnsOpt {
  /** Run every command via `ip netns exec <netns>`. */
  netns?: string;
}

const SBIN_DIRS = ['/usr/local/sbin', '/usr/sbin', '/sbin', '/usr/local/bin', '/usr/bin', '/bin'];

/** Absolute path of an executable found in $PATH or the usual sbin directories, else null. */
export function which(name: string): string | null {
  const dirs = [...(process.env.PATH ?? '').split(':').filter(Boolean), ...SBIN_DIRS];
  for (const dir of new Set(dirs)) {
    const file = path.join(dir, name);
    try {
      accessSync(file, fsConstants.X_OK);
      return file;
    } catch {
      /* not here */
    }
  }
  return null;
}

const quote = (s: string): string => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

/** Shell-quoted command line, for error messages. */
export function formatCmd(argv: readonly string[]): string {
  return argv.map(quote).join(' ');
}

/**
 * Runs `argv` (inside `netns` if given), feeding `input` on stdin. Never rejects: a binary that
 * cannot be started gives code 127 and the reason in stderr.
 */
export function run(argv: readonly string[], opts: NetnsOpt & { input?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  const full = opts.netns ? [which('ip') ?? 'ip', 'netns', 'exec', opts.netns, ...argv] : [...argv];
  const cmd = formatCmd(opts.netns ? ['ip', 'netns', 'exec', opts.netns, ...argv] : argv);
  return new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    let settled = false;
    const done = (code: number): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ code, stdout, stderr, cmd });
    };
    const child = spawn(full[0], full.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    const timer = setTimeout(() => {
      stderr += `\n(p2pgw: killed after ${opts.timeoutMs ?? 60_000} ms)`;
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? 60_000);
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', (err) => {
      stderr += `${err.message}`;
      done(127);
    });
    child.on('close', (code, signal) => done(code ?? (signal ? 128 : 1)));
    child.stdin.on('error', () => {
      /* EPIPE when the tool exits early: its stderr tells why */
    });
    child.stdin.end(opts.input ?? '');
  });
}

/** Binary names of one backend: `iptables-nft`, `ip6tables-nft-save`, ... */
function names(b: BackendName): Record<'iptables' | 'ip6tables' | 'save' | 'save6' | 'restore' | 'restore6', string> {
  return {
    iptables: `iptables-${b}`,
    ip6tables: `ip6tables-${b}`,
    save: `iptables-${b}-save`,
    save6: `ip6tables-${b}-save`,
    restore: `iptables-${b}-restore`,
    restore6: `ip6tables-${b}-restore`,
  };
}

/** The backend a plain `iptables --version` line names: `(nf_tables)` → nft; `(legacy)` or none (< 1.8) → legacy. */
export function backendFromVersion(version: string): BackendName | null {
  if (/\(nf_tables\)/.test(version)) return 'nft';
  if (/\(legacy\)/.test(version)) return 'legacy';
  if (/^ip6?tables v1\.[0-7]\./m.test(version)) return 'legacy';
  return null;
}

interface Located {
  paths: Partial<Record<keyof ReturnType<typeof names>, string>>;
  missing: string[];
}

/** Finds the tools of backend `b`; plain `iptables`, `iptables-save`, ... count when `plain` is that backend. */
function locate(b: BackendName, plain: BackendName | null): Located {
  const want = names(b);
  const paths: Located['paths'] = {};
  const missing: string[] = [];
  for (const [key, name] of Object.entries(want) as [keyof typeof want, string][]) {
    const p = which(name) ?? (plain === b ? which(name.replace(`-${b}`, '')) : null);
    if (p) paths[key] = p;
    else missing.push(name);
  }
  return { paths, missing };
}

/** Number of `-A` lines a save tool prints (0 when it fails). */
async function countRules(save: string | undefined, netns: string | undefined): Promise<number> {
  if (!save) return 0;
  const r = await run([save], { netns });
  if (r.code !== 0) return 0;
  return r.stdout.split('\n').filter((l) => l.startsWith('-A ')).length;
}

const INSTALL_HINT =
  'install the iptables package (Debian/Ubuntu: `apt-get install iptables`; Fedora: `dnf install iptables-legacy iptables-nft`; ' +
  'OpenWrt: `opkg install iptables-nft ip6tables-nft` or `iptables-legacy ip6tables-legacy`)';

/**
 * Picks the iptables backend. `legacy`/`nft` force one (its binaries must exist). `auto`: the one
 * whose tables already hold rules (`iptables-legacy-save` vs `iptables-nft-save`, IPv4 and IPv6),
 * else the one `iptables --version` names, else whichever binaries exist (nft first).
 * `families` (default both) says which tool sets are required.
 */
export async function detectBackend(
  pref: 'auto' | BackendName,
  opts: NetnsOpt & { families?: Family[] } = {},
): Promise<Backend> {
  const families = opts.families ?? [4, 6];
  const plainPath = which('iptables');
  let version = '';
  if (plainPath) {
    const v = await run([plainPath, '--version']);
    version = (v.stdout + v.stderr).trim().split('\n')[0] ?? '';
  }
  const plain = version ? backendFromVersion(version) : null;
  const found: Record<BackendName, Located> = { legacy: locate('legacy', plain), nft: locate('nft', plain) };
  const required = (b: BackendName): string[] => {
    const n = names(b);
    const req = [n.iptables, n.save, n.restore];
    if (families.includes(6)) req.push(n.ip6tables, n.save6, n.restore6);
    return req.filter((name) => found[b].missing.includes(name));
  };
  const usable = (b: BackendName): boolean => required(b).length === 0;

  const warnings: string[] = [];
  let chosen: BackendName;
  let reason: string;
  if (pref !== 'auto') {
    const miss = required(pref);
    if (miss.length > 0) {
      throw new P2pgwError(
        'P2PGW_ERR_MISSING_FEATURE',
        `iptables backend '${pref}' is not usable: ${miss.join(', ')} not found (searched $PATH and ${SBIN_DIRS.join(', ')}); ` +
          `${INSTALL_HINT}${miss.some((m) => m.startsWith('ip6')) ? ', or restrict p2pgw to IPv4' : ''}, or set iptables.backend to ` +
          `'${pref === 'nft' ? 'legacy' : 'nft'}' or 'auto'`,
      );
    }
    chosen = pref;
    reason = `forced by configuration (iptables.backend: ${pref})`;
  } else {
    const candidates = (['nft', 'legacy'] as BackendName[]).filter(usable);
    if (candidates.length === 0) {
      const miss = [...new Set([...required('nft'), ...required('legacy')])];
      throw new P2pgwError(
        'P2PGW_ERR_MISSING_FEATURE',
        `no usable iptables backend: missing ${miss.join(', ')} (searched $PATH and ${SBIN_DIRS.join(', ')}); ${INSTALL_HINT}`,
      );
    }
    const counts: Record<BackendName, number> = { legacy: 0, nft: 0 };
    for (const b of candidates) {
      const p = found[b].paths;
      counts[b] = (await countRules(p.save, opts.netns)) + (families.includes(6) ? await countRules(p.save6, opts.netns) : 0);
    }
    const withRules = candidates.filter((b) => counts[b] > 0);
    if (withRules.length === 1) {
      chosen = withRules[0];
      reason = `${names(chosen).save} shows ${counts[chosen]} rule(s), ${names(chosen === 'nft' ? 'legacy' : 'nft').save} none`;
    } else if (plain && candidates.includes(plain)) {
      chosen = plain;
      reason = `\`iptables --version\` says "${version}"`;
      if (withRules.length > 1) {
        warnings.push(
          `both iptables-legacy (${counts.legacy} rules) and iptables-nft (${counts.nft} rules) hold rules; packets traverse both; ` +
            `using ${plain} as \`iptables --version\` says "${version}"`,
        );
        reason += ' (both backends hold rules)';
      } else {
        reason += ' (no rules in either backend yet)';
      }
    } else {
      chosen = candidates[0];
      reason = `only ${chosen} binaries usable${withRules.length > 1 ? ' (both backends hold rules)' : ''}`;
      if (withRules.length > 1) warnings.push(`both iptables-legacy and iptables-nft hold rules; using ${chosen}`);
    }
  }
  const p = found[chosen].paths;
  const n = names(chosen);
  if (!version || plain !== chosen) {
    const v = await run([p.iptables ?? n.iptables, '--version']);
    version = (v.stdout + v.stderr).trim().split('\n')[0] ?? version;
  }
  const fams = families.filter((f) => f === 4 || (p.ip6tables && p.save6 && p.restore6));
  return {
    backend: chosen,
    iptables: p.iptables ?? n.iptables,
    ip6tables: p.ip6tables ?? n.ip6tables,
    save: p.save ?? n.save,
    save6: p.save6 ?? n.save6,
    restore: p.restore ?? n.restore,
    restore6: p.restore6 ?? n.restore6,
    families: fams,
    version,
    reason,
    warnings,
  };
}
