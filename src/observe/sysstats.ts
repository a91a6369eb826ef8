/**
 * Resource and connection figures for `p2pgw status`: the daemon's CPU share and memory (from
 * process.cpuUsage/memoryUsage, sampled each second), the system's memory (systeminformation) and
 * load (/proc/stat), and live connections and bytes per connmark from conntrack
 * (`conntrack -L`: its `mark=` and per-direction `bytes=` fields; byte counters need conntrack
 * accounting, which the connbytes rule turns on).
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import si from 'systeminformation';

export interface ResourceStats {
  daemon: { cpu_percent: number; rss_bytes: number; heap_used_bytes: number };
  system: { mem_total_bytes: number; mem_available_bytes: number; load_percent: number | null };
}

/** Samples the daemon's CPU share between calls of `sample()` (call about once a second). */
export class ResourceSampler {
  private last = { cpu: process.cpuUsage(), t: process.hrtime.bigint() };
  private cpuPercent = 0;
  private system: ResourceStats['system'] = { mem_total_bytes: 0, mem_available_bytes: 0, load_percent: null };
  private busy = false;
  private readonly load = new ProcStatLoad();

  /** Updates the CPU share and (asynchronously) the system figures. Never throws. */
  sample(): void {
    const cpu = process.cpuUsage();
    const t = process.hrtime.bigint();
    const us = cpu.user - this.last.cpu.user + cpu.system - this.last.cpu.system;
    const elapsedUs = Number(t - this.last.t) / 1000;
    this.cpuPercent = elapsedUs > 0 ? Math.round((1000 * us) / elapsedUs) / 10 : 0;
    this.last = { cpu, t };
    if (this.busy) return;
    this.busy = true;
    // Not si.currentLoad(): on Linux it runs `cat /proc/stat` with execSync, stalling the packet
    // loop (and every queued packet) for the fork each second.
    Promise.all([si.mem(), this.load.sample()])
      .then(([m, l]) => {
        this.system = { mem_total_bytes: m.total, mem_available_bytes: m.available, load_percent: l };
      })
      .catch(() => undefined)
      .finally(() => (this.busy = false));
  }

  stats(): ResourceStats {
    const mem = process.memoryUsage();
    return { daemon: { cpu_percent: this.cpuPercent, rss_bytes: mem.rss, heap_used_bytes: mem.heapUsed }, system: this.system };
  }
}

/** The system's busy share since the previous sample, %, from /proc/stat read asynchronously (null at first, or off Linux). */
class ProcStatLoad {
  private last: number[] | null = null;

  async sample(): Promise<number | null> {
    const text = await readFile('/proc/stat', 'utf8').catch(() => '');
    const m = /^cpu +(.*)$/m.exec(text);
    if (!m) return null;
    const v = m[1].trim().split(/\s+/).map(Number); // user nice system idle iowait irq softirq steal …
    const prev = this.last;
    this.last = v;
    if (!prev) return null;
    const total = v.slice(0, 8).reduce((a, x, i) => a + x - prev[i], 0);
    const idle = v[3] + v[4] - prev[3] - prev[4];
    return total > 0 ? Math.round((1000 * (total - idle)) / total) / 10 : null;
  }
}

/**
 * Live connections and bytes (both directions) per connmark, from `conntrack -L` output.
 * @param mask the connmark bits that are ours (`iptables.mark_mask`): other tools' bits are ignored
 */
export function parseConntrackMarks(text: string, mask = 0xffffffff): Map<number, { connections: number; bytes: number }> {
  const out = new Map<number, { connections: number; bytes: number }>();
  for (const line of text.split('\n')) {
    const m = /\bmark=(\d+)/.exec(line);
    if (!m) continue;
    const mark = (Number(m[1]) & mask) >>> 0;
    let bytes = 0;
    for (const b of line.matchAll(/\bbytes=(\d+)/g)) bytes += Number(b[1]);
    const e = out.get(mark) ?? { connections: 0, bytes: 0 };
    e.connections++;
    e.bytes += bytes;
    out.set(mark, e);
  }
  return out;
}

/** Runs `conntrack -L` (IPv4 and IPv6) and parses it (`mask`: see parseConntrackMarks); an empty map if conntrack is unavailable. */
export function readConntrackMarks(mask = 0xffffffff): Promise<Map<number, { connections: number; bytes: number }>> {
  const one = (family: string) =>
    new Promise<string>((resolve) =>
      execFile('conntrack', ['-L', '-f', family], { timeout: 3000, maxBuffer: 64 * 1024 * 1024 }, (_e, stdout) => resolve(stdout ?? '')),
    );
  return Promise.all([one('ipv4'), one('ipv6')]).then(([a, b]) => parseConntrackMarks(`${a}\n${b}`, mask));
}
