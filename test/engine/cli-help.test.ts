/**
 * `p2pgw <command> --help` and `-h` (issue 15): every subcommand exits 0 and names every option it
 * takes — from its options table, the one place it declares them (gen: GEN_FLAGS, which
 * parseGenArgs accepts).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ParseArgsOptionsConfig } from 'node:util';
import { COMMAND_NAMES, main } from '../../src/cli/main.js';
import { GEN_FLAGS, parseGenArgs } from '../../src/tools/lab/gen.js';

/** Each subcommand's options table (gen has none: its flags are GEN_FLAGS). */
const TABLES: Record<string, () => Promise<ParseArgsOptionsConfig | null>> = {
  run: async () => (await import('../../src/cli/run.js')).RUN_OPTIONS,
  replay: async () => (await import('../../src/cli/replay.js')).REPLAY_OPTIONS,
  status: async () => (await import('../../src/cli/status.js')).STATUS_OPTIONS,
  demo: async () => (await import('../../src/cli/demo.js')).DEMO_OPTIONS,
  gen: async () => null,
  profile: async () => (await import('../../src/cli/profile.js')).PROFILE_OPTIONS,
  analyze: async () => (await import('../../src/cli/analyze.js')).ANALYZE_OPTIONS,
  sink: async () => (await import('../../src/cli/sink.js')).SINK_OPTIONS,
  'compile-sigs': async () => (await import('../../src/cli/compile-sigs.js')).COMPILE_SIGS_OPTIONS,
  'check-config': async () => (await import('../../src/cli/check-config.js')).CHECK_CONFIG_OPTIONS,
  rules: async () => (await import('../../src/cli/rules.js')).RULES_OPTIONS,
};

/** Runs `main(argv)`, capturing what it writes to stdout. */
async function capture(argv: string[]): Promise<{ code: number; out: string }> {
  let out = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => ((out += String(s)), true));
  const code = await main(argv);
  vi.restoreAllMocks();
  return { code, out };
}

describe('p2pgw <command> --help', () => {
  afterEach(() => vi.restoreAllMocks());

  it('covers every subcommand', () => {
    expect(Object.keys(TABLES).sort()).toEqual([...COMMAND_NAMES].sort());
  });

  for (const cmd of Object.keys(TABLES)) {
    it.each(['--help', '-h'])(`${cmd} %s exits 0 and names every option`, async (flag) => {
      const { code, out } = await capture([cmd, flag]);
      expect(code).toBe(0);
      expect(out).toMatch(new RegExp(`p2pgw ${cmd}\\b`));
      const table = await TABLES[cmd]();
      const names = table ? Object.keys(table).map((n) => `--${n}`) : GEN_FLAGS.map((f) => f.split(' ')[0]);
      for (const n of names) expect(out, `${cmd}: ${n}`).toContain(n);
      expect(out).not.toMatch(/Unknown option/);
    });
  }

  it('gen accepts every flag its help lists', () => {
    for (const f of GEN_FLAGS) {
      const [name] = f.split(' ');
      const values: Record<string, string> = { '--apps': 'all', '--server': '127.0.0.1', '--bind': '127.0.0.1', '--from': '127.0.0.1', '--concurrency': '2', '--lifetime': '60' };
      const v = values[name] ?? (f.endsWith('FILE') ? 'x' : '2000');
      const base = name === '--out' ? ['scenario', '--apps', 'all'] : name === '--server' ? ['client', '--apps', 'all'] : ['scenario', '--apps', 'all', '--out', 'o'];
      expect(() => parseGenArgs([...base, name, v]), f).not.toThrow();
    }
  });
});
