#!/usr/bin/env node
/**
 * The `p2pgw` command line. Subcommands: run, replay, demo, gen, check-config, rules.
 * Exit codes: 0 ok, 1 runtime error, 2 usage or config/rules error.
 */
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { P2pgwError } from '../core/errors.js';
import { APPS } from '../apps/registry.js';
import { loadConfig } from '../config/load.js';
import { createLogger } from '../observe/log.js';
import { buildClassifier } from '../runtime/setup.js';

const VERSION = JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version as string;

const HELP = `p2pgw ${VERSION} — classify, mark, block and shape P2P/IM traffic on a Linux router

Usage: p2pgw <command> [options]

Commands:
  run [--config FILE]             live mode: NFQUEUE + iptables (root); verdict lines to syslog
      [--log-dest auto|syslog|stderr] [--log-level LEVEL] [--flows FILE] [--status-socket PATH]
      [--flow-log DIR] [--export-pcap DIR] [--trace-steps] [--queues N]
  status [--socket PATH] [--json]  counters of the running daemon (held packets, scans, …)
  replay <capture>... [--config FILE] [--flows PATH|-] [--verify-checksums] [--log-level LEVEL]
      [--export-pcap DIR]
                                  run the same pipeline over pcap/pcapng files, write flow records
  demo [--app A,B] [--capture FILE]... [--config FILE] [--keep]
                                  build a client–gateway–server lab in network namespaces, run the
                                  daemon, send real sessions of every application, print verdicts
  gen <server|client|scenario> ...
                                  the lab's traffic generator (see \`p2pgw gen --help\`)
  profile <flows.jsonl|capture>... [--json FILE|-] [--svg FILE]
                                  per-application traffic profile (flows/s, packets/s, sizes)
  analyze <flows.jsonl|capture>... --local CIDR[,CIDR] [--isp CIDR] [--slot S] [--html FILE] [--json FILE|-]
                                  host-behaviour analysis: per-metric DBSCAN, findings, HTML report
  sink --wan IFACE [...]          collect unsolicited P2P requests reaching an idle address (see \`p2pgw sink --help\`)
  compile-sigs <in.ndb|.hdb|.hsb|.pat>... -o DB.p2pgwdb
                                  compile signatures once, so a router loads them at start-up fast
  check-config [FILE]             validate a config file and the rules it names; touches nothing
  rules [--config FILE]           list applications, marks, actions and signatures

Options:
  -h, --help                      this help
  -V, --version                   print the version
`;

function usage(msg: string): never {
  throw new P2pgwError('P2PGW_ERR_USAGE', `${msg}\n\n${HELP}`);
}

async function cmdReplay(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string' },
      flows: { type: 'string' },
      'verify-checksums': { type: 'boolean', default: false },
      'log-level': { type: 'string' },
      'export-pcap': { type: 'string' },
    },
  });
  if (!positionals.length) usage('replay: name at least one capture file');
  const cfg = loadConfig(values.config, APPS.map((a) => a.name));
  if (values['log-level']) cfg.log.level = values['log-level'];
  const { logger } = createLogger({ ...cfg.log, dest: 'stderr' }, 'replay');
  const { replayFiles } = await import('../runtime/replay.js');
  let out: fs.WriteStream | NodeJS.WriteStream | null = null;
  if (values.flows === '-') out = process.stdout;
  else if (values.flows) out = fs.createWriteStream(values.flows);
  const { records, counters } = replayFiles(positionals, {
    config: cfg,
    verifyChecksums: values['verify-checksums'],
    exportPcap: values['export-pcap'],
    logger,
    onRecord: (r) => out?.write(`${JSON.stringify(r)}\n`),
  });
  const byApp = new Map<string, number>();
  for (const r of records) byApp.set(r.app ?? '(unclassified)', (byApp.get(r.app ?? '(unclassified)') ?? 0) + 1);
  logger.info({ flows: records.length, apps: Object.fromEntries(byApp), counters: counters.snapshot() }, 'replay done');
  if (out && out !== process.stdout) await new Promise<void>((r) => (out as fs.WriteStream).end(r));
  return 0;
}

async function cmdRun(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      config: { type: 'string' },
      'log-dest': { type: 'string' },
      'log-level': { type: 'string' },
      flows: { type: 'string' },
      'status-socket': { type: 'string' },
      'flow-log': { type: 'string' },
      'export-pcap': { type: 'string' },
      'trace-steps': { type: 'boolean', default: false },
      queues: { type: 'string' },
      'queue-worker': { type: 'string' },
    },
  });
  const dest = values['log-dest'];
  const queues = values.queues === undefined ? 1 : Number(values.queues);
  if (!Number.isInteger(queues) || queues < 1 || queues > 64) usage('run: --queues must be an integer 1..64');
  if (dest && !['auto', 'syslog', 'stderr'].includes(dest)) usage(`run: --log-dest must be auto, syslog or stderr`);
  const { runDaemon } = await import('../runtime/daemon.js');
  return runDaemon({
    config: values.config,
    logDest: dest as 'auto' | 'syslog' | 'stderr' | undefined,
    logLevel: values['log-level'],
    flows: values.flows,
    statusSocket: values['status-socket'],
    flowLog: values['flow-log'],
    exportPcap: values['export-pcap'],
    traceSteps: values['trace-steps'],
    queues,
    worker: values['queue-worker'] !== undefined ? { index: Number(values['queue-worker']) } : undefined,
  });
}


async function cmdDemo(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      app: { type: 'string' },
      capture: { type: 'string', multiple: true },
      config: { type: 'string' },
      keep: { type: 'boolean', default: false },
    },
  });
  const { demo } = await import('./demo.js');
  return demo({
    apps: values.app ? values.app.split(',').map((s) => s.trim()).filter(Boolean) : undefined,
    capture: values.capture,
    config: values.config,
    keep: values.keep,
    out: process.stdout,
  });
}

function cmdCheckConfig(argv: string[]): number {
  const { positionals } = parseArgs({ args: argv, allowPositionals: true, options: {} });
  const cfg = loadConfig(positionals[0], APPS.map((a) => a.name));
  const { rules, classifier } = buildClassifier(cfg);
  const blocked = classifier.apps.filter((a) => a.action === 'block').map((a) => a.desc.name);
  process.stdout.write(
    `${cfg.file}: ok (${classifier.apps.length} applications, ${rules.sigs.length} signatures from ${rules.files.length} rules file(s); blocked: ${blocked.join(', ') || 'none'})\n`,
  );
  return 0;
}

function cmdRules(argv: string[]): number {
  const { values } = parseArgs({ args: argv, options: { config: { type: 'string' } } });
  const cfg = loadConfig(values.config, APPS.map((a) => a.name));
  const { classifier } = buildClassifier(cfg);
  const rows = classifier.apps.map((a) => [
    a.desc.name,
    `0x${a.mark.toString(16)}`,
    a.action,
    a.desc.l4.join(','),
    String(classifier.sigs.filter((s) => s.app === a.desc.name).length),
  ]);
  const head = ['app', 'mark', 'action', 'l4', 'signatures'];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(w[i])).join('  ').trimEnd();
  process.stdout.write([line(head), ...rows.map(line)].join('\n') + '\n');
  return 0;
}

/** Entry point: dispatches `argv` (without node and script) and resolves with the exit code. */
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
    case 'run':
      return cmdRun(rest);
    case 'replay':
      return cmdReplay(rest);
    case 'status': {
      const { statusMain } = await import('./status.js');
      return statusMain(rest);
    }
    case 'demo':
      return cmdDemo(rest);
    case 'gen': {
      const { genMain } = await import('../tools/lab/gen.js');
      return genMain(rest);
    }
    case 'profile': {
      const { profileMain } = await import('./profile.js');
      return profileMain(rest);
    }
    case 'analyze': {
      const { analyzeMain } = await import('./analyze.js');
      return analyzeMain(rest);
    }
    case 'sink': {
      const { sinkMain } = await import('./sink.js');
      return sinkMain(rest);
    }
    case 'compile-sigs': {
      const { compileSigsMain } = await import('./compile-sigs.js');
      return compileSigsMain(rest);
    }
    case 'check-config':
      return cmdCheckConfig(rest);
    case 'rules':
      return cmdRules(rest);
    default:
      return usage(`unknown command: ${cmd}`);
  }
}

const isMain = process.argv[1] && fs.realpathSync(process.argv[1]) === fs.realpathSync(new URL(import.meta.url).pathname);
if (isMain) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      if (err instanceof P2pgwError) {
        process.stderr.write(`p2pgw: ${err.message}\n`);
        process.exitCode = ['P2PGW_ERR_USAGE', 'P2PGW_ERR_CONFIG', 'P2PGW_ERR_RULES'].includes(err.code) ? 2 : 1;
      } else if ((err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
        process.stderr.write(`p2pgw: ${(err as Error).message}\n\n${HELP}`);
        process.exitCode = 2;
      } else {
        process.stderr.write(`p2pgw: ${(err as Error).stack ?? err}\n`);
        process.exitCode = 1;
      }
    },
  );
}
