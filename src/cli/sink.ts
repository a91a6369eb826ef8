/**
 * `p2pgw sink`: collect the unsolicited P2P requests that reach an idle address and report which
 * protocols they speak (src/collect/). Needs root: it installs a DNAT chain in the IPv4 nat table of
 * the current network namespace, removed again on stop.
 *
 *   p2pgw sink --wan IFACE [--tcp-port 7999] [--udp-port 7999] [--out FILE] [--duration S]
 *              [--requests FILE] [--idle S] [--listen ADDR] [--dst ADDR] [--except PORTS]
 *              [--config FILE] [--utc] [--json] [--log-level LEVEL]
 *   p2pgw sink --remove-rules [--config FILE]
 *
 * Log lines (pino JSON) go to stderr: `ready` once rules and listeners are up, `stopped` with the
 * counters. The text report goes to stdout (`--json`: the JSON report instead); `--out` writes the
 * JSON report, `--requests` every request as a JSON line (payload head in base64).
 * Exit codes: 0 ok, 1 runtime error or rules left behind; usage/config errors are thrown
 * (P2pgwError, exit 2 in main.ts).
 */
import { DEFAULTS } from '../core/defaults.js';
import fs from 'node:fs';
import os from 'node:os';
import { isIPv4 } from 'node:net';
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';
import type { Logger } from 'pino';
import { APPS } from '../apps/registry.js';
import { loadConfig } from '../config/load.js';
import { buildClassifier } from '../runtime/setup.js';
import { detectBackend, type Backend } from '../enforce/backend.js';
import { P2pgwError } from '../core/errors.js';
import { Counters } from '../core/counters.js';
import { createLogger } from '../observe/log.js';
import { detectLister, OrigDstResolver } from '../collect/conntrack.js';
import { installSinkNat, listSinkNat, removeSinkNat, validateSinkNat } from '../collect/nat.js';
import { renderReport, SinkStats } from '../collect/report.js';
import { Sink, type SinkRequest } from '../collect/collector.js';

export const SINK_HELP = `Usage: p2pgw sink --wan IFACE [options]

Collects unsolicited TCP/UDP requests arriving on IFACE (an idle address): DNATs them to one TCP
and one UDP listener, never answers, classifies the first 2 KiB of each request, and prints
requests per protocol, the CDF of requests per source address and requests by hour of day.

  --wan IFACE         WAN interface whose inbound connections are collected (required)
  --tcp-port N        TCP listener port (default 7999)
  --udp-port N        UDP listener port (default 7999)
  --duration S        stop after S seconds (default: at SIGINT/SIGTERM)
  --out FILE          write the JSON report to FILE
  --requests FILE     write every request as a JSON line to FILE
  --idle S            Tc: close a request after S seconds without data (default 30)
  --listen ADDR       listener address (default: --dst, else the first IPv4 address of IFACE)
  --dst ADDR          collect only connections to this local address (default: every local address)
  --except PORTS      comma-separated destination ports left alone (e.g. 22 for the router's ssh)
  --config FILE       p2pgw config (rules, iptables backend); default: the bundled one
  --utc               hours of day in UTC (default: local time)
  --json              print the JSON report instead of the text tables
  --log-level LEVEL   pino level of the stderr log (default info)
  --remove-rules      only remove the sink's DNAT chain (left behind by a killed sink) and exit
  -h, --help          this help
`;

function usage(msg: string): never {
  throw new P2pgwError('P2PGW_ERR_USAGE', `sink: ${msg}\n\n${SINK_HELP}`);
}

function intOpt(v: string | undefined, name: string, dflt: number, min: number, max: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min || n > max) usage(`${name} must be a number from ${min} to ${max} (got ${JSON.stringify(v)})`);
  return n;
}

/** First IPv4 address of `iface` in the current network namespace. */
function ifaceAddr(iface: string): string {
  const addrs = os.networkInterfaces()[iface];
  if (!addrs) usage(`no interface ${JSON.stringify(iface)} (have: ${Object.keys(os.networkInterfaces()).join(', ')})`);
  const a = addrs.find((x) => x.family === 'IPv4' && !x.internal) ?? addrs.find((x) => x.family === 'IPv4');
  if (!a) usage(`interface ${iface} has no IPv4 address; give --listen ADDR`);
  return a.address;
}

function rootOnly(what: string): void {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new P2pgwError('P2PGW_ERR_NOT_ROOT', `\`p2pgw sink\` needs root (CAP_NET_ADMIN) to ${what}`);
  }
}

/** `--remove-rules`: removes our nat chain and its jumps (idempotent), prints what it did. */
async function removeOnly(config: string | undefined): Promise<number> {
  const cfg = loadConfig(config, APPS.map((a) => a.name));
  rootOnly('remove its DNAT rules');
  const backend = await detectBackend(cfg.iptables.backend, { families: [4] });
  const chain = `${cfg.iptables.chain}_SINK`.slice(0, 28);
  const before = await listSinkNat({ backend, chain });
  await removeSinkNat({ backend, chain });
  process.stdout.write(before.length ? `removed chain ${chain} (${before.length} line(s)) from the ${backend.backend} nat table\n` : `no ${chain} chain in the ${backend.backend} nat table\n`);
  return 0;
}

/** JSON line of a request for `--requests`. */
export function requestLine(r: SinkRequest): string {
  const { head, ...rest } = r;
  return `${JSON.stringify({ ...rest, head: Buffer.from(head).toString('base64') })}\n`;
}

/** The options of `p2pgw sink`. */
export const SINK_OPTIONS = {
  wan: { type: 'string' },
  'tcp-port': { type: 'string' },
  'udp-port': { type: 'string' },
  duration: { type: 'string' },
  out: { type: 'string' },
  requests: { type: 'string' },
  idle: { type: 'string' },
  listen: { type: 'string' },
  dst: { type: 'string' },
  except: { type: 'string' },
  config: { type: 'string' },
  utc: { type: 'boolean', default: false },
  json: { type: 'boolean', default: false },
  'log-level': { type: 'string' },
  'remove-rules': { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const satisfies ParseArgsOptionsConfig;

/** Parsed options of `p2pgw sink`. */
type SinkValues = ReturnType<typeof parseArgs<{ args: string[]; options: typeof SINK_OPTIONS }>>['values'];

/** The sink's settings, checked before anything is touched. Durations in seconds, ports 1–65535. */
interface SinkSettings {
  wan: string;
  tcpPort: number;
  udpPort: number;
  idleS: number;
  /** Stop after this many seconds; null: at SIGINT/SIGTERM. */
  duration: number | null;
  except: number[];
}

/** A sink that is collecting: its listeners, resolver, rules and what it reports. */
interface RunningSink {
  settings: SinkSettings;
  values: SinkValues;
  logger: Logger;
  counters: Counters;
  backend: Backend;
  chain: string;
  listen: string;
  resolver: OrigDstResolver;
  sink: Sink;
  stats: SinkStats;
  reqOut: fs.WriteStream | null;
  started: Date;
}

/**
 * Runs the sink until --duration or SIGINT/SIGTERM, then removes the rules and reports.
 * @param argv the arguments after `sink`
 * @returns exit code (0, or 1 when rules could not be removed)
 * @throws P2pgwError: USAGE (bad options, port in use), NOT_ROOT, CONFIG/RULES, MISSING_FEATURE
 *   (no conntrack, no nat support), IPTABLES
 */
export async function sinkMain(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: SINK_OPTIONS });
  if (values.help) {
    process.stdout.write(SINK_HELP);
    return 0;
  }
  if (values['remove-rules']) return removeOnly(values.config);
  const running = await startSink(sinkSettings(values), values);
  await untilStop(running.settings.duration, running);
  return finishSink(running);
}

/** Checks the numeric and address options. @throws P2pgwError(P2PGW_ERR_USAGE) */
function sinkSettings(values: SinkValues): SinkSettings {
  if (!values.wan) usage('--wan IFACE is required');
  const settings = {
    wan: values.wan,
    tcpPort: intOpt(values['tcp-port'], '--tcp-port', DEFAULTS.sink.tcpPort, 1, 65535),
    udpPort: intOpt(values['udp-port'], '--udp-port', DEFAULTS.sink.udpPort, 1, 65535),
    idleS: intOpt(values.idle, '--idle', DEFAULTS.sink.idleSec, 0.05, 86400),
    duration: values.duration === undefined ? null : intOpt(values.duration, '--duration', 0, 0.1, 365 * 86400),
    except: (values.except ?? '').split(',').filter(Boolean).map((p) => intOpt(p, '--except', 0, 1, 65535)),
  };
  if (values.listen !== undefined && !isIPv4(values.listen)) usage(`--listen ${values.listen} is not an IPv4 address`);
  return settings;
}

/**
 * Loads the config and classifier, checks the DNAT rule options and root, finds the conntrack
 * lister and iptables backend, starts the listeners and installs the DNAT chain; logs `ready`.
 * @throws P2pgwError USAGE (listener address in use or unavailable), NOT_ROOT, CONFIG/RULES,
 *   MISSING_FEATURE, IPTABLES (the listeners are stopped again)
 */
async function startSink(settings: SinkSettings, values: SinkValues): Promise<RunningSink> {
  const { wan, tcpPort, udpPort, idleS, except } = settings;
  const cfg = loadConfig(values.config, APPS.map((a) => a.name));
  if (values['log-level']) cfg.log.level = values['log-level'];
  const { classifier } = buildClassifier(cfg);
  const listen = values.listen ?? values.dst ?? ifaceAddr(wan);
  const chain = `${cfg.iptables.chain}_SINK`.slice(0, 28);
  const natOpts = { chain, wan, to: listen, tcpPort, udpPort, dst: values.dst, except };
  validateSinkNat(natOpts);
  rootOnly('install its DNAT rules and read conntrack');

  const { logger } = createLogger({ ...cfg.log, dest: 'stderr' }, 'replay');
  const counters = new Counters();
  const listenAddr = { addr: listen, tcpPort, udpPort };
  const { list, how } = await detectLister(listenAddr);
  const resolver = new OrigDstResolver(list, listenAddr, {}, counters);
  const backend = await detectBackend(cfg.iptables.backend, { families: [4] });
  for (const w of backend.warnings) logger.warn({ backend: backend.backend }, w);

  const stats = new SinkStats({ utc: values.utc });
  const reqOut = values.requests ? fs.createWriteStream(values.requests, { flags: 'w', mode: 0o600 }) : null;
  const sink = new Sink({
    listenAddr: listen, tcpPort, udpPort, idleMs: idleS * 1000, classifier, resolver, counters,
    onRequest: (r) => {
      stats.add(r);
      reqOut?.write(requestLine(r));
      logger.debug({ l4: r.l4, src: r.src, sport: r.sport, dst: r.dst, dport: r.dport, bytes: r.bytes, app: r.app, rule: r.rule }, 'request');
    },
  });
  await listenOrUsage(sink, listen, tcpPort, udpPort);
  const started = new Date();
  try {
    await installSinkNat({ ...natOpts, backend });
  } catch (err) {
    await sink.stop();
    resolver.close();
    throw err;
  }
  logger.info(
    { wan, listen, tcp_port: tcpPort, udp_port: udpPort, idle_s: idleS, chain, backend: backend.backend, conntrack: how, dst: values.dst, except, pid: process.pid },
    'ready',
  );
  return { settings, values, logger, counters, backend, chain, listen, resolver, sink, stats, reqOut, started };
}

/** Starts the listeners; an address in use or not available is a usage error. */
async function listenOrUsage(sink: Sink, listen: string, tcpPort: number, udpPort: number): Promise<void> {
  try {
    await sink.start();
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'EADDRINUSE' || e.code === 'EADDRNOTAVAIL') usage(`cannot listen on ${listen} (tcp/${tcpPort}, udp/${udpPort}): ${e.message}`);
    throw err;
  }
}

/** Resolves after `duration` seconds (null: never) or at SIGINT/SIGTERM; logs `stopping` with `why` and the open requests. */
function untilStop(duration: number | null, r: Pick<RunningSink, 'logger' | 'sink'>): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = duration === null ? null : setTimeout(() => finish('duration'), duration * 1000);
    const onSig = (sig: NodeJS.Signals): void => finish(sig);
    function finish(why: string): void {
      if (timer) clearTimeout(timer);
      process.off('SIGINT', onSig);
      process.off('SIGTERM', onSig);
      r.logger.info({ why, open: r.sink.open }, 'stopping');
      resolve();
    }
    process.on('SIGINT', onSig);
    process.on('SIGTERM', onSig);
  });
}

/**
 * Removes the DNAT chain (no new connections), ends the open requests, writes the report (`--out`,
 * stdout as text or `--json`) and logs `stopped`.
 * @returns 0, or 1 when the rules could not be removed (logged)
 */
async function finishSink(r: RunningSink): Promise<number> {
  // No new connections once the rules are gone; then end what is open (its conntrack entries live on).
  let code = 0;
  try {
    await removeSinkNat({ backend: r.backend, chain: r.chain });
  } catch (err) {
    code = 1;
    r.logger.error({ err: (err as Error).message }, 'could not remove the sink DNAT rules');
  }
  await r.sink.stop();
  r.resolver.close();
  const { wan, tcpPort, udpPort, idleS } = r.settings;
  const report = r.stats.report({ started: r.started, ended: new Date(), wan, listen: r.listen, tcpPort, udpPort, idleS, counters: r.counters.snapshot() });
  const reqOut = r.reqOut;
  if (reqOut) await new Promise<void>((done) => reqOut.end(done));
  if (r.values.out) fs.writeFileSync(r.values.out, `${JSON.stringify(report, null, 2)}\n`, { mode: 0o600 });
  process.stdout.write(r.values.json ? `${JSON.stringify(report, null, 2)}\n` : renderReport(report));
  r.logger.info({ counters: report.counters, total: report.total }, 'stopped');
  return code;
}
