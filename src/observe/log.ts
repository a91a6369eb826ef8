/**
 * Logger construction (pino) and the verdict line. A verdict line is one structured JSON line per
 * classification and per block: `{"msg":"classified"|"blocked", app, mark, l4, src, sport, dst,
 * dport, verdict, rule, reason}` (schema in the README, "Syslog line format").
 * Live mode writes to syslog through /dev/log (stderr when there is no socket); replay to stderr.
 */
import { pino, type Logger } from 'pino';
import { FACILITIES, SyslogDestination } from './syslog.js';
import type { Flow } from '../flow/flow.js';
import type { Classification } from '../apps/classifier.js';

export interface LogOptions {
  level: string;
  dest: 'auto' | 'syslog' | 'stderr';
  facility: string;
  syslogSocket: string;
}

/**
 * Creates the logger. `mode` decides what `dest: auto` means.
 * @returns the logger and a notice when syslog was asked for but unavailable (stderr used instead)
 */
export function createLogger(opts: LogOptions, mode: 'live' | 'replay'): { logger: Logger; notice?: string; close(): void } {
  const base = { name: 'p2pgw' };
  const wantSyslog = opts.dest === 'syslog' || (opts.dest === 'auto' && mode === 'live');
  if (wantSyslog) {
    try {
      const dest = new SyslogDestination(opts.syslogSocket, FACILITIES[opts.facility] ?? FACILITIES.daemon);
      return { logger: pino({ level: opts.level, base }, dest), close: () => dest.close() };
    } catch (err) {
      const logger = pino({ level: opts.level, base }, pino.destination({ fd: 2, sync: true }));
      return { logger, notice: `syslog unavailable (${(err as Error).message}); logging to stderr`, close: () => {} };
    }
  }
  return { logger: pino({ level: opts.level, base }, pino.destination({ fd: 2, sync: true })), close: () => {} };
}

/** The fields of a verdict line for `flow`. */
export function verdictFields(flow: Flow, c: Classification): Record<string, unknown> {
  return {
    app: flow.app,
    mark: flow.mark,
    l4: flow.l4,
    src: flow.src,
    sport: flow.sport,
    dst: flow.dst,
    dport: flow.dport,
    verdict: flow.verdict,
    rule: c.rule,
    reason: c.reason,
    method: c.method,
    ...(c.source ? { learned_from: c.source } : {}),
  };
}

/** Logs the verdict lines of a finished classification: `classified`, plus `blocked` for blocks. */
export function logClassification(logger: Logger, flow: Flow, c: Classification): void {
  if (!c.app) {
    logger.debug({ ...verdictFields(flow, c) }, 'unclassified');
    return;
  }
  const fields = verdictFields(flow, c);
  logger.info(fields, 'classified');
  if (c.app.action === 'block') logger.warn(fields, 'blocked');
}
