/**
 * Measurements for the gateway benchmark: system CPU split (/proc/stat), per-process CPU and
 * memory (/proc/<pid>/stat, /proc/<pid>/status), NFQUEUE kernel counters (in the gateway
 * namespace), clients' received bytes (interface counters in the client namespaces), the daemon's
 * status socket, and CPU profiles (.cpuprofile → top frames by self time).
 */
import fs from 'node:fs';
import path from 'node:path';
import { readStatus as readStatusDoc } from '../../dist/observe/status.js';

const CLK_TCK = 100; // USER_HZ on Linux (sysconf(_SC_CLK_TCK)); /proc times are in these ticks.

/** System-wide CPU ticks from the first line of /proc/stat. */
export function readCpu() {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, idle, iowait, irq, softirq, steal = 0] = f;
  return { user: user + nice, system, idle: idle + iowait, irq, softirq, steal, total: f.slice(0, 8).reduce((a, b) => a + (b || 0), 0) };
}

/** Per-cent of all cores' time between two readCpu() samples. */
export function cpuSplit(a, b) {
  const tot = b.total - a.total || 1;
  const pct = (k) => Math.round((1000 * (b[k] - a[k])) / tot) / 10;
  return { user: pct('user'), system: pct('system'), softirq: pct('softirq'), irq: pct('irq'), steal: pct('steal'), idle: pct('idle') };
}

/** pid and all its descendants (via /proc/<pid>/task/<tid>/children). */
export function procTree(pid) {
  const out = [];
  const walk = (p) => {
    out.push(p);
    let tasks = [];
    try {
      tasks = fs.readdirSync(`/proc/${p}/task`);
    } catch {
      return;
    }
    for (const t of tasks) {
      let kids = '';
      try {
        kids = fs.readFileSync(`/proc/${p}/task/${t}/children`, 'utf8');
      } catch {
        /* gone */
      }
      for (const k of kids.split(/\s+/).filter(Boolean)) walk(Number(k));
    }
  };
  walk(pid);
  return out;
}

/** utime + stime of the pids (all threads), seconds; pids that are gone count 0. */
export function procCpuSeconds(pids) {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      ticks += Number(f[11]) + Number(f[12]); // fields 14 and 15 (utime, stime)
    } catch {
      /* gone */
    }
  }
  return ticks / CLK_TCK;
}

/** user and system seconds of the pids separately. */
export function procCpuSplit(pids) {
  let u = 0;
  let s = 0;
  for (const pid of pids) {
    try {
      const t = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = t.slice(t.lastIndexOf(')') + 2).split(' ');
      u += Number(f[11]);
      s += Number(f[12]);
    } catch {
      /* gone */
    }
  }
  return { user: u / CLK_TCK, system: s / CLK_TCK };
}

/** VmRSS and VmHWM (bytes), summed over the pids. */
export function procMem(pids) {
  let rss = 0;
  let hwm = 0;
  for (const pid of pids) {
    try {
      const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
      rss += Number(/VmRSS:\s+(\d+)/.exec(s)?.[1] ?? 0) * 1024;
      hwm += Number(/VmHWM:\s+(\d+)/.exec(s)?.[1] ?? 0) * 1024;
    } catch {
      /* gone */
    }
  }
  return { rss, hwm };
}

/** /proc/net/netfilter/nfnetlink_queue of the gateway namespace, summed over bound queues. */
export async function readNfq(lab) {
  const r = await lab.exec(lab.ns.gw, ['cat', '/proc/net/netfilter/nfnetlink_queue']);
  const q = { queues: 0, queue_total: 0, queue_dropped: 0, user_dropped: 0, id_sequence: 0 };
  for (const line of r.stdout.split('\n')) {
    const f = line.trim().split(/\s+/).map(Number);
    if (f.length < 8 || f.some((x) => !Number.isFinite(x))) continue;
    q.queues++;
    q.queue_total += f[2];
    q.queue_dropped += f[5];
    q.user_dropped += f[6];
    q.id_sequence += f[7];
  }
  return q;
}

/** Bytes received so far on the clients' eth0 (L2 bytes, from their own namespaces). */
export async function clientRxBytes(lab) {
  const all = await Promise.all(lab.ns.clients.map((n) => lab.exec(n, ['cat', '/sys/class/net/eth0/statistics/rx_bytes'])));
  return all.reduce((a, r) => a + Number(r.stdout.trim() || 0), 0);
}

/**
 * The daemon's status document (src/observe/status.ts readStatus, as `p2pgw status --json --socket S`
 * without starting a node process each time); null when no daemon answers within `timeoutMs`.
 */
export function readStatus(socketPath, timeoutMs = 2000) {
  return readStatusDoc(socketPath, timeoutMs).catch(() => null);
}

/**
 * Polls the status socket every intervalMs while running; tracks the peak of `held` (and keeps the
 * daemon's own `held_peak` when it reports one) and the last document.
 */
export function pollStatus(socketPath, intervalMs) {
  const st = { polls: 0, ok: 0, held_max: 0, held_peak: null, last: null, busyMs: 0 };
  let stopped = false;
  let timer = null;
  const once = async () => {
    const t = performance.now();
    const doc = await readStatus(socketPath, Math.max(1000, intervalMs * 5));
    st.busyMs = Math.max(st.busyMs, performance.now() - t);
    st.polls++;
    if (doc && !doc.error) {
      st.ok++;
      st.last = doc;
      if (typeof doc.held === 'number') st.held_max = Math.max(st.held_max, doc.held);
      if (typeof doc.held_peak === 'number') st.held_peak = Math.max(st.held_peak ?? 0, doc.held_peak);
    }
    if (!stopped) timer = setTimeout(once, intervalMs);
  };
  timer = setTimeout(once, 0);
  return {
    state: st,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      return st;
    },
  };
}

/**
 * Waits until the pids use less than `maxPct` % of one core over `sliceMs`, or `capMs` passes
 * (e.g. scan workers still compiling their matchers after `ready`). Returns ms waited, or null on cap.
 */
export async function waitIdle(pids, { maxPct = 5, sliceMs = 300, capMs = 60_000 } = {}) {
  const t0 = Date.now();
  let prev = procCpuSeconds(pids);
  for (;;) {
    await new Promise((r) => setTimeout(r, sliceMs));
    const cur = procCpuSeconds(pids);
    if (((cur - prev) * 1000 * 100) / sliceMs < maxPct) return Date.now() - t0;
    if (Date.now() - t0 > capMs) return null;
    prev = cur;
  }
}

/** Busy share (100 − idle) of all cores over ms, with nothing of ours running: background load. */
export async function backgroundLoad(ms = 700) {
  const a = readCpu();
  await new Promise((r) => setTimeout(r, ms));
  const s = cpuSplit(a, readCpu());
  return Math.round((100 - s.idle) * 10) / 10;
}

/**
 * Top frames by self time of the .cpuprofile files in dir (V8 CPU profile: nodes with callFrame
 * and hitCount, samples/timeDeltas). Returns [{frame, self_ms, self_pct}] and the total.
 */
export function topFrames(dir, n = 15) {
  const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')) : [];
  const self = new Map();
  let total = 0;
  const perFile = [];
  for (const f of files) {
    let fileMs = 0;
    const prof = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'));
    const byId = new Map(prof.nodes.map((nd) => [nd.id, nd]));
    const ms = new Map();
    // Sample i lasted timeDeltas[i+1] (V8 records the delta before each sample).
    for (let i = 0; i < prof.samples.length; i++) {
      const dt = (prof.timeDeltas[i + 1] ?? 0) / 1000;
      ms.set(prof.samples[i], (ms.get(prof.samples[i]) ?? 0) + dt);
    }
    for (const [id, t] of ms) {
      const cf = byId.get(id)?.callFrame;
      if (!cf) continue;
      const name = cf.functionName || '(anonymous)';
      const where = cf.url ? `${cf.url.replace(/^file:\/\//, '').replace(/^.*?\/(dist|node_modules|bench)\//, '$1/')}:${cf.lineNumber + 1}` : '';
      const key = where ? `${name} ${where}` : name;
      self.set(key, (self.get(key) ?? 0) + t);
      total += t;
      fileMs += t;
    }
    perFile.push({ file: f, total_ms: Math.round(fileMs) });
  }
  // `(idle)`: the thread waited in the event loop (epoll), which on this shared machine includes
  // waiting to be scheduled again; percentages are of the busy (non-idle) samples.
  const idle = self.get('(idle)') ?? 0;
  const busy = total - idle;
  const rows = [...self.entries()].filter(([k]) => k !== '(idle)').sort((a, b) => b[1] - a[1]).slice(0, n);
  return {
    files: files.length, per_file: perFile, total_ms: Math.round(total), idle_ms: Math.round(idle), busy_ms: Math.round(busy),
    top: rows.map(([frame, t]) => ({ frame, self_ms: Math.round(t), self_pct: busy ? Math.round((1000 * t) / busy) / 10 : 0 })),
  };
}
