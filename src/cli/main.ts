#!/usr/bin/env node
/**
 * The `p2pgw` command line: dispatches to one module per subcommand (run, status, replay, demo,
 * gen, profile, analyze, sink, compile-sigs, check-config, rules), each of which declares its
 * options in one table and parses them itself (gen's live in src/tools/lab/gen.ts).
 * Exit codes: 0 ok, 1 runtime error, 2 usage or config/rules error.
 */
import fs from 'node:fs';
import { reportFatal } from '../runtime/exit.js';
import { HELP, usage, VERSION } from './help.js';
import type { ParseArgsOptionsConfig } from 'node:util';
import { commandHelp } from './subhelp.js';
import { loadTool } from './tool.js';

/** A subcommand: runs with the arguments after its name, resolves with the exit code. */
type Subcommand = (argv: string[]) => number | Promise<number>;

/**
 * Every subcommand by name; its module is loaded only when it runs. The development tools (demo,
 * gen, profile, analyze) are missing from the router package: `loadTool` says so in one line.
 */
const COMMANDS: Readonly<Record<string, () => Promise<Subcommand>>> = {
  run: async () => (await import('./run.js')).runMain,
  replay: async () => (await import('./replay.js')).replayMain,
  status: async () => (await import('./status.js')).statusMain,
  demo: async () => (await loadTool('demo', new URL('./demo.js', import.meta.url), () => import('./demo.js'))).demoMain,
  gen: async () => (await import('./gen.js')).genCliMain,
  profile: async () => (await loadTool('profile', new URL('./profile.js', import.meta.url), () => import('./profile.js'))).profileMain,
  analyze: async () => (await loadTool('analyze', new URL('./analyze.js', import.meta.url), () => import('./analyze.js'))).analyzeMain,
  sink: async () => (await import('./sink.js')).sinkMain,
  'compile-sigs': async () => (await import('./compile-sigs.js')).compileSigsMain,
  'check-config': async () => (await import('./check-config.js')).checkConfigMain,
  rules: async () => (await import('./rules.js')).rulesMain,
};

/**
 * Option tables of the subcommands that have no `help` option of their own (`--help` prints
 * `commandHelp` from it); demo's comes through loadTool (absent from the router package).
 */
const OPTION_TABLES: Readonly<Record<string, () => Promise<ParseArgsOptionsConfig>>> = {
  run: async () => (await import('./run.js')).RUN_OPTIONS,
  replay: async () => (await import('./replay.js')).REPLAY_OPTIONS,
  status: async () => (await import('./status.js')).STATUS_OPTIONS,
  demo: async () => (await loadTool('demo', new URL('./demo.js', import.meta.url), () => import('./demo.js'))).DEMO_OPTIONS,
  'compile-sigs': async () => (await import('./compile-sigs.js')).COMPILE_SIGS_OPTIONS,
  'check-config': async () => (await import('./check-config.js')).CHECK_CONFIG_OPTIONS,
  rules: async () => (await import('./rules.js')).RULES_OPTIONS,
};

/** Names of the subcommands, in the order of the help text. */
export const COMMAND_NAMES: readonly string[] = Object.keys(COMMANDS);

/**
 * Entry point: dispatches `argv` (without node and script) and resolves with the exit code. No
 * command, `help`, `-h`, `--help` print the help; `-V`, `--version` the version; `<command> --help`
 * (or `-h`) that command's help (src/cli/subhelp.ts, or the command's own).
 * @throws P2pgwError(P2PGW_ERR_USAGE) for an unknown command, and whatever the subcommand throws
 */
export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(HELP);
      return 0;
    case '-V':
    case '--version':
      process.stdout.write(`${VERSION}\n`);
      return 0;
  }
  if (!Object.hasOwn(COMMANDS, cmd)) return usage(`unknown command: ${cmd}`);
  if (Object.hasOwn(OPTION_TABLES, cmd) && (rest.includes('--help') || rest.includes('-h'))) {
    process.stdout.write(commandHelp(cmd, await OPTION_TABLES[cmd]()));
    return 0;
  }
  const run = await COMMANDS[cmd]();
  return run(rest);
}

/**
 * Reports an error that ends the command: `p2pgw: <message>` on `stderr` (with the help after a
 * parseArgs error, a stack for an unexpected error).
 * @returns the exit code: 2 for usage, parseArgs, config and rules errors, 1 otherwise
 */
export function reportCliError(err: unknown, stderr: { write(s: string): unknown } = process.stderr): number {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')) {
    stderr.write(`p2pgw: ${(err as Error).message}\n\n${HELP}`);
    return 2;
  }
  return reportFatal(err, stderr);
}

const isMain = process.argv[1] && fs.realpathSync(process.argv[1]) === fs.realpathSync(new URL(import.meta.url).pathname);
if (isMain) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      process.exitCode = reportCliError(err);
    },
  );
}
