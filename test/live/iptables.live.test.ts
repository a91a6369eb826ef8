/**
 * Live: our chains installed with each available iptables backend inside a fresh network namespace
 * (never the host's). Install is idempotent and crash-safe (no duplicates), update replaces the
 * blocked list, remove leaves nothing behind.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { which } from '../../src/enforce/backend.js';
import { buildRules, detectBackend, install, listOurRules, remove, type Backend, type BackendName, type Family } from '../../src/enforce/iptables.js';
import { liveEnv, nsAdd, nsDel, nsExec } from './fixtures/netns.js';

const env = liveEnv('ipt');
if (!env.ok) console.warn(`skipping live iptables tests: ${env.reason}`);

const CHAIN = 'P2PGW';
const OPTS = { chain: CHAIN, queueNum: 5, classifyPackets: 8 };

/** What listOurRules should print after install, sorted (CONNMARK is saved with its default masks). */
function expected(blocked: { mark: number }[], families: Family[]): string[] {
  const out: string[] = [];
  for (const family of families) {
    const p = family === 4 ? 'ip' : 'ip6';
    for (const t of buildRules({ ...OPTS, blocked, family })) {
      out.push(`${p} ${t.table} :${CHAIN} - [0:0]`, `${p} ${t.table} -A ${t.hook} -j ${CHAIN}`);
      for (const r of t.rules) out.push(`${p} ${t.table} ${r.join(' ')}`);
    }
  }
  return out.sort();
}
const normalize = (lines: string[]): string[] =>
  lines.map((l) => l.replace(' --nfmask 0xffffffff --ctmask 0xffffffff', '')).sort();

const BACKENDS: BackendName[] = ['legacy', 'nft'];

for (const name of BACKENDS) {
  const present = !!which(`iptables-${name}-restore`) && !!which(`ip6tables-${name}-restore`);
  if (env.ok && !present) console.warn(`skipping live iptables tests for backend ${name}: iptables-${name}-restore or ip6tables-${name}-restore not found`);

  describe.skipIf(!env.ok || !present)(`iptables live (${name})`, () => {
    const ns = `p2pgwtD-ipt-${name}-${process.pid}`;
    let backend: Backend;
    const families: Family[] = [4, 6];
    const ours = async (): Promise<string[]> => normalize(await listOurRules(backend, { netns: ns, chain: CHAIN }));

    beforeAll(async () => {
      nsAdd(ns);
      backend = await detectBackend(name, { netns: ns });
    });
    afterAll(() => nsDel(ns));

    it('detects the forced backend with absolute tool paths', () => {
      expect(backend.backend).toBe(name);
      expect(backend.families).toEqual([4, 6]);
      for (const p of [backend.iptables, backend.ip6tables, backend.save, backend.save6, backend.restore, backend.restore6]) {
        expect(p.startsWith('/')).toBe(true);
      }
    });

    it('install twice: every rule and jump exactly once (IPv4 and IPv6)', async () => {
      await install({ ...OPTS, blocked: [{ mark: 7 }], backend, netns: ns });
      const once = await ours();
      expect(once).toEqual(expected([{ mark: 7 }], families));
      await install({ ...OPTS, blocked: [{ mark: 7 }], backend, netns: ns });
      const twice = await ours();
      expect(twice).toEqual(once);
      expect(new Set(twice).size).toBe(twice.length);
      // our jump is the first rule of each hook
      for (const save of [backend.save, backend.save6]) {
        const out = nsExec(ns, save, []);
        for (const table of ['mangle', 'filter']) {
          const section = out.split(`*${table}\n`)[1].split('COMMIT')[0];
          expect(section.split('\n').find((l) => l.startsWith('-A FORWARD'))).toBe(`-A FORWARD -j ${CHAIN}`);
        }
      }
    });

    it('after a crash (state left behind, stale rules, duplicate jumps) install converges to one copy', async () => {
      // a SIGKILLed daemon leaves everything installed; a person or an older version may add more
      for (const ipt of [backend.iptables, backend.ip6tables]) {
        nsExec(ns, ipt, ['-w', '-t', 'mangle', '-A', CHAIN, '-p', 'tcp', '--dport', '9', '-j', 'ACCEPT']);
        nsExec(ns, ipt, ['-w', '-t', 'filter', '-I', 'FORWARD', '-j', CHAIN]);
        nsExec(ns, ipt, ['-w', '-t', 'filter', '-A', 'FORWARD', '-j', CHAIN]);
        nsExec(ns, ipt, ['-w', '-t', 'filter', '-A', 'FORWARD', '-p', 'icmp', '-j', 'ACCEPT']);
      }
      await install({ ...OPTS, blocked: [{ mark: 7 }], backend, netns: ns });
      expect(await ours()).toEqual(expected([{ mark: 7 }], families));
      // a rule not ours is kept
      expect(nsExec(ns, backend.save, [])).toContain('-A FORWARD -p icmp -j ACCEPT');
    });

    it('install with another blocked list replaces the filter rules (update)', async () => {
      await install({ ...OPTS, blocked: [{ mark: 9 }, { mark: 0x1f00 }], backend, netns: ns });
      expect(await ours()).toEqual(expected([{ mark: 9 }, { mark: 0x1f00 }], families));
      await install({ ...OPTS, blocked: [], backend, netns: ns });
      expect(await ours()).toEqual(expected([], families));
    });

    it('remove: no chain, no jump left; remove again is a no-op', async () => {
      await install({ ...OPTS, blocked: [{ mark: 7 }], backend, netns: ns });
      await remove({ chain: CHAIN, backend, netns: ns });
      expect(await listOurRules(backend, { netns: ns, chain: CHAIN })).toEqual([]);
      for (const save of [backend.save, backend.save6]) expect(nsExec(ns, save, [])).not.toMatch(new RegExp(`-j ${CHAIN}\\b`));
      await remove({ chain: CHAIN, backend, netns: ns });
      expect(nsExec(ns, backend.save, [])).toContain('-A FORWARD -p icmp -j ACCEPT');
    });

    it('a missing iptables extension is reported as P2PGW_ERR_MISSING_FEATURE and nothing is left', async () => {
      const saved = process.env.XTABLES_LIBDIR;
      process.env.XTABLES_LIBDIR = '/nonexistent-p2pgw-xtables';
      try {
        await expect(install({ ...OPTS, blocked: [], backend, netns: ns })).rejects.toMatchObject({
          code: 'P2PGW_ERR_MISSING_FEATURE',
          // legacy: restore says "Couldn't load match `mark'"; nft: save cannot print the existing rules
          message: expect.stringMatching(name === 'legacy' ? /match extension 'mark'/ : /extension not found/),
        });
      } finally {
        if (saved === undefined) delete process.env.XTABLES_LIBDIR;
        else process.env.XTABLES_LIBDIR = saved;
      }
      expect(await listOurRules(backend, { netns: ns, chain: CHAIN })).toEqual([]);
    });

    it('a failed update keeps the rules in force; remove names a foreign jump it cannot undo', async () => {
      await install({ ...OPTS, blocked: [{ mark: 7 }], backend, netns: ns });
      const saved = process.env.XTABLES_LIBDIR;
      process.env.XTABLES_LIBDIR = '/nonexistent-p2pgw-xtables';
      try {
        await expect(install({ ...OPTS, blocked: [{ mark: 8 }], backend, netns: ns })).rejects.toMatchObject({ code: 'P2PGW_ERR_MISSING_FEATURE' });
      } finally {
        if (saved === undefined) delete process.env.XTABLES_LIBDIR;
        else process.env.XTABLES_LIBDIR = saved;
      }
      expect(await ours()).toEqual(expected([{ mark: 7 }], families));

      nsExec(ns, backend.iptables, ['-w', '-t', 'filter', '-A', 'INPUT', '-j', CHAIN]);
      await expect(remove({ chain: CHAIN, backend, netns: ns })).rejects.toMatchObject({
        code: 'P2PGW_ERR_IPTABLES',
        message: expect.stringContaining(`another rule still jumps to ${CHAIN}`),
      });
      // everything else went: only the foreign jump and the chain it keeps alive remain
      expect(await listOurRules(backend, { netns: ns, chain: CHAIN })).toEqual([`ip filter :${CHAIN} - [0:0]`, `ip filter -A INPUT -j ${CHAIN}`]);
      nsExec(ns, backend.iptables, ['-w', '-t', 'filter', '-D', 'INPUT', '-j', CHAIN]);
      await remove({ chain: CHAIN, backend, netns: ns });
      expect(await listOurRules(backend, { netns: ns, chain: CHAIN })).toEqual([]);
    });
  });
}

describe.skipIf(!env.ok)('iptables live: auto detection', () => {
  const ns = `p2pgwtD-ipt-auto-${process.pid}`;
  beforeAll(() => nsAdd(ns));
  afterAll(() => nsDel(ns));

  it('prefers the backend whose tables hold rules, else what `iptables --version` says', async () => {
    const have = BACKENDS.filter((b) => which(`iptables-${b}-restore`) && which(`ip6tables-${b}-restore`));
    if (have.length < 2) {
      console.warn('auto detection test needs both backends; skipped');
      return;
    }
    const fresh = await detectBackend('auto', { netns: ns });
    const version = nsExec(ns, 'iptables', ['--version']);
    expect(fresh.backend).toBe(/nf_tables/.test(version) ? 'nft' : 'legacy');
    expect(fresh.reason).toContain('iptables --version');
    // put one rule into the other backend: auto must follow it
    const other: BackendName = fresh.backend === 'nft' ? 'legacy' : 'nft';
    nsExec(ns, `iptables-${other}`, ['-w', '-A', 'INPUT', '-p', 'tcp', '--dport', '9', '-j', 'ACCEPT']);
    const followed = await detectBackend('auto', { netns: ns });
    expect(followed.backend).toBe(other);
    expect(followed.reason).toContain(`iptables-${other}-save shows 1 rule`);
    // both hold rules: back to `iptables --version`, with a warning
    nsExec(ns, `iptables-${fresh.backend}`, ['-w', '-A', 'INPUT', '-p', 'tcp', '--dport', '9', '-j', 'ACCEPT']);
    const both = await detectBackend('auto', { netns: ns });
    expect(both.backend).toBe(fresh.backend);
    expect(both.warnings.join()).toContain('both iptables-legacy');
  });
});
