#!/usr/bin/env node
/**
 * Which files of dist/ the router package ships: the JavaScript the daemon and the router's CLI
 * commands can load, and nothing of the development tools (src/tools: analyze, profile, lab, and the
 * CLI commands built on them: demo, gen, profile, analyze) nor anything only they use.
 *
 *   node openwrt/shipped.mjs [--prune] DIST
 *
 * lists the shipped files of DIST (relative paths), or with --prune deletes every other file of it
 * (the SDK Makefile runs this on the installed copy; build-ipk.mjs calls `shippedDist` directly).
 *
 * How: starting from the entry points (dist/cli/main.js, and the scan worker thread), follow every
 * import whose specifier is a literal: static `import`/`export … from`, dynamic `import('…')`, and
 * `new URL('….js', import.meta.url)` (worker scripts, child processes). A module that statically
 * imports dist/tools/, directly or through other modules, is a tool: it is not shipped, and only a
 * dynamic import may lead to it (the CLI then says the command is not part of the router package).
 * A shipped module that statically imports a tool is an error: it could not even load.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** Entry points of the router package, relative to dist/. */
export const ENTRY_POINTS = ['cli/main.js', 'content/scan-worker.js'];
/** The development tools' folder under dist/ (src/tools): never shipped. */
export const TOOLS_DIR = 'tools/';

const STATIC = /^[ \t]*(?:import|export)\s(?:[^'";]*?\sfrom\s*)?['"]([^'"]+)['"]/gm;
const SIDE_EFFECT = /^[ \t]*import\s*['"]([^'"]+)['"]/gm;
const DYNAMIC = /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g;
const URL_REF = /\bnew URL\(\s*['"]([^'"]+\.js)['"]\s*,\s*import\.meta\.url\s*\)/g;

/** Every .js file under `dir`, as paths relative to it with `/` separators. */
function jsFiles(dir, sub = '') {
  const out = [];
  for (const ent of fs.readdirSync(path.join(dir, sub), { withFileTypes: true })) {
    const rel = sub ? `${sub}/${ent.name}` : ent.name;
    if (ent.isDirectory()) out.push(...jsFiles(dir, rel));
    else if (ent.isFile() && ent.name.endsWith('.js')) out.push(rel);
  }
  return out.sort();
}

/** Comments and string contents that are no code would only confuse the scan: drop block comments. */
const stripComments = (src) => src.replace(/\/\*[\s\S]*?\*\//g, (c) => c.replace(/[^\n]/g, ' '));

/**
 * The relative imports of one compiled module, resolved against its path (relative to dist/):
 * `static` (loaded with it) and `dynamic` (loaded on demand). Package imports are not followed.
 */
export function importsOf(rel, source) {
  const src = stripComments(source);
  const resolve = (spec) => path.posix.normalize(path.posix.join(path.posix.dirname(rel), spec));
  const rels = (re) => [...src.matchAll(re)].map((m) => m[1]).filter((s) => s.startsWith('./') || s.startsWith('../')).map(resolve);
  return {
    static: [...new Set([...rels(STATIC), ...rels(SIDE_EFFECT)])],
    dynamic: [...new Set([...rels(DYNAMIC), ...rels(URL_REF)])],
  };
}

/**
 * The shipped files of `dist` (relative paths, sorted), the tools left out, and problems found.
 * @returns {{ files: string[], tools: string[], problems: string[] }}
 */
export function shippedDist(dist) {
  const all = jsFiles(dist);
  const graph = new Map(all.map((f) => [f, importsOf(f, fs.readFileSync(path.join(dist, f), 'utf8'))]));
  // A tool: under tools/, or statically importing a tool (fixed point).
  const tool = new Set(all.filter((f) => f.startsWith(TOOLS_DIR)));
  for (let changed = true; changed; ) {
    changed = false;
    for (const [f, g] of graph) {
      if (!tool.has(f) && g.static.some((t) => tool.has(t) || t.startsWith(TOOLS_DIR))) {
        tool.add(f);
        changed = true;
      }
    }
  }
  const problems = [];
  const files = new Set();
  const queue = [];
  for (const e of ENTRY_POINTS) {
    if (!graph.has(e)) problems.push(`entry point dist/${e} is missing`);
    else if (tool.has(e)) problems.push(`entry point dist/${e} statically imports the development tools`);
    else queue.push(e);
  }
  while (queue.length) {
    const f = queue.pop();
    if (files.has(f)) continue;
    files.add(f);
    const g = graph.get(f);
    for (const t of g.static) {
      if (!graph.has(t)) problems.push(`dist/${f} imports dist/${t}, which does not exist`);
      else queue.push(t);
    }
    for (const t of g.dynamic) if (graph.has(t) && !tool.has(t)) queue.push(t);
  }
  return { files: [...files].sort(), tools: all.filter((f) => tool.has(f)), problems };
}

/** Deletes every file of `dist` that is not shipped (source maps included), then empty folders. */
export function pruneDist(dist) {
  const { files, problems } = shippedDist(dist);
  if (problems.length) throw new Error(problems.join('\n'));
  const keep = new Set(files);
  const walk = (sub) => {
    const dir = path.join(dist, sub);
    for (const ent of fs.readdirSync(dir, { withFileTypes: true })) {
      const rel = sub ? `${sub}/${ent.name}` : ent.name;
      if (ent.isDirectory()) {
        walk(rel);
        if (fs.readdirSync(path.join(dist, rel)).length === 0) fs.rmdirSync(path.join(dist, rel));
      } else if (!keep.has(rel)) fs.rmSync(path.join(dist, rel));
    }
  };
  walk('');
  return files;
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const args = process.argv.slice(2);
  const prune = args[0] === '--prune';
  const dist = args[prune ? 1 : 0] ?? path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'dist');
  try {
    if (prune) pruneDist(dist);
    else {
      const { files, problems } = shippedDist(dist);
      if (problems.length) throw new Error(problems.join('\n'));
      process.stdout.write(`${files.join('\n')}\n`);
    }
  } catch (err) {
    console.error(`shipped: ${err.message}`);
    process.exitCode = 1;
  }
}
