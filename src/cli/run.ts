/**
 * `p2pgw run [--config FILE] [--log-dest auto|syslog|stderr] [--log-level LEVEL] [--flows FILE]
 * [--status-socket PATH] [--flow-log DIR] [--export-pcap DIR] [--ipfix HOST:PORT] [--trace-steps]
 * [--queues N]`:
 * live mode (src/runtime/run.ts). Needs root. Exit codes: 0 after SIGTERM/SIGINT with every rule
 * removed, 1 otherwise; usage and config errors are thrown (exit 2 in main.ts).
 */
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';
import type { RunOptions } from '../runtime/boot.js';
import { usage } from './help.js';
import { HOST_PORT_EXAMPLES, parseHostPort } from '../config/hostport.js';

/** The options of `p2pgw run`. */
export const RUN_OPTIONS = {
  config: { type: 'string' },
  'log-dest': { type: 'string' },
  'log-level': { type: 'string' },
  flows: { type: 'string' },
  'status-socket': { type: 'string' },
  'flow-log': { type: 'string' },
  'export-pcap': { type: 'string' },
  ipfix: { type: 'string' },
  'trace-steps': { type: 'boolean', default: false },
  queues: { type: 'string' },
} as const satisfies ParseArgsOptionsConfig;

/**
 * Parses the arguments after `run`.
 * @returns the daemon's options (`queues` 1–64, default 1)
 * @throws P2pgwError(P2PGW_ERR_USAGE) for a bad --queues, --log-dest or --ipfix; parseArgs' ERR_PARSE_ARGS_*
 *   errors for unknown options or missing values
 */
export function parseRunArgs(argv: string[]): RunOptions {
  const { values } = parseArgs({ args: argv, options: RUN_OPTIONS });
  const dest = values['log-dest'];
  const queues = values.queues === undefined ? 1 : Number(values.queues);
  if (!Number.isInteger(queues) || queues < 1 || queues > 64) usage('run: --queues must be an integer 1..64');
  if (dest && !['auto', 'syslog', 'stderr'].includes(dest)) usage(`run: --log-dest must be auto, syslog or stderr`);
  if (values.ipfix !== undefined && !parseHostPort(values.ipfix)) usage(`run: --ipfix must be HOST:PORT (e.g. ${HOST_PORT_EXAMPLES})`);
  return {
    config: values.config,
    logDest: dest as RunOptions['logDest'],
    logLevel: values['log-level'],
    flows: values.flows,
    statusSocket: values['status-socket'],
    flowLog: values['flow-log'],
    exportPcap: values['export-pcap'],
    ipfix: values.ipfix,
    traceSteps: values['trace-steps'],
    queues,
  };
}

/**
 * Runs `p2pgw run` until SIGTERM/SIGINT.
 * @param argv arguments after `run`
 * @returns the exit code (0, or 1 when our rules could not all be removed)
 * @throws see parseRunArgs and runGateway (src/runtime/run.ts)
 */
export async function runMain(argv: string[]): Promise<number> {
  const opts = parseRunArgs(argv);
  const { runGateway } = await import('../runtime/run.js');
  return runGateway(opts);
}
