/**
 * The command line's version and top-level help text, and the usage error that carries the help.
 * Used by the dispatcher (main.ts) and by the subcommands whose usage errors print the whole help
 * (run, replay).
 */
import fs from 'node:fs';
import { P2pgwError } from '../core/errors.js';

/** The package version (package.json two levels above this module: dist/cli or src/cli). */
export const VERSION = JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version as string;

/** The exit codes of every command, one line (the top-level help and each command's `--help`). */
export const EXIT_CODES = '0 success, 1 runtime error, 2 usage or config error, 3 no daemon running (status)';

/** `p2pgw --help`. */
export const HELP = `p2pgw ${VERSION} — classify, mark, block and shape P2P/IM traffic on a Linux router

Usage: p2pgw <command> [options]

Commands:
  run [--config FILE]             live mode: NFQUEUE + iptables (root); verdict lines to syslog
      [--log-dest auto|syslog|stderr] [--log-level LEVEL] [--flows FILE] [--status-socket PATH]
      [--flow-log DIR] [--export-pcap DIR] [--ipfix HOST:PORT] [--trace-steps] [--queues N]
  status [--socket PATH] [--json]  counters of the running daemon (held packets, scans, …);
                                  exit 3 when no daemon runs (--json prints {"running": false, …})
  replay <capture>... [--config FILE] [--flows PATH|-] [--verify-checksums] [--log-level LEVEL]
      [--export-pcap DIR] [--ipfix HOST:PORT]
                                  run the same pipeline over pcap/pcapng files, write flow records
                                  (and export them over IPFIX to a collector with --ipfix)
  demo [--app A,B] [--capture FILE]... [--config FILE] [--keep]
                                  build a client–gateway–server lab in network namespaces, run the
                                  daemon, send real sessions of every application, print verdicts
  gen <server|client|scenario> ...
                                  the lab's traffic generator (see \`p2pgw gen --help\`)
  profile <flows.jsonl|capture>... [--json FILE|-] [--svg FILE]
                                  per-application traffic profile (flows/s, packets/s, sizes)
  analyze <flows.jsonl|nfcapd|nfdump.csv|pmacct.json|capture>... --local CIDR[,CIDR] [--isp CIDR]
      [--slot S] [--html FILE] [--json FILE|-]
                                  host-behaviour analysis: per-metric DBSCAN, findings, HTML report
  sink --wan IFACE [...]          collect unsolicited P2P requests reaching an idle address (see \`p2pgw sink --help\`)
  compile-sigs <in.ndb|.hdb|.hsb|.pat>... -o DB.p2pgwdb
                                  compile signatures once, so a router loads them at start-up fast
  check-config [FILE]             validate a config file and the rules it names; touches nothing
  rules [--config FILE]           list applications, marks, actions and signatures

Options:
  -h, --help                      this help
  -V, --version                   print the version

Exit codes:
  ${EXIT_CODES}
`;

/**
 * Throws the usage error of a subcommand: `msg`, a blank line, then the whole help.
 * @throws P2pgwError(P2PGW_ERR_USAGE) always (exit code 2)
 */
export function usage(msg: string): never {
  throw new P2pgwError('P2PGW_ERR_USAGE', `${msg}\n\n${HELP}`);
}
