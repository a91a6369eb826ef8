/**
 * Import boundaries of src/ (dependency-cruiser), checked by test/layout/imports.test.ts in
 * `npm test`. The source tree is a stack of layers, lowest first; a file may import its own layer
 * and the layers below it, never one above. Type-only imports count too (tsPreCompilationDeps).
 * The README's "Development" section explains each layer.
 */
'use strict';

/** Layers of src/, lowest first. Every folder directly under src/ is one of them. */
const LAYERS = [
  'core', // errors, defaults, counters, step timing, shared types: imports nothing
  'decode', // IPv4/IPv6/TCP/UDP decoding
  'capture', // NFQUEUE binding, pcap/pcapng readers
  'matcher', // the literal matcher and the WebAssembly loader
  'flow', // 5-tuple flow table
  'stream', // TCP reassembly
  'sigscan', // ClamAV-style signature engine
  'apps', // dissectors (one folder per application), registry, classifier, rules
  'enforce', // iptables, tc
  'config', // the YAML config and its validation
  'content', // content management: held packets (Q2), keywords, audit, scan pool
  'observe', // live outputs: log, syslog, flow records, flow log, pcap export, status
  'runtime', // pipeline, daemon, supervisor, replay
  'collect', // unsolicited P2P requests at an idle address
  'tools', // analyze, profile, lab: not shipped in the router package
  'cli', // one file per subcommand
];

const above = (i) => LAYERS.slice(i + 1).join('|');

/** Files of the apps layer that every application folder may use (and that use none of them). */
const APPS_BASE = '^src/apps/(types|session-types|bytes|util)\\.ts$|^src/apps/parse/';
/** Files of the apps layer that sit above the application folders. */
const APPS_TOP = '^src/apps/(registry|rules|classifier)\\.ts$';

module.exports = {
  forbidden: [
    { name: 'no-file-cycles', severity: 'error', comment: 'no import cycle between files', from: {}, to: { circular: true } },
    { name: 'no-folder-cycles', severity: 'error', scope: 'folder', comment: 'no import cycle between folders', from: {}, to: { circular: true } },
    ...LAYERS.slice(0, -1).map((layer, i) => ({
      name: `layer-${layer}`,
      severity: 'error',
      comment: `${layer} may import only ${LAYERS.slice(0, i + 1).join(', ')}`,
      from: { path: `^src/${layer}/` },
      to: { path: `^src/(${above(i)})/` },
    })),
    {
      name: 'apps-folders-are-independent',
      severity: 'error',
      comment: 'an application folder imports no other application folder and nothing above the folders (registry, rules, classifier)',
      from: { path: '^src/apps/([^/]+)/', pathNot: '^src/apps/parse/' },
      to: { path: ['^src/apps/[^/]+/', APPS_TOP], pathNot: ['^src/apps/$1/', '^src/apps/parse/'] },
    },
    {
      name: 'apps-base-below-folders',
      severity: 'error',
      comment: 'the shared apps modules (types, bytes, util, parse/) import no application folder and nothing above them',
      from: { path: APPS_BASE },
      to: { path: ['^src/apps/[^/]+/', APPS_TOP], pathNot: '^src/apps/parse/' },
    },
    {
      name: 'shipped-code-no-dev-deps',
      severity: 'error',
      comment: 'code shipped in the router package (everything but src/tools) uses runtime dependencies only',
      from: { path: '^src/', pathNot: '^src/tools/' },
      to: { dependencyTypes: ['npm-dev'] },
    },
    {
      name: 'no-unresolvable',
      severity: 'error',
      comment: 'every import resolves',
      from: { path: '^src/' },
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js', '.json'] },
    exclude: { path: '\\.d\\.ts$' },
  },
};
// For the layout test (not a dependency-cruiser option, so not enumerable).
Object.defineProperty(module.exports, 'LAYERS', { value: LAYERS, enumerable: false });
