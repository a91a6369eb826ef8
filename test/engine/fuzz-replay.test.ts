/**
 * Issue 14, "Tests that must exist and pass in CI": 200,000 fuzzed packets (truncated and lying
 * headers, IPv6 extension-header chains, bit-flipped real packets; test/helpers/fuzz-packets.ts,
 * fixed seed) replayed by the CLI (dist/cli/main.js) with content inspection on. The replay must exit
 * 0, judge every packet, count the malformed ones under their decode events, and never fail inside
 * the pipeline (`pipeline_error`).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { CAPTURES, ROOT } from '../helpers/paths.js';
import { realPackets, writeFuzzPcap } from '../helpers/fuzz-packets.js';

const CLI = path.join(ROOT, 'dist', 'cli', 'main.js');
const COUNT = 200_000;
const SEED = 0x5eed14;
const GNU_TIME = '/usr/bin/time';
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'p2pgw-fuzz-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Inspection of every application that has a stream inspector, keyword lists and the scanner on. */
const CONFIG = `apps:
  http: {action: inspect}
  gnutella: {action: inspect}
  fasttrack: {action: inspect}
  msn: {action: inspect}
  msnftp: {action: inspect}
keywords:
  lists:
    banned: [secret plan, keygen]
scan: {enabled: true, eicar: true}
`;

/** Runs `p2pgw replay`, keeping only the `replay done` line of its stderr (verdict lines are many). */
function replay(args: string[]): Promise<{ code: number | null; done: Record<string, unknown> | null; errors: string[]; ms: number; maxRssKiB: number }> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    // GNU time, when installed, reports the peak RSS (for the log line only).
    const argv = [process.execPath, CLI, 'replay', ...args];
    const child = fs.existsSync(GNU_TIME)
      ? spawn(GNU_TIME, ['-f', 'maxrss=%M', ...argv], { stdio: ['ignore', 'ignore', 'pipe'] })
      : spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
    let done: Record<string, unknown> | null = null;
    let maxRssKiB = 0;
    const errors: string[] = [];
    readline.createInterface({ input: child.stderr }).on('line', (line) => {
      const rss = /^maxrss=(\d+)$/.exec(line);
      if (rss) maxRssKiB = Number(rss[1]);
      else if (line.includes('"msg":"replay done"')) done = JSON.parse(line);
      else if (!line.startsWith('{') || /"level":(50|60)/.test(line)) errors.push(line);
    });
    child.on('close', (code) => resolve({ code, done, errors, ms: Date.now() - t0, maxRssKiB }));
  });
}

describe('fuzz: 200,000 hostile packets through replay', () => {
  it('exits 0, judges every packet and counts the malformed ones', async () => {
    const captures = fs.readdirSync(CAPTURES).filter((f) => /\.pcap(ng)?$/.test(f)).map((f) => path.join(CAPTURES, f));
    const real = realPackets(captures);
    expect(real.length).toBeGreaterThan(1000);
    const pcap = path.join(tmp, 'fuzz.pcap');
    const t0 = Date.now();
    const made = writeFuzzPcap(pcap, COUNT, SEED, real);
    const genMs = Date.now() - t0;
    fs.writeFileSync(path.join(tmp, 'p2pgw.yaml'), CONFIG);

    const r = await replay([pcap, '--config', path.join(tmp, 'p2pgw.yaml')]);
    console.log(`fuzz: ${COUNT} packets ${JSON.stringify(made)}; generated in ${genMs} ms, replayed in ${r.ms} ms, peak RSS ${r.maxRssKiB ? `${Math.round(r.maxRssKiB / 1024)} MiB` : 'not measured'}`);
    expect(r.errors, 'error lines on stderr').toEqual([]);
    expect(r.code).toBe(0);
    expect(r.done).not.toBeNull();
    const c = (r.done as { counters: Record<string, number> }).counters;
    console.log(`fuzz counters: ${JSON.stringify(c)}`);

    // Every record is judged by the pipeline, or counted as no IP packet at all (an empty record,
    // a version nibble other than 4 or 6: frame_not_ip).
    expect((c.packets ?? 0) + (c.frame_not_ip ?? 0)).toBe(COUNT);
    expect(c.frame_not_ip ?? 0).toBeGreaterThan(0);
    // Nothing failed inside the pipeline, a dissector or an endpoint learner (each would be a bug).
    expect(Object.keys(c).filter((k) => k === 'pipeline_error' || k.startsWith('dissector_error_') || k === 'endpoint_learner_error')).toEqual([]);
    // Each kind of damage is counted under its own decode event.
    for (const ev of [
      'ipv4_bad_ihl', 'ipv4_truncated', 'ipv6_truncated', 'ipv6_ext_truncated',
      'ipv6_too_many_ext', 'ip_fragment', 'tcp_truncated', 'tcp_bad_offset', 'udp_truncated', 'udp_bad_length', 'not_tcp_udp',
    ]) {
      expect(c[ev] ?? 0, ev).toBeGreaterThan(0);
    }
    const malformed = ['ipv4_bad_ihl', 'ipv4_truncated', 'ipv6_truncated', 'ipv6_ext_truncated', 'ipv6_too_many_ext',
      'tcp_truncated', 'tcp_bad_offset', 'udp_truncated', 'udp_bad_length'].reduce((n, ev) => n + (c[ev] ?? 0), 0);
    expect(malformed).toBeGreaterThan(COUNT / 10);
    // Unjudgeable packets are accepted and counted (fail open), never dropped silently.
    expect(c.accepted_unjudged ?? 0).toBeGreaterThanOrEqual(malformed);
    // The fuzzed flows reached the classifier.
    expect(c.flow_created ?? 0).toBeGreaterThan(1000);
  }, 180_000);
});
