/**
 * The `p2pgw` dispatcher and the subcommands that need no root: dispatch, `run`'s option parsing,
 * usage errors and exit codes, `check-config` and `rules` output. In process (src/), no build.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { P2pgwError } from '../../src/core/errors.js';
import { HELP, VERSION } from '../../src/cli/help.js';
import { COMMAND_NAMES, main, reportCliError } from '../../src/cli/main.js';
import { parseRunArgs, RUN_OPTIONS } from '../../src/cli/run.js';
import { REPLAY_OPTIONS } from '../../src/cli/replay.js';
import { DEMO_OPTIONS } from '../../src/cli/demo.js';
import { RULES_OPTIONS } from '../../src/cli/rules.js';
import { loadTool } from '../../src/cli/tool.js';

/** Runs `main(argv)` and returns its exit code with what it wrote on stdout. */
async function capture(argv: string[]): Promise<{ code: number; out: string }> {
  let out = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => ((out += String(s)), true));
  try {
    return { code: await main(argv), out };
  } finally {
    spy.mockRestore();
  }
}

afterEach(() => vi.restoreAllMocks());

describe('p2pgw dispatcher', () => {
  it('knows every subcommand of the help, each in its own module', () => {
    expect(COMMAND_NAMES).toEqual(['run', 'replay', 'status', 'demo', 'gen', 'profile', 'analyze', 'sink', 'compile-sigs', 'check-config', 'rules']);
    for (const c of COMMAND_NAMES) expect(HELP).toContain(`\n  ${c} `);
  });

  it('prints the help and the version', async () => {
    for (const a of [[], ['help'], ['-h'], ['--help']]) expect(await capture(a)).toEqual({ code: 0, out: HELP });
    expect(await capture(['-V'])).toEqual({ code: 0, out: `${VERSION}\n` });
    expect(await capture(['--version'])).toEqual({ code: 0, out: `${VERSION}\n` });
  });

  it('an unknown command is a usage error carrying the help', async () => {
    for (const cmd of ['frobnicate', 'toString', '__proto__']) {
      await expect(main([cmd])).rejects.toMatchObject({ code: 'P2PGW_ERR_USAGE', message: `unknown command: ${cmd}\n\n${HELP}` });
    }
  });

  it('check-config validates the bundled config and prints one line', async () => {
    const { code, out } = await capture(['check-config']);
    expect(code).toBe(0);
    expect(out).toMatch(/^\S+default\.yaml: ok \(\d+ applications, \d+ signatures from \d+ rules file\(s\); blocked: .+\)\n$/);
  });

  it('rules lists the applications as a table', async () => {
    const { code, out } = await capture(['rules']);
    expect(code).toBe(0);
    const lines = out.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^app\s+mark\s+action\s+l4\s+signatures$/);
    expect(lines.some((l) => /^bittorrent\s+0x[0-9a-f]+\s+\w+\s+tcp,udp\s+\d+$/.test(l))).toBe(true);
  });
});

describe('development-tool commands', () => {
  const notFound = () => Promise.reject(Object.assign(new Error('Cannot find module'), { code: 'ERR_MODULE_NOT_FOUND' }));

  it('a missing tool module (the router package) is a one-line usage error naming the command', async () => {
    await expect(loadTool('demo', new URL('./no-such-demo.js', import.meta.url), notFound)).rejects.toMatchObject({
      code: 'P2PGW_ERR_USAGE',
      message: 'demo: a development tool, not part of the router package (run it from a p2pgw checkout)',
    });
  });

  it('anything else passes through: a module that exists but fails to load, other errors, success', async () => {
    await expect(loadTool('demo', new URL(import.meta.url), notFound)).rejects.toMatchObject({ code: 'ERR_MODULE_NOT_FOUND' });
    await expect(loadTool('demo', new URL('./no-such-demo.js', import.meta.url), () => Promise.reject(new TypeError('x')))).rejects.toBeInstanceOf(TypeError);
    expect(await loadTool('demo', new URL('./no-such-demo.js', import.meta.url), async () => 42)).toBe(42);
  });
});

describe('reportCliError', () => {
  const report = (err: unknown) => {
    let text = '';
    const code = reportCliError(err, { write: (s: string) => (text += s) });
    return { code, text };
  };

  it('parseArgs errors: the message, then the help; exit 2', () => {
    let err: unknown;
    try {
      parseRunArgs(['--queue-worker', '0']); // the internal option is gone
    } catch (e) {
      err = e;
    }
    expect((err as { code?: string }).code).toBe('ERR_PARSE_ARGS_UNKNOWN_OPTION');
    const { code, text } = report(err);
    expect(code).toBe(2);
    expect(text).toBe(`p2pgw: ${(err as Error).message}\n\n${HELP}`);
  });

  it('P2pgwError: one line, exit 2 for usage/config/rules and 1 otherwise; other errors: the stack, exit 1', () => {
    expect(report(new P2pgwError('P2PGW_ERR_CONFIG', 'f.yaml: x: bad'))).toEqual({ code: 2, text: 'p2pgw: f.yaml: x: bad\n' });
    expect(report(new P2pgwError('P2PGW_ERR_NOT_ROOT', 'needs root'))).toEqual({ code: 1, text: 'p2pgw: needs root\n' });
    const bug = new TypeError('oops');
    expect(report(bug)).toEqual({ code: 1, text: `p2pgw: ${bug.stack}\n` });
  });
});

describe('p2pgw run options', () => {
  it('defaults: one queue, no overrides', () => {
    expect(parseRunArgs([])).toEqual({ queues: 1, traceSteps: false });
  });

  it('every flag', () => {
    const argv = [
      '--config', 'c.yaml', '--log-dest', 'syslog', '--log-level', 'debug', '--flows', 'f.jsonl', '--status-socket', 's.sock',
      '--flow-log', 'fl', '--export-pcap', 'pc', '--trace-steps', '--queues', '4',
    ];
    expect(parseRunArgs(argv)).toEqual({
      config: 'c.yaml', logDest: 'syslog', logLevel: 'debug', flows: 'f.jsonl', statusSocket: 's.sock',
      flowLog: 'fl', exportPcap: 'pc', traceSteps: true, queues: 4,
    });
  });

  it('bad --queues and --log-dest are usage errors with the help', () => {
    for (const q of ['0', '65', '1.5', 'two']) {
      expect(() => parseRunArgs(['--queues', q])).toThrow(expect.objectContaining({ code: 'P2PGW_ERR_USAGE', message: `run: --queues must be an integer 1..64\n\n${HELP}` }));
    }
    expect(() => parseRunArgs(['--log-dest', 'file'])).toThrow(expect.objectContaining({ message: `run: --log-dest must be auto, syslog or stderr\n\n${HELP}` }));
  });

  it('the help names every option of run, replay, demo and rules (from their option tables)', () => {
    for (const [cmd, table] of [['run', RUN_OPTIONS], ['replay', REPLAY_OPTIONS], ['demo', DEMO_OPTIONS], ['rules', RULES_OPTIONS]] as const) {
      for (const k of Object.keys(table)) expect(HELP, `${cmd} --${k}`).toContain(`--${k}`);
    }
  });
});
