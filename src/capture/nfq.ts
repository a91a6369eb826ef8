/**
 * NFQUEUE capture: a thin wrapper over the npm `nfqueue` binding as patched by
 * src/capture/nfq-patch (setQueueMaxLen, setFailOpen, close). The binding polls its netlink socket
 * on the default libuv loop and calls back synchronously for every queued packet; a verdict may be
 * given inside the callback or later.
 *
 * The binding is loaded lazily (createRequire) so replay mode works where it is not installed.
 *
 * Kernel behaviour worth knowing:
 * - `repeat` (NF_REPEAT) re-runs the whole hook (our mangle chain from its top) with the new mark;
 *   with mark 0 the packet would be queued again forever, so `repeat` without a mark is turned into
 *   `accept` and counted (`stats.repeatWithoutMark`).
 * - Unbinding (close) makes the kernel drop every packet still waiting for a verdict; close() first
 *   accepts the packets this process has received but not judged, but a packet queued in the last
 *   instant (still in the socket, or arriving during close) is dropped. Lossless shutdown: remove the
 *   NFQUEUE rules, `await drain()`, then close().
 * - Packets dropped because the netlink socket overflowed are invisible here (the binding sets
 *   NETLINK_NO_ENOBUFS): read them from /proc (src/capture/nfqstats.ts).
 */
import { createRequire } from 'node:module';
import { P2pgwError } from '../core/errors.js';
import { readQueueStats } from './nfqstats.js';

export interface NfQueueOptions {
  /** Queue number (iptables --queue-num). */
  num: number;
  /** Kernel queue length limit, packets. */
  maxlen: number;
  /** Accept instead of drop when the kernel queue is full. */
  failOpen: boolean;
  /** Netlink socket receive buffer, bytes. */
  rcvbuf: number;
}

export interface QueuedPacket {
  /** Kernel packet id, to give to verdict(). */
  id: number;
  /** The packet from its IP header on (IPv4 or IPv6). */
  payload: Buffer;
  /** nfmark (skb->mark) when queued. */
  mark: number;
  /** Interface indexes (0 when none). */
  indev: number;
  outdev: number;
}

export type VerdictName = 'accept' | 'drop' | 'repeat';

export interface NfQueueStats {
  /** Packets handed to onPacket. */
  received: number;
  accept: number;
  drop: number;
  repeat: number;
  /** Verdicts that set a mark. */
  marked: number;
  /** `repeat` without a non-zero mark, turned into accept (it would loop in the kernel). */
  repeatWithoutMark: number;
  /** verdict() for an id that is not waiting (already judged, or unknown). */
  unknownId: number;
  /** verdict() after close(). */
  afterClose: number;
  /** onPacket threw; the packet was accepted if it had no verdict yet. */
  callbackErrors: number;
  /** Packets accepted by close() because they still had no verdict. */
  flushedOnClose: number;
  /** Verdicts that replaced the packet's bytes. */
  rewritten: number;
}

/** The raw native object (`new binding.NFQueue()`), patched. */
interface RawBindings {
  read(cb: (info: RawInfo, payload: Buffer) => unknown): void;
  setVerdict(id: number, verdict: number, markOrBuffer: number | Buffer | null, buffer?: Buffer | null): void;
  close(): void;
}

interface RawInfo {
  id: number;
  len: number;
  nfmark: number;
  indev: number;
  outdev: number;
}

interface RawQueue {
  bindings: RawBindings;
  opened: boolean;
  open(num: number, rcvbuf: number): void;
  setQueueMaxLen(len: number): number;
  setFailOpen(on: boolean): number;
  close(): void;
}

/** What `require('nfqueue')` exports (only what we use). */
export interface NfqueueModule {
  NF_DROP: number;
  NF_ACCEPT: number;
  NF_REPEAT: number;
  NFQueue: new () => RawQueue;
}

const INSTALL_HINT =
  'install libnetfilter-queue-dev (Debian/Ubuntu: `apt-get install libnetfilter-queue-dev build-essential python3`; ' +
  'Fedora: `dnf install libnetfilter_queue-devel gcc-c++ make`) and reinstall p2pgw (`npm install`, which rebuilds and patches nfqueue)';

let cached: NfqueueModule | undefined;

/** Loads the patched binding once; MISSING_FEATURE with what to install when it cannot be. */
export function loadNfqueue(): NfqueueModule {
  if (cached) return cached;
  const require = createRequire(import.meta.url);
  let mod: NfqueueModule;
  try {
    mod = require('nfqueue') as NfqueueModule;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const msg = e.message ?? String(err);
    let what: string;
    if (e.code === 'MODULE_NOT_FOUND' && /'nfqueue'/.test(msg)) what = 'the optional dependency nfqueue is not installed';
    else if (e.code === 'MODULE_NOT_FOUND') what = 'nfqueue is installed but its native addon was not built';
    else if (/libnetfilter_queue|libnfnetlink|cannot open shared object/.test(msg)) what = 'the nfqueue addon cannot load libnetfilter_queue';
    else what = 'the nfqueue addon failed to load';
    throw new P2pgwError('P2PGW_ERR_MISSING_FEATURE', `live capture unavailable: ${what} (${msg.split('\n')[0]}); ${INSTALL_HINT}`, {
      cause: err,
    });
  }
  const proto = mod.NFQueue?.prototype as Partial<RawQueue> | undefined;
  if (typeof proto?.close !== 'function' || typeof proto.setFailOpen !== 'function' || typeof proto.setQueueMaxLen !== 'function') {
    throw new P2pgwError(
      'P2PGW_ERR_MISSING_FEATURE',
      'live capture unavailable: nfqueue is installed without the p2pgw patch (no close/setFailOpen/setQueueMaxLen); ' +
        'run `node src/capture/nfq-patch/postinstall.cjs` in the p2pgw directory, or reinstall p2pgw',
    );
  }
  cached = mod;
  return mod;
}

export interface OpenHooks {
  /** Called when onPacket throws (the packet is accepted). */
  onError?: (err: unknown, packet: QueuedPacket) => void;
  /** Use this module instead of `require('nfqueue')` (tests). */
  binding?: NfqueueModule;
  /** Kernel queue stats reader for drain() (tests); default reads /proc/net/netfilter/nfnetlink_queue. */
  readStats?: (num: number) => { queueTotal: number } | null;
}

export class NfQueue {
  readonly stats: NfQueueStats = {
    received: 0, accept: 0, drop: 0, repeat: 0, marked: 0,
    repeatWithoutMark: 0, unknownId: 0, afterClose: 0, callbackErrors: 0, flushedOnClose: 0, rewritten: 0,
  };
  /** Problems that do not stop capture (a kernel that refuses maxlen or fail-open). */
  readonly warnings: string[] = [];
  private readonly pendingIds = new Set<number>();
  private closed = false;

  private constructor(
    readonly options: Readonly<NfQueueOptions>,
    private readonly mod: NfqueueModule,
    private readonly q: RawQueue,
    private readonly readStats: (num: number) => { queueTotal: number } | null,
  ) {}

  /**
   * Binds queue `opts.num` (needs CAP_NET_ADMIN in the current network namespace) and starts
   * delivering packets to `onPacket`. Every packet must get a verdict(), or stays queued until close().
   */
  static open(opts: NfQueueOptions, onPacket: (p: QueuedPacket) => void, hooks: OpenHooks = {}): NfQueue {
    for (const [k, v] of [['num', opts.num], ['maxlen', opts.maxlen], ['rcvbuf', opts.rcvbuf]] as const) {
      if (!Number.isInteger(v) || v < 0 || v > (k === 'num' ? 65535 : 0xffffffff)) {
        throw new P2pgwError('P2PGW_ERR_NFQUEUE', `invalid queue option ${k}: ${v}`);
      }
    }
    const mod = hooks.binding ?? loadNfqueue();
    const q = new mod.NFQueue();
    try {
      q.open(opts.num, opts.rcvbuf);
    } catch (err) {
      try {
        q.bindings.close();
      } catch {
        /* nothing to release */
      }
      const msg = err instanceof Error ? err.message : String(err);
      const notRoot = typeof process.getuid === 'function' && process.getuid() !== 0;
      const hint = notRoot
        ? 'binding a queue needs root or CAP_NET_ADMIN'
        : /create/i.test(msg)
          ? `queue ${opts.num} is probably bound by another process (a running p2pgw?): see /proc/net/netfilter/nfnetlink_queue`
          : 'is the nfnetlink_queue kernel module available (`modprobe nfnetlink_queue`)?';
      throw new P2pgwError(notRoot ? 'P2PGW_ERR_NOT_ROOT' : 'P2PGW_ERR_NFQUEUE', `cannot bind NFQUEUE ${opts.num}: ${msg}; ${hint}`, {
        cause: err,
      });
    }
    const self = new NfQueue(Object.freeze({ ...opts }), mod, q, hooks.readStats ?? ((n) => readQueueStats(n)));
    const rcMax = q.setQueueMaxLen(opts.maxlen);
    if (rcMax < 0) self.warnings.push(`the kernel refused queue maxlen ${opts.maxlen} (rc ${rcMax}); its default (1024 packets) applies`);
    const rcFail = q.setFailOpen(opts.failOpen);
    if (rcFail < 0) {
      self.warnings.push(
        `the kernel refused fail-open ${opts.failOpen ? 'on' : 'off'} (rc ${rcFail}; needs Linux >= 3.6)` +
          (opts.failOpen ? ': packets are dropped when the queue is full' : ''),
      );
    }
    q.bindings.read((info, payload) => {
      if (self.closed) return 0;
      self.pendingIds.add(info.id);
      self.stats.received++;
      const p: QueuedPacket = { id: info.id, payload, mark: info.nfmark >>> 0, indev: info.indev, outdev: info.outdev };
      try {
        onPacket(p);
      } catch (err) {
        // A throw must not reach the binding (it would crash the process); let the packet through.
        self.stats.callbackErrors++;
        if (self.pendingIds.has(p.id)) self.verdict(p.id, 'accept');
        try {
          hooks.onError?.(err, p);
        } catch {
          /* ignore */
        }
      }
      return 0;
    });
    return self;
  }

  /** Packets received and still waiting for a verdict. */
  get pending(): number {
    return this.pendingIds.size;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Judges packet `id`. With `mark`, the packet's nfmark is set (verdict2). `repeat` re-runs the
   * hook so our mangle chain saves the mark to the connmark; it needs a non-zero mark.
   */
  verdict(id: number, v: VerdictName, mark?: number, packet?: Uint8Array): void {
    if (this.closed) {
      this.stats.afterClose++;
      return;
    }
    if (!this.pendingIds.delete(id)) {
      this.stats.unknownId++;
      return;
    }
    let verdict = v;
    if (verdict === 'repeat' && !mark) {
      this.stats.repeatWithoutMark++;
      verdict = 'accept';
    }
    const code = verdict === 'accept' ? this.mod.NF_ACCEPT : verdict === 'drop' ? this.mod.NF_DROP : this.mod.NF_REPEAT;
    // A replacement packet (e.g. a RST built from this one) travels on in place of the original.
    const buf = packet ? Buffer.from(packet.buffer, packet.byteOffset, packet.byteLength) : null;
    if (buf) this.stats.rewritten++;
    if (mark !== undefined) {
      this.q.bindings.setVerdict(id, code, mark >>> 0, buf);
      this.stats.marked++;
    } else {
      this.q.bindings.setVerdict(id, code, buf);
    }
    this.stats[verdict]++;
  }

  /**
   * Waits (yielding to the event loop, so onPacket keeps running) until every packet the kernel holds
   * for this queue has been delivered to this process, i.e. /proc's queue_total is no more than
   * `pending`. Call it after removing the NFQUEUE rules and before close(). False on timeout.
   */
  async drain(timeoutMs = 1000): Promise<boolean> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      if (this.closed) return true;
      const st = this.readStats(this.options.num);
      if (!st || st.queueTotal <= this.pendingIds.size) return true;
      if (Date.now() >= end) return false;
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /**
   * Accepts the packets still waiting for a verdict, unbinds the queue and closes the socket. From
   * then on the kernel bypasses the queue (--queue-bypass) or drops (without it). Idempotent.
   */
  close(): void {
    if (this.closed) return;
    for (const id of this.pendingIds) {
      this.q.bindings.setVerdict(id, this.mod.NF_ACCEPT, null);
      this.stats.flushedOnClose++;
    }
    this.pendingIds.clear();
    this.closed = true;
    this.q.close();
  }
}
