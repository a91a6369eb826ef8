/**
 * Script engine of the traffic generator: plays one session over an open TCP socket (either role)
 * or a connected UDP socket (client role). The rule is the same on both sides: for a step sent by
 * the other side, wait until exactly that many bytes (TCP) or that one datagram (UDP) arrived and
 * check they are byte-identical to the script; for a step of our own, send it. Every wait is bounded
 * by one per-session deadline.
 */
import { createHash } from 'node:crypto';
import type { Socket as DgramSocket } from 'node:dgram';
import type { Socket } from 'node:net';
import type { Session, Step } from '../../apps/session-types.js';

/** Per-session outcome, printed as one JSON line by the generator (client and server). */
export interface SessionResult {
  role: 'client' | 'server';
  app: string;
  name: string;
  l4: 'tcp' | 'udp';
  /** Server port. */
  port: number;
  /** Every step completed with byte-identical data, no extra bytes, no error. */
  ok: boolean;
  /** A TCP reset or broken pipe was seen (ECONNRESET / EPIPE): typical of a blocked connection. */
  reset: boolean;
  /** Payload bytes this side sent / received (TCP stream bytes, UDP datagram payload bytes). */
  bytesSent: number;
  bytesReceived: number;
  /** sha256 (hex) of every payload byte received, in order (UDP: datagrams concatenated). */
  sha256Received: string;
  /** Steps completed (of `steps`). */
  stepsDone: number;
  steps: number;
  /** Reason when not ok: `timeout at step N`, `mismatch at step N byte K`, `ECONNREFUSED`, ... */
  error?: string;
  /** Wall time from connect/first datagram to the end, milliseconds. */
  ms: number;
  /** Remote address:port (server lines). */
  peer?: string;
}

/** Mutable accounting shared by the runners. */
export class Tally {
  readonly start = Date.now();
  readonly hash = createHash('sha256');
  sent = 0;
  received = 0;
  stepsDone = 0;
  reset = false;
  error: string | undefined;

  constructor(readonly role: 'client' | 'server', readonly session: Session) {}

  /** Records the first error only (later ones are consequences). */
  fail(msg: string): void {
    this.error ??= msg;
  }

  /** Records a socket error, flagging resets. */
  sockError(e: NodeJS.ErrnoException): void {
    if (e.code === 'ECONNRESET' || e.code === 'EPIPE') this.reset = true;
    this.fail(e.code ?? e.message);
  }

  /** The final result line. */
  result(peer?: string): SessionResult {
    const s = this.session;
    const ok = this.error === undefined && this.stepsDone === s.steps.length;
    return {
      role: this.role,
      app: s.app,
      name: s.name,
      l4: s.l4,
      port: s.port,
      ok,
      reset: this.reset,
      bytesSent: this.sent,
      bytesReceived: this.received,
      sha256Received: this.hash.copy().digest('hex'),
      stepsDone: this.stepsDone,
      steps: s.steps.length,
      ...(ok ? {} : { error: this.error ?? 'incomplete' }),
      ms: Date.now() - this.start,
      ...(peer ? { peer } : {}),
    };
  }
}

/** First index where `a` and `b` differ, or -1 when equal over min length. */
function firstDiff(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return -1;
}

/**
 * Tells a reset from a FIN after the socket reported end-of-stream. When a RST arrives while
 * received bytes are still unread, libuv reads them, sees POLLHUP and reports EOF (uv__stream_io):
 * Node emits `end`, not `error`, and the socket's pending error (ECONNRESET) stays unread. A
 * zero-length write makes the kernel return that pending error (tcp_sendmsg checks the socket's
 * state and error before copying anything); after a real FIN (CLOSE_WAIT) it is a no-op that sends
 * nothing. Needs a socket made with `allowHalfOpen` (otherwise Node refuses writes after `end`).
 * @returns the error (ECONNRESET, EPIPE) when the connection was reset, null after a FIN
 */
export function resetBehindEnd(sock: Socket): Promise<NodeJS.ErrnoException | null> {
  if (sock.destroyed || !sock.writable) return Promise.resolve(null);
  return new Promise((r) => sock.write(Buffer.alloc(0), (e) => r((e as NodeJS.ErrnoException | null | undefined) ?? null)));
}

/**
 * What has arrived on a TCP socket and not been matched yet (`queue`), whether the peer ended its
 * side (`ended`) or the socket closed (`closed`), and a wait for the next of these events, an error
 * or a `poke()`. Received bytes are counted and hashed into the tally as they arrive.
 */
class TcpInbox {
  readonly queue: Buffer[] = [];
  ended = false;
  closed = false;
  private wake: (() => void) | null = null;

  constructor(sock: Socket, t: Tally) {
    sock.on('data', (c: Buffer) => {
      this.queue.push(c);
      t.received += c.length;
      t.hash.update(c);
      this.poke();
    });
    sock.on('end', () => {
      this.ended = true;
      this.poke();
    });
    sock.on('error', (e) => {
      t.sockError(e);
      this.poke();
    });
    sock.on('close', () => {
      this.closed = true;
      this.poke();
    });
  }

  /** Wakes the pending `wait()`, if any. */
  poke(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  /** Resolves at the next socket event or `poke()`. */
  wait(): Promise<void> {
    return new Promise((r) => (this.wake = r));
  }
}

/**
 * Waits for the peer's `step`: exactly its bytes, byte-identical, in as many chunks as they come;
 * bytes beyond it stay queued for the next step.
 * @returns false (with the reason in the tally) on a mismatch, an error, or the peer closing first
 */
async function expectStep(sock: Socket, box: TcpInbox, t: Tally, step: Step): Promise<boolean> {
  let matched = 0;
  const want = step.bytes;
  while (matched < want.length) {
    if (t.error) return false;
    const c = box.queue.shift();
    if (!c) {
      if (box.ended || box.closed) {
        if (box.ended && !t.error) {
          const e = await resetBehindEnd(sock);
          if (e) t.sockError(e);
        }
        t.fail(`peer closed at step ${t.stepsDone} after ${matched} of ${want.length} bytes`);
        return false;
      }
      await box.wait();
      continue;
    }
    const k = Math.min(c.length, want.length - matched);
    const d = firstDiff(c.subarray(0, k), want.subarray(matched, matched + k));
    if (d >= 0) {
      t.fail(`mismatch at step ${t.stepsDone} byte ${matched + d}`);
      return false;
    }
    if (k < c.length) box.queue.unshift(c.subarray(k));
    matched += k;
  }
  return true;
}

/**
 * Sends our `step`; when the socket buffers it, waits for `drain`, `close` or a failure (the
 * deadline). @returns false when failed or closed
 */
async function sendStep(sock: Socket, box: TcpInbox, t: Tally, step: Step): Promise<boolean> {
  if (t.error || box.closed) return false;
  t.sent += step.bytes.length;
  if (!sock.write(step.bytes)) {
    await new Promise<void>((r) => {
      const done = (): void => {
        sock.off('drain', done);
        sock.off('close', done);
        clearInterval(check);
        r();
      };
      // The deadline timer pokes the inbox, not this promise: poll it so a stuck write cannot outlive it.
      const check = setInterval(() => t.error && done(), 50);
      sock.on('drain', done);
      sock.on('close', done);
    });
  }
  return !t.error;
}

/**
 * Plays `session` on a connected TCP socket as `role` (client sends `out` steps, server sends `in`
 * steps), then half-closes and waits for the peer's FIN. Resolves (never rejects) once done, failed
 * or `deadline` (epoch ms) passed; the socket is destroyed on failure (with RST on mismatch). The
 * socket must be made with `allowHalfOpen: true`: this function ends its side itself, and a reset
 * that Node reported as end-of-stream is told apart from a FIN (`resetBehindEnd`).
 */
export async function playTcp(sock: Socket, session: Session, role: 'client' | 'server', deadline: number, t = new Tally(role, session)): Promise<Tally> {
  const mine = role === 'client' ? 'out' : 'in';
  const box = new TcpInbox(sock, t);
  const timer = setTimeout(() => {
    t.fail(`timeout at step ${t.stepsDone}`);
    box.poke();
  }, Math.max(0, deadline - Date.now()));
  try {
    for (const step of session.steps) {
      const ok = step.dir === mine ? await sendStep(sock, box, t, step) : await expectStep(sock, box, t, step);
      if (!ok) break;
      t.stepsDone++;
    }
    if (!t.error) {
      sock.end();
      while (!box.ended && !box.closed && !t.error) await box.wait();
      if (box.queue.length > 0) t.fail(`${box.queue.reduce((n, c) => n + c.length, 0)} unexpected extra bytes`);
    }
  } finally {
    clearTimeout(timer);
    if (t.error) {
      if (t.error.startsWith('mismatch') && typeof sock.resetAndDestroy === 'function') sock.resetAndDestroy();
      else sock.destroy();
    }
  }
  if (!box.closed) await new Promise<void>((r) => (sock.closed ? r() : sock.once('close', () => r())));
  return t;
}

/**
 * Plays a UDP `session` as the client on a socket already `connect()`ed to the server: each `out`
 * step is one datagram sent, each `in` step one datagram that must arrive byte-identical before the
 * deadline. Resolves with the tally; closes the socket.
 */
export async function playUdpClient(sock: DgramSocket, session: Session, deadline: number, t = new Tally('client', session)): Promise<Tally> {
  const inbox: Buffer[] = [];
  let wake: (() => void) | null = null;
  const poke = (): void => {
    const w = wake;
    wake = null;
    w?.();
  };
  sock.on('message', (m: Buffer) => {
    inbox.push(m);
    t.received += m.length;
    t.hash.update(m);
    poke();
  });
  sock.on('error', (e) => {
    t.sockError(e);
    poke();
  });
  const timer = setTimeout(() => {
    t.fail(`timeout at step ${t.stepsDone}`);
    poke();
  }, Math.max(0, deadline - Date.now()));
  try {
    for (const step of session.steps) {
      if (t.error) break;
      if (step.dir === 'out') {
        await new Promise<void>((r) =>
          sock.send(step.bytes, (e) => {
            if (e) t.sockError(e);
            r();
          }),
        );
        if (t.error) break;
        t.sent += step.bytes.length;
      } else {
        while (inbox.length === 0 && !t.error) await new Promise<void>((r) => (wake = r));
        const m = inbox.shift();
        if (!m) break;
        if (m.length !== step.bytes.length || firstDiff(m, step.bytes) >= 0) {
          t.fail(`mismatch at step ${t.stepsDone} (datagram of ${m.length} bytes, expected ${step.bytes.length})`);
          break;
        }
      }
      t.stepsDone++;
    }
  } finally {
    clearTimeout(timer);
    await new Promise<void>((r) => sock.close(() => r()));
  }
  return t;
}
