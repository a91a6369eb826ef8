/**
 * `p2pgw status`: the running daemon answers on a Unix stream socket (mode 0600, so only root
 * reads it) with one JSON document of its counters, then closes. Nothing is accepted from clients
 * but the connection itself.
 */
import fs from 'node:fs';
import net from 'node:net';
import { P2pgwError } from '../core/errors.js';

/**
 * Serves `snapshot()` on `socketPath` (a stale socket file from a crashed daemon is replaced).
 * @throws P2pgwError(P2PGW_ERR_USAGE) if another daemon is answering there
 */
export async function serveStatus(socketPath: string, snapshot: () => unknown | Promise<unknown>): Promise<net.Server> {
  if (fs.existsSync(socketPath)) {
    const alive = await new Promise<boolean>((resolve) => {
      const c = net.connect(socketPath, () => (c.destroy(), resolve(true)));
      c.on('error', () => resolve(false));
    });
    if (alive) throw new P2pgwError('P2PGW_ERR_USAGE', `another p2pgw answers on ${socketPath}`);
    fs.rmSync(socketPath, { force: true });
  }
  const server = net.createServer((c) => {
    c.on('error', () => {});
    Promise.resolve()
      .then(snapshot)
      .then((doc) => c.end(`${JSON.stringify(doc)}\n`))
      .catch((err) => c.end(`${JSON.stringify({ error: String(err) })}\n`));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    const old = process.umask(0o177);
    server.listen(socketPath, () => {
      process.umask(old);
      resolve();
    });
  });
  fs.chmodSync(socketPath, 0o600);
  server.unref();
  return server;
}

/**
 * Reads the daemon's status document.
 * @throws P2pgwError(P2PGW_ERR_NOT_RUNNING) when no daemon answers: no socket, connection refused,
 *   no answer within `timeoutMs` (with the socket path); P2pgwError(P2PGW_ERR_NOT_ROOT) when the
 *   socket may not be opened (mode 0600: root only); P2pgwError(P2PGW_ERR_USAGE) for a document
 *   that is not JSON
 */
export function readStatus(socketPath: string, timeoutMs = 3000): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const c = net.connect(socketPath);
    const t = setTimeout(() => (c.destroy(), reject(new P2pgwError('P2PGW_ERR_NOT_RUNNING', `no answer from ${socketPath} within ${timeoutMs} ms`))), timeoutMs);
    c.on('data', (d) => (buf += d));
    c.on('end', () => {
      clearTimeout(t);
      try {
        resolve(JSON.parse(buf));
      } catch {
        reject(new P2pgwError('P2PGW_ERR_USAGE', `bad status document from ${socketPath}`));
      }
    });
    c.on('error', (err) => {
      clearTimeout(t);
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EACCES' || code === 'EPERM') reject(new P2pgwError('P2PGW_ERR_NOT_ROOT', `cannot open the status socket ${socketPath} (${code}): it is root's only`));
      else reject(new P2pgwError('P2PGW_ERR_NOT_RUNNING', `no p2pgw daemon at ${socketPath} (${code ?? err.message}); is \`p2pgw run\` running?`));
    });
  });
}
