/**
 * The watchdog (issue 14, item 7): a daemon whose main thread stalls (SIGSTOP, a long synchronous
 * reload, a hang) no longer reads its queue, and every new connection waits in the kernel queue
 * (fail-open only helps once the queue is full; --queue-bypass only when no process is bound). So
 * a separate process, a small POSIX shell loop (some hundred kilobytes, where a second Node.js
 * would cost tens of megabytes), watches the daemon's heartbeat: the main thread writes a counter
 * into a file every `poll` ms; when the counter has not changed for `watchdog.timeout_ms`, the
 * shell inserts the queue bypass (src/enforce/bypass.ts: new and learning-window connections skip
 * the queue; inspected ones keep waiting, their content must be judged) and deletes it again as
 * soon as the counter moves. It reports each step on its stdout; the daemon logs one line each way
 * (`watchdog: … lifted`, `watchdog: … restored`) once its main thread runs again, and counts
 * `watchdog_lifted`, `watchdog_restored`, `watchdog_error`. The shell exits, removing its directory,
 * when the daemon's pid is gone (a daemon killed with SIGKILL); a watchdog that dies is logged,
 * counted (`watchdog_exited`) and respawned.
 *
 * The shell needs only builtins plus `sleep` (fractional seconds: GNU coreutils, busybox with
 * FEATURE_FLOAT_SLEEP as on OpenWrt; else it checks once a second), `cat`, `date` and `tr`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import type { Logger } from 'pino';
import type { Classifier } from '../apps/classifier.js';
import type { EffectiveConfig } from '../config/load.js';
import type { Counters } from '../core/counters.js';
import { detectBackend, run, type Backend } from '../enforce/backend.js';
import { bypassScripts, bypassSpecs } from '../enforce/bypass.js';
import { learningWindow } from './enforcement.js';

/** The shell loop; $1 = its directory (beat, params, lift, restore), $2 = the daemon's pid. */
export const WATCHDOG_SCRIPT = `
dir=$1 pid=$2 last='' misses=0 lifted=0 undo=''
while kill -0 "$pid" 2>/dev/null; do
  poll=1 limit=2
  read -r poll limit < "$dir/params"
  cur=''
  read -r cur < "$dir/beat"
  if [ "$cur" != "$last" ]; then
    last=$cur misses=0
    if [ "$lifted" = 1 ]; then
      out=$(printf '%s\\n' "$undo" | sh 2>&1)
      rc=$? lifted=0
      echo "restored $rc $(printf '%s' "$out" | tr '\\n' ' ')"
    fi
  else
    misses=$((misses + 1))
    if [ "$lifted" = 0 ] && [ "$misses" -ge "$limit" ]; then
      undo=$(cat "$dir/restore")
      out=$(sh "$dir/lift" 2>&1)
      rc=$? lifted=1
      echo "lifted $rc $(date +%s) $(printf '%s' "$out" | tr '\\n' ' ')"
    fi
  fi
  sleep "$poll" 2>/dev/null || sleep 1
done
rm -rf "$dir"
`;

/** Heartbeat interval and the number of unchanged checks that lift the rules, from the config. */
export function watchdogTiming(w: EffectiveConfig['watchdog']): { pollMs: number; limit: number } {
  const pollMs = Math.max(10, Math.min(w.pollMs, Math.floor(w.timeoutMs / 6)));
  return { pollMs, limit: Math.max(2, Math.ceil(w.timeoutMs / pollMs)) };
}

/** The watchdog of one live process: configure() starts, updates or stops it; stop() at the end. */
export class Watchdog {
  private dir: string | null = null;
  private beatFd: number | null = null;
  private beats = 0;
  private timer: NodeJS.Timeout | null = null;
  private child: ChildProcess | null = null;
  private stopping = false;
  private lifted = false;
  private lastBeat = 0;
  /** Longest gap between two heartbeats since the last restore, ms. */
  private maxGap = 0;
  private timeoutMs = 0;
  private pollMs = 0;
  private backend: Backend | null;

  /**
   * @param backend the iptables tools (null: detected from the config when first needed, in a queue worker)
   * @param pid the process watched (default this one)
   */
  constructor(backend: Backend | null, private readonly logger: Logger, private readonly counters: Counters, private readonly pid = process.pid) {
    this.backend = backend;
  }

  /** True while the watchdog reports the bypass as inserted. */
  get isLifted(): boolean {
    return this.lifted;
  }

  /**
   * Applies `cfg.watchdog` and the bypass rules for `cfg` and `classifier` (at start and on reload):
   * starts the watchdog, rewrites its scripts and timing, or stops it when `timeout_ms` is 0. A
   * watchdog that cannot be set up is logged (`watchdog unavailable`) and the daemon runs without.
   */
  async configure(cfg: EffectiveConfig, classifier: Classifier): Promise<void> {
    if (!cfg.watchdog.timeoutMs) return this.stop();
    try {
      this.backend ??= await detectBackend(cfg.iptables.backend);
      const specs = bypassSpecs(learningWindow(cfg, classifier)?.marks.map((m) => m.mark) ?? [], cfg.iptables.markMask);
      const scripts = bypassScripts(this.backend, cfg.iptables.chain, specs);
      const { pollMs, limit } = watchdogTiming(cfg.watchdog);
      this.stopping = false;
      if (!this.dir) {
        this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'p2pgw-watchdog-'));
        this.beatFd = fs.openSync(path.join(this.dir, 'beat'), 'w', 0o600);
        this.beat();
      }
      this.put('lift', scripts.lift);
      this.put('restore', scripts.restore);
      this.put('params', `${pollMs / 1000} ${limit}\n`);
      this.timeoutMs = cfg.watchdog.timeoutMs;
      if (pollMs !== this.pollMs || !this.timer) {
        if (this.timer) clearInterval(this.timer);
        this.timer = setInterval(() => this.beat(), pollMs);
        this.timer.unref();
        this.pollMs = pollMs;
      }
      if (!this.child) this.spawn();
    } catch (err) {
      this.counters.inc('watchdog_error');
      this.logger.error({ err: (err as Error).message }, 'watchdog unavailable: a stalled daemon will hold up new connections');
      await this.stop();
    }
  }

  /** Stops the heartbeat and the shell (restoring the rules if it had lifted them) and removes its files. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.pollMs = 0;
    const child = this.child;
    this.child = null;
    if (child && child.exitCode === null && child.signalCode === null) {
      const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 1000);
      await gone;
      clearTimeout(t);
    }
    if (this.lifted) await this.restoreNow();
    if (this.beatFd !== null) fs.closeSync(this.beatFd);
    this.beatFd = null;
    if (this.dir) fs.rmSync(this.dir, { recursive: true, force: true });
    this.dir = null;
  }

  private put(name: string, text: string): void {
    const f = path.join(this.dir!, name);
    fs.writeFileSync(`${f}.new`, text, { mode: 0o600 });
    fs.renameSync(`${f}.new`, f);
  }

  private beat(): void {
    const now = performance.now();
    if (this.lastBeat) this.maxGap = Math.max(this.maxGap, now - this.lastBeat);
    this.lastBeat = now;
    if (this.beatFd !== null) fs.writeSync(this.beatFd, `${++this.beats}\n`, 0);
  }

  private spawn(): void {
    const child = spawn('/bin/sh', ['-c', WATCHDOG_SCRIPT, 'p2pgw-watchdog', this.dir!, String(this.pid)], {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    readline.createInterface({ input: child.stdout! }).on('line', (l) => this.report(l));
    readline.createInterface({ input: child.stderr! }).on('line', (l) => this.logger.warn({ stderr: l }, 'watchdog: shell error'));
    child.on('error', (err) => this.logger.error({ err: err.message }, 'watchdog: cannot start /bin/sh'));
    child.on('exit', (code, signal) => {
      if (this.child !== child || this.stopping) return;
      this.child = null;
      this.counters.inc('watchdog_exited');
      this.logger.error({ code, signal }, 'watchdog exited; respawning it in 1 s');
      if (this.lifted) void this.restoreNow();
      setTimeout(() => {
        if (!this.stopping && !this.child && this.dir) this.spawn();
      }, 1000).unref();
    });
  }

  /** One line of the shell: `lifted <rc> <epoch s> <errors>` or `restored <rc> <errors>`. */
  private report(line: string): void {
    const [what, rcText, ...rest] = line.trim().split(' ');
    const rc = Number(rcText);
    const err = (what === 'lifted' ? rest.slice(1) : rest).join(' ').trim();
    if (rc !== 0) this.counters.inc('watchdog_error');
    if (what === 'lifted') {
      this.lifted = true;
      this.counters.inc('watchdog_lifted');
      const at = new Date(Number(rest[0]) * 1000).toISOString();
      this.logger.warn(
        { timeout_ms: this.timeoutMs, lifted_at: at, ...(rc ? { rc, err } : {}) },
        'watchdog: no heartbeat from the main thread; queue rules lifted (new connections bypass the queue)',
      );
    } else if (what === 'restored') {
      this.lifted = false;
      this.counters.inc('watchdog_restored');
      this.logger.info({ stalled_ms: Math.round(this.maxGap), ...(rc ? { rc, err } : {}) }, 'watchdog: heartbeats again; queue rules restored');
      this.maxGap = 0;
    }
  }

  /** Runs the restore script from the daemon (the shell is gone while its bypass is in place). */
  private async restoreNow(): Promise<void> {
    const f = this.dir && path.join(this.dir, 'restore');
    if (!f || !fs.existsSync(f)) return;
    const r = await run(['/bin/sh', f]);
    this.lifted = false;
    if (r.code !== 0) this.counters.inc('watchdog_error');
    this.logger.info({ rc: r.code, ...(r.code ? { err: r.stderr.trim() } : {}) }, 'watchdog: queue rules restored');
  }
}
