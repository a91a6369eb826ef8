/**
 * How a p2pgw process ends on an error: one `p2pgw: …` line on stderr and an exit code. Shared by
 * the command line (src/cli/main.ts) and the queue worker entry (worker-main.ts), so both print and
 * exit alike. Exit codes: 2 for usage, config, rules and unsafe-path errors, 3 when the daemon a
 * command talks to is not running (`status`), 1 for everything else.
 */
import { P2pgwError } from '../core/errors.js';

/** Error codes that end a process with exit code 2 (the caller's input is wrong); others give 1. */
const INPUT_ERRORS: readonly string[] = ['P2PGW_ERR_USAGE', 'P2PGW_ERR_CONFIG', 'P2PGW_ERR_RULES', 'P2PGW_ERR_UNSAFE_PATH'];

/** Exit code of P2PGW_ERR_NOT_RUNNING: no daemon answers (`p2pgw status`). */
export const EXIT_NOT_RUNNING = 3;

/**
 * Exit code for an error that ends a p2pgw process.
 * @returns 2 for P2pgwError USAGE/CONFIG/RULES/UNSAFE_PATH (ConfigError, RulesError), 3 for
 *   NOT_RUNNING, 1 for any other error
 */
export function exitCodeOf(err: unknown): number {
  if (err instanceof P2pgwError && err.code === 'P2PGW_ERR_NOT_RUNNING') return EXIT_NOT_RUNNING;
  return err instanceof P2pgwError && INPUT_ERRORS.includes(err.code) ? 2 : 1;
}

/**
 * The text printed on stderr for an error that ends a p2pgw process: `p2pgw: <message>\n` for a
 * P2pgwError (one line) and for a system call's error (one line: `EISDIR: illegal operation on a
 * directory, read`; it names a path or resource, not a bug), `p2pgw: <stack>\n` for anything else
 * (a bug: the stack helps).
 */
export function fatalText(err: unknown): string {
  if (err instanceof P2pgwError) return `p2pgw: ${err.message}\n`;
  const e = err as NodeJS.ErrnoException | null;
  if (e instanceof Error && typeof e.code === 'string' && typeof e.syscall === 'string') return `p2pgw: ${e.message.split('\n')[0]}\n`;
  return `p2pgw: ${(err as Error)?.stack ?? err}\n`;
}

/**
 * Prints `fatalText(err)` to `stderr` and returns `exitCodeOf(err)`.
 * @param stderr where the line goes (default process.stderr)
 */
export function reportFatal(err: unknown, stderr: { write(s: string): unknown } = process.stderr): number {
  stderr.write(fatalText(err));
  return exitCodeOf(err);
}
