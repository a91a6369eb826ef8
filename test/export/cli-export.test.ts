/**
 * The command line around export and the CLI items of issue 15: `flow_export` in the config and
 * `--ipfix HOST:PORT` (validated in one line), `replay --ipfix` that cannot reach its collector
 * (one line, exit 1), `replay` of a missing file or a directory (one line, no stack), `status` with
 * no daemon (`--json` prints `{"running": false, …}`; exit 3, distinct from usage errors' 2), and
 * the demo's session report judged against the config (blocked sessions are `blocked`, only what
 * goes against the config is `FAIL`; the daemon column's `-` is explained).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { parseHostPort } from '../../src/config/hostport.js';
import { DEFAULTS } from '../../src/core/defaults.js';
import { parseRunArgs } from '../../src/cli/run.js';
import { statusMain } from '../../src/cli/status.js';
import { SESSION_LEGEND, judgeSession, sessionSummary, sessionTable, type Verdict } from '../../src/tools/lab/report.js';
import type { SessionResult } from '../../src/tools/lab/gen-core.js';
import { ROOT, capture } from '../helpers/paths.js';

const CLI = path.join(ROOT, 'dist', 'cli', 'main.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'p2pgw-cli-export-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Runs the built CLI; stderr must be at most one line and hold no Node stack. */
function cli(args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000 });
  expect(r.stderr, 'no Node stack').not.toMatch(/^\s+at /m);
  return { code: r.status, out: r.stdout, err: r.stderr };
}
const oneLine = (s: string): string => {
  const lines = s.trimEnd().split('\n').filter((l) => !l.startsWith('{')); // pino lines are JSON
  expect(lines, s).toHaveLength(1);
  return lines[0];
};

describe('flow_export in the config, --ipfix on the command line', () => {
  it('defaults, every key, and a collector that is not HOST:PORT named with its line', () => {
    expect(parseConfig('', 'p.yaml', []).flowExport).toEqual(DEFAULTS.flowExport);
    const c = parseConfig('flow_export:\n  collector: "[2001:db8::7]:4739"\n  transport: tcp\n  template_refresh: 60\n  observation_domain: 9\n  active_timeout: 120\n  idle_timeout: 30\n  queue: 100\n', 'p.yaml', []);
    expect(c.flowExport).toEqual({ collector: '[2001:db8::7]:4739', transport: 'tcp', templateRefreshSec: 60, observationDomain: 9, activeTimeoutSec: 120, idleTimeoutSec: 30, queue: 100 });
    const msg = (y: string) => {
      try {
        parseConfig(y, 'p.yaml', []);
        return 'no error';
      } catch (e) {
        return (e as Error).message;
      }
    };
    expect(msg('flow_export:\n  collector: 10.0.0.1\n')).toBe("p.yaml: flow_export.collector (line 2): '10.0.0.1' is not HOST:PORT (e.g. 192.0.2.10:4739, [2001:db8::1]:4739 or collector.example:4739)");
    expect(msg('flow_export: {transport: sctp}\n')).toBe('p.yaml: flow_export.transport (line 1): must be one of udp, tcp');
    expect(msg('flow_export: {observation_domain: 0}\n')).toBe('p.yaml: flow_export.observation_domain (line 1): must be >= 1');
  });

  it('HOST:PORT forms', () => {
    expect(parseHostPort('127.0.0.1:4739')).toEqual({ host: '127.0.0.1', port: 4739 });
    expect(parseHostPort('[::1]:9995')).toEqual({ host: '::1', port: 9995 });
    expect(parseHostPort('collector.example:2055')).toEqual({ host: 'collector.example', port: 2055 });
    for (const bad of ['127.0.0.1', '127.0.0.1:0', '127.0.0.1:65536', '::1:4739', '[::1]', '300.1.1.1:4739', 'a b:1', '[nope]:1']) expect(parseHostPort(bad), bad).toBeNull();
  });

  it('run --ipfix is checked before anything starts; replay --ipfix too (one line, exit 2)', () => {
    expect(parseRunArgs(['--ipfix', '192.0.2.1:4739']).ipfix).toBe('192.0.2.1:4739');
    expect(() => parseRunArgs(['--ipfix', 'nowhere'])).toThrow(/run: --ipfix must be HOST:PORT/);
    const r = cli(['replay', capture('dns.pcap'), '--ipfix', 'nowhere']);
    expect(r.code).toBe(2);
    expect(oneLine(r.err)).toBe("p2pgw: --ipfix: 'nowhere' is not HOST:PORT (e.g. 192.0.2.10:4739, [2001:db8::1]:4739 or collector.example:4739)");
  });

  it('replay --ipfix over TCP to a port nobody listens on: one line, exit 1, the records not sent counted', async () => {
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as net.AddressInfo).port;
    await new Promise<void>((r) => srv.close(() => r())); // free again: connections are refused
    const cfg = path.join(tmp, 'tcp.yaml');
    fs.writeFileSync(cfg, 'flow_export: {transport: tcp}\n');
    const r = cli(['replay', capture('dns.pcap'), '--config', cfg, '--ipfix', `127.0.0.1:${port}`, '--log-level', 'error']);
    expect(r.code).toBe(1);
    expect(oneLine(r.err)).toMatch(new RegExp(`^p2pgw: IPFIX export to 127\\.0\\.0\\.1:${port} \\(tcp\\): \\d+ flow record\\(s\\) not sent \\(is the collector listening\\?\\)$`));
  });
});

describe('replay of what is not a capture', () => {
  it('a missing file: one line, exit 1', () => {
    const r = cli(['replay', path.join(tmp, 'missing.pcap')]);
    expect(r.code).toBe(1);
    expect(oneLine(r.err)).toBe(`p2pgw: ${path.join(tmp, 'missing.pcap')}: cannot read capture: ENOENT: no such file or directory`);
  });

  it('a directory: one line, exit 1', () => {
    const r = cli(['replay', tmp]);
    expect(r.code).toBe(1);
    expect(oneLine(r.err)).toBe(`p2pgw: ${tmp}: cannot read capture: is a directory, not a regular file`);
  });
});

describe('status with no daemon', () => {
  const sock = path.join(tmp, 'none.sock');

  it('--json prints {"running": false, …} and exits 3', async () => {
    let out = '';
    const code = await statusMain(['--json', '--socket', sock], { write: (s: string) => (out += s) });
    expect(code).toBe(3);
    expect(JSON.parse(out)).toEqual({ running: false, socket: sock, error: `no p2pgw daemon at ${sock} (ENOENT); is \`p2pgw run\` running?` });
  });

  it('exit codes are distinct: 3 for no daemon, 2 for a usage error', () => {
    const none = cli(['status', '--socket', sock]);
    expect(none.code).toBe(3);
    expect(oneLine(none.err)).toBe(`p2pgw: no p2pgw daemon at ${sock} (ENOENT); is \`p2pgw run\` running?`);
    const json = cli(['status', '--json', '--socket', sock]);
    expect(json.code).toBe(3);
    expect(JSON.parse(json.out).running).toBe(false);
    expect(cli(['status', '--bogus']).code).toBe(2);
    expect(cli(['status', '--help']).out).toMatch(/Exit codes: 0 success, 1 runtime error, 2 usage or config error, 3 no daemon running/);
  });
});

describe("the demo's session report", () => {
  const res = (app: string, port: number, ok: boolean, over: Partial<SessionResult> = {}): SessionResult => ({
    role: 'client', app, name: `${app}.x`, l4: 'tcp', port, ok, reset: false, bytesSent: 10, bytesReceived: ok ? 10 : 0,
    sha256Received: '', stepsDone: ok ? 2 : 0, steps: 2, ms: 5, ...(ok ? {} : { error: 'timeout at step 1' }), ...over,
  });
  const verdict = (msg: string, app: string, dport: number): Verdict => ({ atMs: 1, line: { msg, app, dport } });
  const results = [
    res('bittorrent', 7001, false, { reset: true }),
    res('bittorrent', 7002, false),
    res('gnutella', 7003, true),
    res('bulk', 7004, true),
    res('edonkey', 7005, false),
    res('bittorrent', 7006, true),
  ];
  const verdicts = [verdict('blocked', 'bittorrent', 7001), verdict('classified', 'gnutella', 7003), verdict('classified', 'edonkey', 7005)];
  const expectOf = (r: SessionResult) => (r.app === 'bittorrent' ? 'blocked' : 'pass') as 'blocked' | 'pass';

  it('a blocked application\'s failed sessions are `blocked` (expected); only what goes against the config is FAIL', () => {
    expect(judgeSession(results[0], 'blocked', 'blocked:bittorrent')).toEqual({ result: 'blocked', againstConfig: false, note: 'expected: the config blocks bittorrent (reset)' });
    expect(judgeSession(results[1], 'blocked')).toEqual({ result: 'blocked', againstConfig: false, note: 'expected: the config blocks bittorrent (timeout at step 1); no blocked verdict line' });
    expect(judgeSession(results[5], 'blocked').result).toBe('FAIL');
    expect(judgeSession(results[4], 'pass')).toEqual({ result: 'FAIL', againstConfig: true, note: 'timeout at step 1' });
    const t = sessionTable(results, verdicts, expectOf).split('\n');
    expect(t[0]).toMatch(/^session +port +result +rst +sent +recv +time +daemon +note$/);
    const row = (port: number) => t.find((l) => l.includes(`tcp/${port}`))!;
    expect(row(7001)).toMatch(/ blocked +reset .* blocked:bittorrent +expected: the config blocks bittorrent \(reset\)$/);
    expect(row(7003)).toMatch(/ ok .* classified:gnutella$/);
    expect(row(7004)).toMatch(/ ok .* - *$/);
    expect(row(7006)).toMatch(/ FAIL .*completed though the config blocks bittorrent$/);
    expect(sessionSummary(results, 7, verdicts, expectOf)).toEqual({
      line: 'demo: 2/7 session(s) completed, 2 blocked as the config says, 3 against the config, 3 verdict line(s)',
      against: 3,
    });
  });

  it('explains the daemon column and its "-"', () => {
    expect(SESSION_LEGEND).toMatch(/^daemon: the verdict line the daemon printed for the session's port/);
    expect(SESSION_LEGEND).toMatch(/"-": no verdict line, the daemon did not classify the flow\. Bulk transfers are seeded random bytes/);
  });
});
