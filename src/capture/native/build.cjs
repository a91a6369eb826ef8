#!/usr/bin/env node
/*
 * Builds p2pgw's NFQUEUE addon (nfq.c → build/Release/p2pgw_nfq.node) with node-gyp, the way npm
 * builds any addon: run by `npm install` (postinstall) and by hand (`npm run build:native`).
 *
 * node-gyp is npm's own bundled copy (npm_config_node_gyp, set by npm for install scripts, else next
 * to npm), so nothing is downloaded; Node's headers come from `nodedir` (npm_config_nodedir, e.g.
 * /usr on Debian's nodejs, the target's staging dir in the OpenWrt SDK) or node-gyp's header cache.
 * The addon needs only a C compiler, make, python3 and the kernel's UAPI headers: no library.
 *
 * A failed build does not fail the install (replay works without it): it prints why, and `p2pgw
 * run` names the missing addon. `--strict` makes it fail (OpenWrt SDK, CI checks).
 */
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const here = __dirname;
const strict = process.argv.includes('--strict');
const out = path.join(here, 'build', 'Release', 'p2pgw_nfq.node');

function findNodeGyp() {
  const cands = [];
  if (process.env.npm_config_node_gyp) cands.push(process.env.npm_config_node_gyp);
  if (process.env.npm_execpath) cands.push(path.join(path.dirname(process.env.npm_execpath), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  cands.push(path.join(prefix, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  try {
    cands.push(require.resolve('node-gyp/bin/node-gyp.js'));
  } catch {
    /* not installed locally */
  }
  return cands.find((c) => fs.existsSync(c)) ?? null;
}

function fail(msg) {
  console.error(`p2pgw: the NFQUEUE addon was not built: ${msg}; live mode (\`p2pgw run\`) is unavailable, replay works.`);
  process.exit(strict ? 1 : 0);
}

if (process.platform !== 'linux') fail('NFQUEUE is Linux only');
const gyp = findNodeGyp();
if (!gyp) fail('node-gyp not found (it comes with npm)');
const args = [gyp, 'rebuild', '--directory', here];
// Without a configured nodedir, the headers that come with the running Node.js (a distribution's
// /usr/include/node, or include/node of an official tarball) are used: nothing to download.
const nodePrefix = path.resolve(path.dirname(process.execPath), '..');
if (!process.env.npm_config_nodedir && fs.existsSync(path.join(nodePrefix, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${nodePrefix}`);
const r = spawnSync(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
if (r.status !== 0 || !fs.existsSync(out)) {
  process.stderr.write(`${r.stdout ?? ''}${r.stderr ?? ''}`.split('\n').filter((l) => /error|Error|ERR!/.test(l)).slice(0, 20).join('\n') + '\n');
  fail(`node-gyp exited with ${r.status ?? r.signal} (needs a C compiler, make and python3)`);
}
console.error(`p2pgw: built ${path.relative(process.cwd(), out)}`);
