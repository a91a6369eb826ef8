#!/usr/bin/env node
/**
 * Traffic for the gateway benchmark, run inside the namespaces by bench/gateway.mjs:
 *
 *   server --port P --size BYTES --max-seconds S
 *       node:http serving one BYTES-long random file from memory for any GET path (the path's
 *       last segment is the file name the gateway's HTTP inspector sees), `/tiny` answers 2 bytes.
 *       Prints `{"listening":P}` on stdout; exits by itself after S seconds.
 *   client --url U[,U...] --conns N --seconds S
 *       the fallback load client when `wrk` is not installed: N concurrent downloads per URL, one
 *       TCP connection per download (Connection: close), for S seconds; prints a JSON summary
 *       {bytes, requests, errors, duration_us}.
 *   probe --url U --interval-ms I --seconds S
 *       latency probe: one keep-alive connection, GET U every I ms for S seconds; prints
 *       {samples_ms: [...], errors}. Each request and its answer cross the gateway once each
 *       way, so under an inspecting daemon the RTT carries two verdict latencies.
 *
 * Every loop is bounded by its --seconds / --max-seconds.
 */
import http from 'node:http';
import crypto from 'node:crypto';
import { parseArgs } from 'node:util';

const [mode, ...rest] = process.argv.slice(2);
const { values: o } = parseArgs({
  args: rest,
  options: {
    port: { type: 'string', default: '8080' },
    size: { type: 'string', default: String(2 * 1024 * 1024) },
    'max-seconds': { type: 'string', default: '1200' },
    url: { type: 'string' },
    conns: { type: 'string', default: '8' },
    seconds: { type: 'string', default: '10' },
    'interval-ms': { type: 'string', default: '50' },
  },
});

if (mode === 'server') {
  const body = crypto.randomBytes(Number(o.size));
  const tiny = Buffer.from('ok');
  const server = http.createServer((req, res) => {
    if (req.url === '/tiny') {
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': tiny.length });
      res.end(tiny);
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': body.length });
    res.end(body);
  });
  server.keepAliveTimeout = 30_000;
  server.listen(Number(o.port), '0.0.0.0', () => process.stdout.write(`${JSON.stringify({ listening: Number(o.port) })}\n`));
  setTimeout(() => process.exit(0), Number(o['max-seconds']) * 1000).unref();
  process.on('SIGTERM', () => process.exit(0));
} else if (mode === 'client') {
  const urls = o.url.split(',');
  const conns = Number(o.conns);
  const end = Date.now() + Number(o.seconds) * 1000;
  const t0 = process.hrtime.bigint();
  const sum = { bytes: 0, requests: 0, errors: 0 };
  const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });
  const loop = (url) => {
    if (Date.now() >= end) return Promise.resolve();
    return new Promise((resolve) => {
      const req = http.get(url, { agent, headers: { Connection: 'close' }, timeout: 30_000 }, (res) => {
        res.on('data', (c) => (sum.bytes += c.length));
        res.on('end', () => (sum.requests++, resolve()));
        res.on('error', () => (sum.errors++, resolve()));
      });
      req.on('error', () => (sum.errors++, resolve()));
      req.on('timeout', () => req.destroy(new Error('timeout')));
      // Stop at the deadline even in the middle of a download (bytes so far count).
      const t = setTimeout(() => req.destroy(new Error('deadline')), Math.max(0, end - Date.now()));
      req.on('close', () => clearTimeout(t));
    }).then(() => loop(url));
  };
  await Promise.all(urls.flatMap((u) => Array.from({ length: conns }, () => loop(u))));
  process.stdout.write(`${JSON.stringify({ ...sum, duration_us: Number((process.hrtime.bigint() - t0) / 1000n) })}\n`);
} else if (mode === 'probe') {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const end = Date.now() + Number(o.seconds) * 1000;
  const samples = [];
  let errors = 0;
  while (Date.now() < end) {
    const t = process.hrtime.bigint();
    await new Promise((resolve) => {
      const req = http.get(o.url, { agent, timeout: 5000 }, (res) => {
        res.resume();
        res.on('end', () => (samples.push(Number(process.hrtime.bigint() - t) / 1e6), resolve()));
      });
      req.on('error', () => (errors++, resolve()));
      req.on('timeout', () => req.destroy(new Error('timeout')));
    });
    await new Promise((r) => setTimeout(r, Number(o['interval-ms'])));
  }
  agent.destroy();
  process.stdout.write(`${JSON.stringify({ samples_ms: samples.map((x) => Math.round(x * 1000) / 1000), errors })}\n`);
} else {
  process.stderr.write('usage: gateway-traffic.mjs server|client|probe [options]\n');
  process.exit(2);
}
