/**
 * Real flow collectors for the IPFIX round-trip tests: nfcapd (nfdump) and nfacctd (pmacct),
 * started on 127.0.0.1 on a free port, and their readers' output parsed into per-5-tuple sums that
 * can be compared with our JSON flow records. Nothing waits a fixed time: every wait polls with a
 * deadline (test/helpers/wait.ts).
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { addressOctets } from '../../src/observe/ipfix/template.js';
import { waitUntil } from '../helpers/wait.js';

/** Whether `cmd` runs (`-h`/`-V` style probe). */
export const has = (cmd: string, arg = '-V'): boolean => spawnSync(cmd, [arg], { stdio: 'ignore' }).error === undefined;

/**
 * A started collector: its process (leader of its own process group: nfacctd forks its plugins),
 * the text it printed, and a stop that ends the group and waits for the leader's exit.
 */
export interface Collector {
  proc: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

/**
 * Starts `cmd args` and waits (≤ 10 s) until its output matches `ready`.
 * @throws when it exits or does not get ready in time (its output in the message)
 */
export async function startCollector(cmd: string, args: string[], ready: RegExp): Promise<Collector> {
  const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  let exited = false;
  const done = new Promise<void>((r) => proc.on('exit', () => ((exited = true), r())));
  await waitUntil(() => {
    if (exited) throw new Error(`${cmd} exited: ${out}`);
    return ready.test(out);
  }, 10_000, `${cmd} ready (${ready}); output so far: ${out}`);
  return {
    proc,
    output: () => out,
    stop: async () => {
      const group = (sig: NodeJS.Signals): void => {
        try {
          process.kill(-proc.pid!, sig);
        } catch {
          /* already gone */
        }
      };
      if (exited) return group('SIGKILL'); // plugins left behind, if any
      group('SIGTERM');
      // nfacctd 1.7.7's core does not always exit on SIGTERM: after 3 s the group is killed.
      const gone = await waitUntil(() => exited, 3_000, `${cmd} to exit`).then(() => true, () => false);
      group('SIGKILL');
      if (!gone) await waitUntil(() => exited, 10_000, `${cmd} to exit after SIGKILL`);
      await done;
    },
  };
}

/** Canonical key of an address (any text form, e.g. `::ffff:1.2.3.4` or `::ffff:102:304`). */
const addrKey = (a: string): string => {
  const b = addressOctets(a.trim());
  return b ? Buffer.from(b).toString('hex') : a.trim();
};

/** A 5-tuple key: protocol number, source address:port, destination address:port. */
export const tupleKey = (proto: number, src: string, sport: number, dst: string, dport: number): string =>
  `${proto} ${addrKey(src)}:${sport} ${addrKey(dst)}:${dport}`;

/** Sums of one 5-tuple: packets and octets per direction, and the application of its latest record. */
export interface TupleSums {
  pktsOut: number;
  bytesOut: number;
  pktsIn: number;
  bytesIn: number;
  app: string;
  lastEnd: number;
}

/** Adds a record to the sums by key (`app`: the one with the latest end wins). */
export function addTo(m: Map<string, TupleSums>, key: string, r: Omit<TupleSums, 'app' | 'lastEnd'>, app: string, end: number): void {
  const s = m.get(key) ?? { pktsOut: 0, bytesOut: 0, pktsIn: 0, bytesIn: 0, app, lastEnd: -Infinity };
  s.pktsOut += r.pktsOut;
  s.bytesOut += r.bytesOut;
  s.pktsIn += r.pktsIn;
  s.bytesIn += r.bytesIn;
  if (end >= s.lastEnd) {
    s.lastEnd = end;
    s.app = app;
  }
  m.set(key, s);
}

/** nfcapd's finished files in `dir` (`nfcapd.YYYYMMDDhhmm[ss]`; not the `.current` one being written). */
export const nfcapdFiles = (dir: string): string[] =>
  fs.readdirSync(dir).filter((f) => /^nfcapd\.\d{12,14}$/.test(f)).sort().map((f) => path.join(dir, f));

/**
 * Every flow record of nfcapd's finished files, read with `nfdump -r FILE -N -6 -q -o fmt:…` (TZ=UTC):
 * plain numbers, full IPv6 addresses, and the application name nfdump resolves from the options records
 * (`%nbnam`: `name/description`).
 */
export function nfdumpRecords(dir: string): { key: string; sums: Omit<TupleSums, 'app' | 'lastEnd'>; app: string; end: number }[] {
  const fmt = 'fmt:%pr|%sa|%sp|%da|%dp|%ipkt|%ibyt|%opkt|%obyt|%te|%nbnam';
  const rows: { key: string; sums: Omit<TupleSums, 'app' | 'lastEnd'>; app: string; end: number }[] = [];
  for (const file of nfcapdFiles(dir)) {
    const out = execFileSync('nfdump', ['-r', file, '-N', '-6', '-q', '-o', fmt], { encoding: 'utf8', env: { ...process.env, TZ: 'UTC' } });
    for (const line of out.split('\n')) {
      const c = line.split('|').map((x) => x.trim());
      if (c.length < 11) continue;
      rows.push({
        key: tupleKey(Number(c[0]), c[1], Number(c[2]), c[3], Number(c[4])),
        sums: { pktsOut: Number(c[5]), bytesOut: Number(c[6]), pktsIn: Number(c[7]), bytesIn: Number(c[8]) },
        app: c[10].split('/')[0],
        end: Date.parse(`${c[9].replace(' ', 'T')}Z`),
      });
    }
  }
  return rows;
}

/**
 * Datagrams the kernel dropped at full receive buffers of the UDP sockets bound to local `port`
 * (`/proc/net/udp` and `udp6`, last column), for the failure messages of the round-trip tests.
 */
export function udpDrops(port: number): number {
  let drops = 0;
  for (const f of ['/proc/net/udp', '/proc/net/udp6']) {
    if (!fs.existsSync(f)) continue;
    for (const line of fs.readFileSync(f, 'utf8').split('\n').slice(1)) {
      const c = line.trim().split(/\s+/);
      if (c.length > 12 && parseInt(c[1].split(':')[1], 16) === port) drops += Number(c[c.length - 1]);
    }
  }
  return drops;
}

/** Socket receive buffer asked of the collectors (the kernel caps it at net.core.rmem_max), bytes. */
const RCVBUF = 4 * 1024 * 1024;

/** nfcapd writing to `dir`, listening on 127.0.0.1:`port`, rotating its file every 2 s. */
export const nfcapdArgs = (dir: string, port: number): string[] => ['-w', dir, '-p', String(port), '-b', '127.0.0.1', '-t', '2', '-B', String(RCVBUF)];

/** The config of nfacctd with the print plugin writing JSON (appended, refreshed every second) to `out`. */
export function nfacctdConfig(port: number, out: string): string {
  return [
    'daemonize: false',
    'nfacctd_ip: 127.0.0.1',
    `nfacctd_port: ${port}`,
    'plugins: print',
    'aggregate: src_host, dst_host, src_port, dst_port, proto',
    'print_output: json',
    `print_output_file: ${out}`,
    'print_output_file_append: true',
    'print_refresh_time: 1',
    `nfacctd_pipe_size: ${RCVBUF}`,
    '',
  ].join('\n');
}

/** The records of nfacctd's JSON output file (one object per line; absent file = none). */
export function pmacctRecords(file: string): { key: string; packets: number; bytes: number }[] {
  if (!fs.existsSync(file)) return [];
  const protoNum: Record<string, number> = { tcp: 6, udp: 17 };
  return fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => {
    const o = JSON.parse(l) as { ip_src: string; ip_dst: string; port_src: number; port_dst: number; ip_proto: string; packets: number; bytes: number };
    return { key: tupleKey(protoNum[o.ip_proto] ?? Number(o.ip_proto), o.ip_src, o.port_src, o.ip_dst, o.port_dst), packets: o.packets, bytes: o.bytes };
  });
}
