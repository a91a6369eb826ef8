/**
 * Server side of the traffic generator: listens on every session's port (TCP listener or UDP
 * socket, IPv4 `0.0.0.0` and, when the namespace has IPv6, `::`), and plays the session's script
 * for each connection (TCP) or each remote address:port (UDP). Reports one `SessionResult` per
 * connection / UDP conversation through `onResult`.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { P2pgwError } from '../../core/errors.js';
import { playTcp, Tally, type SessionResult } from './gen-core.js';
import type { Session } from '../../apps/session-types.js';

/** Options of `startServer`. */
export interface ServerOpts {
  /** Per-connection deadline, ms (default 10000). */
  timeoutMs?: number;
  /** Called once per finished connection / UDP conversation. */
  onResult: (r: SessionResult) => void;
  /** Addresses to bind (default `['0.0.0.0', '::']`; `::` is skipped when IPv6 is unavailable). */
  bind?: string[];
}

/** A running generator server. */
export interface GenServer {
  /** Bound `l4/port` list. */
  ports: string[];
  /** Whether the IPv6 wildcard could be bound. */
  ipv6: boolean;
  /** Stops listening and destroys open connections. */
  close(): Promise<void>;
}

/** UDP conversation state keyed by remote address:port. */
interface UdpConv {
  idx: number;
  tally: Tally;
  timer: NodeJS.Timeout;
}

/** What the listeners of one server share. */
interface ServerCtx {
  /** Per-connection / per-conversation deadline, ms. */
  timeoutMs: number;
  onResult: (r: SessionResult) => void;
  /** One per bound listener or socket: stops it (added as they bind). */
  closers: (() => Promise<void>)[];
  /** Open TCP connections, destroyed by close(). */
  sockets: Set<net.Socket>;
}

/**
 * Binds every session's port and starts serving. Throws P2pgwError('P2PGW_ERR_LAB') when a port
 * cannot be bound on IPv4 (e.g. EADDRINUSE).
 */
export async function startServer(sessions: readonly Session[], opts: ServerOpts): Promise<GenServer> {
  const ctx: ServerCtx = { timeoutMs: opts.timeoutMs ?? 10_000, onResult: opts.onResult, closers: [], sockets: new Set() };
  const ports: string[] = [];
  let ipv6 = true;
  const hosts = opts.bind ?? ['0.0.0.0', '::'];
  for (const s of sessions) {
    for (const host of hosts) {
      const v6 = host.includes(':');
      if (v6 && !ipv6) continue;
      try {
        await (s.l4 === 'tcp' ? tcpListen(ctx, s, host) : udpBind(ctx, s, host));
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (v6 && host === '::' && (code === 'EAFNOSUPPORT' || code === 'EADDRNOTAVAIL' || code === 'EINVAL')) {
          ipv6 = false;
          continue;
        }
        await Promise.all(ctx.closers.map((c) => c()));
        throw new P2pgwError('P2PGW_ERR_LAB', `gen server: cannot bind ${s.l4} ${host} port ${s.port}: ${code ?? (e as Error).message}`, { cause: e });
      }
    }
    ports.push(`${s.l4}/${s.port}`);
  }
  return {
    ports,
    ipv6,
    async close() {
      for (const sock of ctx.sockets) sock.destroy();
      await Promise.all(ctx.closers.map((c) => c()));
    },
  };
}

/** Listens on TCP `host`:`s.port` and plays `s` as the server on every connection. Rejects when it cannot bind. */
function tcpListen(ctx: ServerCtx, s: Session, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer({ allowHalfOpen: true }, (sock) => {
      ctx.sockets.add(sock);
      sock.once('close', () => ctx.sockets.delete(sock));
      const peer = `${sock.remoteAddress}:${sock.remotePort}`;
      void playTcp(sock, s, 'server', Date.now() + ctx.timeoutMs).then((t) => ctx.onResult(t.result(peer)));
    });
    srv.once('error', reject);
    srv.listen({ host, port: s.port, ipv6Only: host.includes(':'), backlog: 128 }, () => {
      srv.off('error', reject);
      ctx.closers.push(() => new Promise((r) => srv.close(() => r())));
      resolve();
    });
  });
}

/**
 * Binds UDP `host`:`s.port` and plays `s` as the server for every remote address:port (one
 * conversation each). Rejects when it cannot bind; on close, open conversations fail with
 * `server stopped`.
 */
function udpBind(ctx: ServerCtx, s: Session, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const v6 = host.includes(':');
    const sock = dgram.createSocket({ type: v6 ? 'udp6' : 'udp4', ipv6Only: v6 });
    const convs = new Map<string, UdpConv>();
    const finish = (key: string, c: UdpConv): void => {
      clearTimeout(c.timer);
      convs.delete(key);
      ctx.onResult(c.tally.result(key));
    };
    const port: UdpPort = { ctx, sock, session: s, convs, finish };
    sock.on('message', (m, rinfo) => udpMessage(port, m, rinfo));
    sock.once('error', reject);
    sock.bind({ address: host, port: s.port }, () => {
      sock.off('error', reject);
      sock.on('error', () => undefined);
      ctx.closers.push(
        () =>
          new Promise((r) => {
            for (const [k, c] of convs) {
              c.tally.fail('server stopped');
              finish(k, c);
            }
            sock.close(() => r());
          }),
      );
      resolve();
    });
  });
}

/** A bound UDP port of the server: its socket, session and conversations. */
interface UdpPort {
  ctx: ServerCtx;
  sock: dgram.Socket;
  session: Session;
  /** Open conversations by remote address:port. */
  convs: Map<string, UdpConv>;
  /** Ends a conversation: stops its deadline, forgets it, reports its result. */
  finish(key: string, c: UdpConv): void;
}

/**
 * One datagram of a UDP conversation: it must be the session's next `out` step, byte-identical
 * (else the conversation fails); the `in` steps that follow are sent back at once. The
 * conversation ends after its last step, or fails at its deadline.
 */
function udpMessage(u: UdpPort, m: Buffer, rinfo: dgram.RemoteInfo): void {
  const { ctx, sock, session: s, convs, finish } = u;
  const key = `${rinfo.address}:${rinfo.port}`;
  let c = convs.get(key);
  if (!c) {
    const tally = new Tally('server', s);
    c = { idx: 0, tally, timer: setTimeout(() => (tally.fail(`timeout at step ${tally.stepsDone}`), finish(key, c!)), ctx.timeoutMs) };
    convs.set(key, c);
  }
  const t = c.tally;
  t.received += m.length;
  t.hash.update(m);
  const step = s.steps[c.idx];
  if (!step || step.dir !== 'out' || !Buffer.from(step.bytes).equals(m)) {
    t.fail(step?.dir === 'out' ? `mismatch at step ${c.idx} (datagram of ${m.length} bytes)` : `unexpected datagram at step ${c.idx}`);
    return finish(key, c);
  }
  c.idx++;
  t.stepsDone++;
  while (s.steps[c.idx]?.dir === 'in') {
    const b = s.steps[c.idx].bytes;
    sock.send(b, rinfo.port, rinfo.address);
    t.sent += b.length;
    c.idx++;
    t.stepsDone++;
  }
  if (c.idx >= s.steps.length) finish(key, c);
}
