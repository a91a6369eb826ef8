/**
 * Client side of the traffic generator: runs each session against the server (a few at a time),
 * playing the `out` steps and checking the `in` steps byte for byte. One `SessionResult` per session.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { playTcp, playUdpClient, Tally, type SessionResult } from './gen-core.js';
import type { Session } from '../../apps/session-types.js';

/** Options of `runClient`. */
export interface ClientOpts {
  /** Server IPv4 or IPv6 address (literal). */
  server: string;
  /** Per-session deadline, ms (default 10000). */
  timeoutMs?: number;
  /** Sessions run at once (default 4). */
  concurrency?: number;
  /** Called as each session finishes (in completion order). */
  onResult?: (r: SessionResult) => void;
  /**
   * Local addresses to connect from, one per session in turn (session i uses `sources[i % n]`);
   * default: the kernel's choice. They must be of the server's family and configured locally.
   */
  sources?: readonly string[];
}

/** Plays one session against `server`, from `localAddress` when given; never throws. */
export async function runSession(s: Session, server: string, timeoutMs: number, localAddress?: string): Promise<SessionResult> {
  const deadline = Date.now() + timeoutMs;
  if (s.l4 === 'tcp') {
    const sock = net.connect({ host: server, port: s.port, noDelay: true, allowHalfOpen: true, ...(localAddress ? { localAddress } : {}) });
    const t = await playTcp(sock, s, 'client', deadline);
    return t.result();
  }
  const t = new Tally('client', s);
  const sock = dgram.createSocket(net.isIPv6(server) ? 'udp6' : 'udp4');
  const connected = await new Promise<boolean>((r) => {
    sock.once('error', (e) => {
      t.sockError(e);
      r(false);
    });
    const connect = (): void => void sock.connect(s.port, server, () => r(true));
    if (localAddress) sock.bind({ address: localAddress, port: 0 }, connect);
    else connect();
  });
  if (!connected) {
    sock.close();
    return t.result();
  }
  sock.removeAllListeners('error');
  await playUdpClient(sock, s, deadline, t);
  return t.result();
}

/** Runs every session (at most `concurrency` at once) and resolves with results in session order. */
export async function runClient(sessions: readonly Session[], opts: ClientOpts): Promise<SessionResult[]> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const results: SessionResult[] = new Array(sessions.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < sessions.length) {
      const i = next++;
      const src = opts.sources?.length ? opts.sources[i % opts.sources.length] : undefined;
      results[i] = await runSession(sessions[i], opts.server, timeoutMs, src);
      opts.onResult?.(results[i]);
    }
  };
  const n = Math.max(1, Math.min(opts.concurrency ?? 4, sessions.length));
  await Promise.all(Array.from({ length: n }, worker));
  return results;
}
