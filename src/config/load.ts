/**
 * Config loading: YAML (the `yaml` package) validated with a JSON Schema (ajv), merged over the
 * frozen DEFAULTS. Errors give the file, the key path, the line and the reason, e.g.
 * `p2pgw.yaml: apps.bittorrent.action (line 4): must be one of allow, block, inspect`.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv, type ErrorObject } from 'ajv';
import { LineCounter, parseDocument, isMap, type Document } from 'yaml';
import { DEFAULTS } from '../core/defaults.js';
import { ConfigError } from '../core/errors.js';
import { readRegularFile } from '../core/files.js';
import { HOST_PORT_EXAMPLES, parseHostPort } from './hostport.js';
import { CONFIG_SCHEMA, MAPPED_SECTIONS, type MappedSectionName, type ParserLimitKey } from './schema.js';
import type { Action } from '../apps/rules.js';
import { parseCidr } from '../flow/cidr.js';
import { planShaping, type ShapeSpec, type ShapingConfig } from '../enforce/tc-plan.js';
import { ShapeError } from '../enforce/tc-parse.js';

/** The package root (works from src/ under vitest and from dist/). */
export const PACKAGE_ROOT = path.resolve(fileURLToPath(new URL('../..', import.meta.url)));
/** The bundled default config: allows everything and only marks. */
export const DEFAULT_CONFIG_FILE = path.join(PACKAGE_ROOT, 'rules', 'default.yaml');

export interface EffectiveConfig {
  /** Absolute path of the file read. */
  file: string;
  queue: { num: number; maxlen: number; failOpen: boolean; rcvbuf: number; failOpenPollSec: number; binding: 'batch' | 'nfqueue'; gso: boolean; batch: number; sendThread: boolean };
  classify: { packets: number; bytes: number; unknownMark: number };
  /** Per-application overrides of the rules' action and mark, and the app's shaping. */
  apps: Record<string, { action?: Action; mark?: number; shape?: ShapeSpec }>;
  /** Per-application bandwidth shaping (tc HTB), or null when not configured. */
  shaping: ShapingConfig | null;
  flow: { maxFlows: number; tcpIdleSec: number; udpIdleSec: number };
  reassembly: { maxOooBytesPerDir: number; maxOooSegmentsPerDir: number };
  /** Endpoint knowledge: table size (0 = off), ttl in seconds, enabled sources, learning window in packets. */
  endpoints: { size: number; ttlSec: number; sources: string[]; learnPackets: number; shareBacklog: number };
  /** DEFAULTS.hostHeuristics shape (src/flow/hosts.ts). */
  hostHeuristics: { enabled: boolean; localCidrs: string[] } & Omit<typeof DEFAULTS.hostHeuristics, 'enabled' | 'localCidrs'>;
  log: { level: string; dest: 'auto' | 'syslog' | 'stderr'; facility: string; syslogSocket: string };
  iptables: { backend: 'auto' | 'legacy' | 'nft'; chain: string; markMask: number };
  inspect: { killMark: number; maxHeldPerFlow: number; maxHeldTotal: number; holdTimeoutMs: number; scanTimeoutMs: number; preBufferBytes: number; lostState: 'reset' | 'pass' };
  /** Caps of the stream parsers (src/apps/parse/lines.ts INSPECT_LIMITS); absent keys keep the defaults. */
  parserLimits: { maxLine?: number; maxHead?: number; maxMessage?: number; maxMetadata?: number; maxBtMessage?: number; maxPendingRequests?: number };
  keywords: { chat: boolean; filenames: boolean; lists: Record<string, string[]> };
  audit: { enabled: boolean; dir: string; chat: boolean; files: boolean; quotaBytes: number; minFreeBytes: number };
  /** `databases`: ClamAV `.ndb` files, absolute paths. */
  scan: { enabled: boolean; eicar: boolean; bufferBytes: number; workers: number; workerRespawns: number; databases: string[]; debugDelayMs: number };
  status: { socket: string };
  /** The watchdog (src/runtime/watchdog.ts); `timeoutMs` 0 = off. */
  watchdog: { timeoutMs: number; pollMs: number };
  /** Live flow log; `dir` null = off. */
  flowLog: { dir: string | null; maxFileBytes: number; maxTotalBytes: number; minFreeBytes: number };
  /** IPFIX export (src/observe/ipfix/); `collector` null = off, else validated `HOST:PORT`. */
  flowExport: { collector: string | null; transport: 'udp' | 'tcp'; templateRefreshSec: number; observationDomain: number; activeTimeoutSec: number; idleTimeoutSec: number; queue: number };
  /** Caps of `--export-pcap`. */
  exportPcap: { maxFileBytes: number; maxTotalBytes: number; bufferPacketsPerFlow: number; bufferBytes: number };
  /** Directory of `*.rules` files. */
  rulesDir: string;
  /**
   * For checks made once the rules are loaded (src/config/marks.ts): the file as messages name it
   * (as given) and the 1-based line of each mark key it sets (`classify.unknown_mark`,
   * `inspect.kill_mark`, `apps.<name>.mark`). Absent in configs built by hand.
   */
  origin?: { name: string; lines: Readonly<Record<string, number>> };
}

/** The yaml package's cap on alias resolutions (its `maxAliasCount`), against alias bombs. */
const MAX_ALIAS_COUNT = 100;

const ajv = new Ajv({ allErrors: true, strict: true });
const validate = ajv.compile(CONFIG_SCHEMA);

function keyPath(err: ErrorObject): (string | number)[] {
  const parts = err.instancePath.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (err.keyword === 'additionalProperties') parts.push(String(err.params.additionalProperty));
  return parts;
}

function reason(err: ErrorObject): string {
  switch (err.keyword) {
    case 'additionalProperties':
      return 'unknown key';
    case 'enum':
      return `must be one of ${(err.params.allowedValues as unknown[]).join(', ')}`;
    default:
      return err.message ?? 'invalid';
  }
}

function lineOf(doc: Document, lc: LineCounter, p: (string | number)[]): number | null {
  for (let n = p.length; n >= 0; n--) {
    const node = doc.getIn(p.slice(0, n), true) as { range?: [number, number, number] } | undefined;
    if (node && node.range) return lc.linePos(node.range[0]).line;
    if (n > 0 && n === p.length) {
      const parent = doc.getIn(p.slice(0, n - 1), true);
      if (isMap(parent)) {
        const pair = parent.items.find((it) => (it.key as { value?: unknown })?.value === p[n - 1]);
        const k = pair?.key as { range?: [number, number, number] } | undefined;
        if (k?.range) return lc.linePos(k.range[0]).line;
      }
    }
  }
  return null;
}

/**
 * Parses and validates config text.
 * @param text YAML source
 * @param file path used in messages and to resolve `rules.dir` (relative to the file's folder)
 * @param knownApps application names the registry has (unknown `apps:` keys are errors)
 * @throws ConfigError naming file, key path, line and reason
 */
export function parseConfig(text: string, file: string, knownApps: readonly string[]): EffectiveConfig {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length) {
    const e = doc.errors[0];
    const line = e.linePos?.[0]?.line ?? lc.linePos(e.pos[0]).line;
    throw new ConfigError(file, '', `YAML syntax${line ? ` (line ${line})` : ''}: ${e.message.split('\n')[0]}`);
  }
  let js: unknown;
  try {
    // Aliases that expand beyond this ("billion laughs") are refused instead of exhausting memory.
    js = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (err) {
    throw new ConfigError(file, '', `YAML aliases expand too much (${(err as Error).message.split('\n')[0]}; at most ${MAX_ALIAS_COUNT} alias resolutions)`);
  }
  const raw = (js ?? {}) as Record<string, any>;
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(file, '', 'must be a mapping of keys');
  if (!validate(raw)) {
    const err = validate.errors![0];
    const p = keyPath(err);
    const line = lineOf(doc, lc, p);
    throw new ConfigError(file, `${p.join('.')}${line ? ` (line ${line})` : ''}`, reason(err));
  }
  for (const name of Object.keys(raw.apps ?? {})) {
    if (!knownApps.includes(name)) {
      const line = lineOf(doc, lc, ['apps', name]);
      throw new ConfigError(file, `apps.${name}${line ? ` (line ${line})` : ''}`, `unknown application (known: ${knownApps.join(', ')})`);
    }
  }
  const shapedWithout = Object.entries(raw.apps ?? {}).find(([, a]) => (a as { shape?: unknown }).shape && !raw.shaping);
  if (shapedWithout) {
    const line = lineOf(doc, lc, ['apps', shapedWithout[0], 'shape']);
    throw new ConfigError(file, `apps.${shapedWithout[0]}.shape${line ? ` (line ${line})` : ''}`, 'needs a `shaping:` section naming the interfaces');
  }
  if (raw.shaping) {
    try {
      // Rates and structure only; the real marks are checked when the daemon plans the HTB tree.
      planShaping({ shaping: raw.shaping, apps: Object.entries(raw.apps ?? {}).map(([name, a], i) => ({ name, mark: i + 1, shape: (a as { shape?: ShapeSpec }).shape })) });
    } catch (e) {
      if (!(e instanceof ShapeError)) throw e;
      const line = lineOf(doc, lc, e.path.split('.'));
      throw new ConfigError(file, `${e.path}${line ? ` (line ${line})` : ''}`, e.reason);
    }
  }
  const base = path.dirname(path.resolve(file));
  const sec = <T>(name: MappedSectionName): T => section(raw, name, base) as T;
  return {
    file: path.resolve(file),
    queue: sec('queue'),
    classify: sec('classify'),
    apps: raw.apps ?? {},
    shaping: raw.shaping ?? null,
    flow: sec('flow'),
    endpoints: sec('endpoints'),
    hostHeuristics: localCidrs(file, sec('host_heuristics')),
    reassembly: sec('reassembly'),
    log: sec('log'),
    iptables: sec('iptables'),
    inspect: sec('inspect'),
    parserLimits: parserLimits(raw),
    keywords: sec('keywords'),
    audit: sec('audit'),
    scan: sec('scan'),
    status: sec('status'),
    watchdog: sec('watchdog'),
    flowLog: sec('flow_log'),
    exportPcap: sec('export_pcap'),
    flowExport: collector(file, doc, lc, sec('flow_export')),
    rulesDir: raw.rules?.dir ? path.resolve(base, raw.rules.dir) : path.join(PACKAGE_ROOT, 'rules'),
    origin: { name: file, lines: markLines(doc, lc, raw) },
  };
}

/** The lines of the mark keys the file sets (EffectiveConfig.origin), by key path. */
function markLines(doc: Document, lc: LineCounter, raw: Record<string, any>): Record<string, number> {
  const keys = [['classify', 'unknown_mark'], ['inspect', 'kill_mark'], ['iptables', 'mark_mask'], ...Object.keys(raw.apps ?? {}).map((n) => ['apps', n, 'mark'])];
  const out: Record<string, number> = {};
  for (const k of keys) {
    const line = doc.hasIn(k) ? lineOf(doc, lc, k) : null;
    if (line) out[k.join('.')] = line;
  }
  return out;
}

/** A fresh copy of a default (DEFAULTS is frozen; the effective config is the caller's to change). */
const fresh = (v: unknown): unknown => (Array.isArray(v) ? [...v] : v !== null && typeof v === 'object' ? { ...v } : v);

/**
 * The effective options of section `name` (src/config/schema.ts MAPPED_SECTIONS): each DEFAULTS
 * key of the section, overridden by its YAML key when the file sets it. Paths are resolved against
 * `base`, the config file's folder.
 */
function section(raw: Record<string, any>, name: MappedSectionName, base: string): Record<string, unknown> {
  const { defaults, options } = MAPPED_SECTIONS[name];
  const d = DEFAULTS[defaults] as Record<string, unknown>;
  const r = (raw[name] ?? {}) as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [key, o] of Object.entries(options)) {
    if (o.to === null) continue;
    const v = r[key];
    if (o.how === 'path') out[o.to] = v ? path.resolve(base, v as string) : d[o.to];
    else if (o.how === 'paths') out[o.to] = ((v ?? d[o.to]) as string[]).map((f) => path.resolve(base, f));
    else out[o.to] = v ?? fresh(d[o.to]);
  }
  return out;
}

/** The parser caps the file sets (`inspect.max_*`); absent keys stay undefined (the parsers' defaults). */
function parserLimits(raw: Record<string, any>): EffectiveConfig['parserLimits'] {
  const r = (raw.inspect ?? {}) as Record<string, number | undefined>;
  const out: Partial<Record<ParserLimitKey, number | undefined>> = {};
  for (const [key, o] of Object.entries(MAPPED_SECTIONS.inspect.options)) if (o.to === null) out[o.limit] = r[key];
  return out;
}

/**
 * Reads and validates a config file (`file` undefined = the bundled default).
 * @throws ConfigError if unreadable or invalid
 */
export function loadConfig(file: string | undefined, knownApps: readonly string[]): EffectiveConfig {
  const f = file ?? DEFAULT_CONFIG_FILE;
  const text = readRegularFile(f, DEFAULTS.files.maxConfigBytes, (why) => new ConfigError(f, '', `cannot read: ${why}`)).toString('utf8');
  return parseConfig(text, f, knownApps);
}

/**
 * Checks `flow_export.collector`: `HOST:PORT` (src/config/hostport.ts).
 * @throws ConfigError naming the key, its line and the accepted forms
 */
function collector(file: string, doc: Document, lc: LineCounter, fe: EffectiveConfig['flowExport']): EffectiveConfig['flowExport'] {
  if (fe.collector !== null && !parseHostPort(fe.collector)) {
    const line = lineOf(doc, lc, ['flow_export', 'collector']);
    throw new ConfigError(file, `flow_export.collector${line ? ` (line ${line})` : ''}`, `'${fe.collector}' is not HOST:PORT (e.g. ${HOST_PORT_EXAMPLES})`);
  }
  return fe;
}

/**
 * Checks `host_heuristics.local`: every entry must be an IPv4 or IPv6 prefix (`addr/len`).
 * @throws ConfigError naming the entry
 */
function localCidrs(file: string, h: EffectiveConfig['hostHeuristics']): EffectiveConfig['hostHeuristics'] {
  for (const c of h.localCidrs) {
    try {
      parseCidr(c);
    } catch {
      throw new ConfigError(file, 'host_heuristics.local', `'${c}' is not an address prefix (e.g. 192.168.0.0/16, fd00::/8)`);
    }
  }
  return h;
}
