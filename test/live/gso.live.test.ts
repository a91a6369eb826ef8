/**
 * GSO live (issue 13): the daemon (`dist/cli/main.js run`, queue binding `batch`, `queue.gso` on,
 * the defaults) in a client–gateway–server lab whose veths keep TSO/GSO on, so the gateway queues
 * GSO super-packets (up to 64 KiB, checksums left partial) to user space:
 *  - a 24 MiB HTTP download through the inspected path (keywords on) arrives byte-identical, and
 *    super-packets were judged (larger than the MTU, checksum verification skipped and counted);
 *  - EICAR inside a super-packet is found: the connection is reset (the RST that replaced the
 *    super-packet is valid on the wire: the receiver accepts it) and the file never arrives whole.
 * Skipped, with the reason printed, only when not root or without `ip netns`.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Lab } from '../../src/tools/lab/netns.js';
import { ascii, prngBytes } from '../../src/apps/bytes.js';
import { EICAR } from '../../src/content/virusdb.js';
import { liveEnv } from './fixtures/netns.js';
import { exchange, httpFile, MAIN, startDaemon, stopDaemon, useLabDaemon, type Daemon } from './fixtures/daemon.js';

const env = liveEnv('gso');
if (!env.ok) console.warn(`skipping live GSO tests: ${env.reason}`);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'p2pgw-gso-'));
const MiB = 1024 * 1024;

/** Starts the daemon with config `yaml` (written to `<tmp>/<name>.yaml`) and a status socket. */
const start = (lab: Lab, name: string, yaml: string): Promise<Daemon> => {
  const config = path.join(tmp, `${name}.yaml`);
  fs.writeFileSync(config, yaml);
  return startDaemon(lab, ['--config', config, '--status-socket', path.join(tmp, `${name}.sock`)]);
};

/** Stops the daemon; returns its `stopped` line (counters, nfq stats). */
async function stop(d: Daemon): Promise<{ counters: Record<string, number>; nfq: Record<string, number> }> {
  await stopDaemon(d);
  const s = d.lines.find((l) => l.msg === 'stopped');
  expect(s, d.stderr.slice(-5).join('\n')).toBeDefined();
  return s as { counters: Record<string, number>; nfq: Record<string, number> };
}

describe.skipIf(!env.ok || !fs.existsSync(MAIN))('GSO through the inspected path (live, NFQUEUE)', () => {
  const ctx = useLabDaemon({ name: `pgg${process.pid % 10000}`, tmp });

  it('a bulk download through the inspected path arrives byte-identical with GSO on', async () => {
    const { lab } = ctx;
    const daemon = (ctx.daemon = await start(lab, 'bulk', 'apps:\n  http: {action: inspect}\nkeywords:\n  lists:\n    banned: [secret plan, keygen]\nscan: {enabled: false}\n'));
    const body = prngBytes(21, 24 * MiB, 'gso-bulk');
    const [r] = (await exchange(lab, tmp, 'bulk', [httpFile(46100, 'bulk.bin', body)], 120_000)).client;
    expect(r, JSON.stringify(r)).toMatchObject({ ok: true, reset: false }); // ok: every byte compared
    const s = await stop(daemon);
    expect(s.nfq.gso, 'GSO super-packets reached the daemon').toBeGreaterThan(0);
    expect(s.nfq.maxPacket).toBeGreaterThan(1500);
    expect(s.counters.checksum_not_ready).toBeGreaterThan(0);
    expect(s.counters.inspected_flows).toBe(1);
    expect(s.counters.inspect_gaps ?? 0).toBe(0);
    expect(s.counters.accepted_unjudged ?? 0).toBe(0);
    expect(s.nfq.verdictErrors).toBe(0);
    expect(s.nfq.received).toBe(s.nfq.accept + s.nfq.drop + s.nfq.repeat);
  }, 180_000);

  it('EICAR inside a GSO super-packet is found and the connection reset', async () => {
    const { lab } = ctx;
    const daemon = (ctx.daemon = await start(lab, 'eicar', 'apps:\n  http: {action: inspect}\n'));
    const body = prngBytes(22, 4 * MiB, 'gso-eicar');
    body.set(ascii(EICAR), MiB + 20_000); // in the middle of a scan buffer, far from any segment edge
    const [r] = (await exchange(lab, tmp, 'eicar', [httpFile(46200, 'eicar.bin', body)], 60_000)).client;
    const infected = daemon.lines.find((l) => l.msg === 'infected');
    expect(infected, JSON.stringify(daemon.lines.slice(-6))).toMatchObject({ virus: 'Eicar-Test-Signature', verdict: 'reset', app: 'http' });
    expect(r.bytesReceived).toBeLessThan(body.length);
    expect(r, JSON.stringify(r)).toMatchObject({ ok: false, reset: true }); // the receiver took the RST
    const s = await stop(daemon);
    expect(s.nfq.gso).toBeGreaterThan(0);
    expect(s.nfq.rewritten).toBeGreaterThanOrEqual(1);
    expect(s.nfq.rewrittenMaxLen, 'the RST replaced a super-packet').toBeGreaterThan(1500);
    expect(s.nfq.gsoPadded).toBeGreaterThanOrEqual(1); // kept longer than one segment (src/capture/gso-pad.ts)
  }, 90_000);
});
