#!/usr/bin/env node
/*
 * Applies src/capture/nfq-patch/nfqueue+0.3.2.patch to node_modules/nfqueue and rebuilds the addon.
 * Why the patch exists: see README.md in this folder. nfqueue is an optional dependency: when it is
 * missing (no libnetfilter-queue-dev, not Linux) replay mode still works, and `p2pgw run` says why it
 * cannot start.
 */
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..', '..', '..');
const nfq = path.join(root, 'node_modules', 'nfqueue');
if (!fs.existsSync(path.join(nfq, 'package.json'))) {
  console.error('p2pgw: nfqueue is not installed (needs libnetfilter-queue-dev); live mode is unavailable, replay works.');
  process.exit(0);
}
const src = fs.readFileSync(path.join(nfq, 'src', 'node_nfqueue.cpp'), 'utf8');
const run = (cmd, args) => execFileSync(cmd, args, { cwd: root, stdio: 'inherit' });
if (!src.includes('p2pgw patch')) {
  run(process.execPath, [require.resolve('patch-package', { paths: [root] }), '--patch-dir', 'src/capture/nfq-patch']);
}
const built = path.join(nfq, 'build', 'Release', 'nfqueue.node');
const stamp = path.join(nfq, 'build', 'p2pgw-patched');
if (!fs.existsSync(built) || !fs.existsSync(stamp)) {
  run('npm', ['rebuild', 'nfqueue']);
  fs.writeFileSync(stamp, 'rebuilt after p2pgw patch\n');
}
