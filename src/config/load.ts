/**
 * Config loading: YAML (the `yaml` package) validated with a JSON Schema (ajv), merged over the
 * frozen DEFAULTS. Errors give the file, the key path, the line and the reason, e.g.
 * `p2pgw.yaml: apps.bittorrent.action (line 4): must be one of allow, block, inspect`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv, type ErrorObject } from 'ajv';
import { LineCounter, parseDocument, isMap, type Document } from 'yaml';
import { DEFAULTS } from '../core/defaults.js';
import { ConfigError } from '../core/errors.js';
import { CONFIG_SCHEMA } from './schema.js';
import type { Action } from '../apps/rules.js';
import { planShaping, type ShapeSpec, type ShapingConfig } from '../enforce/tc-plan.js';
import { ShapeError } from '../enforce/tc-parse.js';

/** The package root (works from src/ under vitest and from dist/). */
export const PACKAGE_ROOT = path.resolve(fileURLToPath(new URL('../..', import.meta.url)));
/** The bundled default config: allows everything and only marks. */
export const DEFAULT_CONFIG_FILE = path.join(PACKAGE_ROOT, 'rules', 'default.yaml');

export interface EffectiveConfig {
  /** Absolute path of the file read. */
  file: string;
  queue: { num: number; maxlen: number; failOpen: boolean; rcvbuf: number };
  classify: { packets: number; bytes: number; unknownMark: number };
  /** Per-application overrides of the rules' action and mark, and the app's shaping. */
  apps: Record<string, { action?: Action; mark?: number; shape?: ShapeSpec }>;
  /** Per-application bandwidth shaping (tc HTB), or null when not configured. */
  shaping: ShapingConfig | null;
  flow: { maxFlows: number; tcpIdleSec: number; udpIdleSec: number };
  reassembly: { maxOooBytesPerDir: number; maxOooSegmentsPerDir: number };
  log: { level: string; dest: 'auto' | 'syslog' | 'stderr'; facility: string; syslogSocket: string };
  iptables: { backend: 'auto' | 'legacy' | 'nft'; chain: string };
  inspect: { killMark: number; maxHeldPerFlow: number; maxHeldTotal: number; holdTimeoutMs: number; scanTimeoutMs: number; preBufferBytes: number };
  /** Caps of the stream parsers (src/apps/parse/lines.ts INSPECT_LIMITS); absent keys keep the defaults. */
  parserLimits: { maxLine?: number; maxHead?: number; maxMessage?: number; maxMetadata?: number; maxBtMessage?: number; maxPendingRequests?: number };
  keywords: { chat: boolean; filenames: boolean; lists: Record<string, string[]> };
  audit: { enabled: boolean; dir: string; chat: boolean; files: boolean; quotaBytes: number; minFreeBytes: number };
  /** `databases`: ClamAV `.ndb` files, absolute paths. */
  scan: { enabled: boolean; eicar: boolean; bufferBytes: number; workers: number; databases: string[]; debugDelayMs: number };
  status: { socket: string };
  /** Live flow log; `dir` null = off. */
  flowLog: { dir: string | null; maxFileBytes: number; maxTotalBytes: number; minFreeBytes: number };
  /** Caps of `--export-pcap`. */
  exportPcap: { maxFileBytes: number; maxTotalBytes: number; bufferPacketsPerFlow: number; bufferBytes: number };
  /** Directory of `*.rules` files. */
  rulesDir: string;
}

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
  const raw = (doc.toJS() ?? {}) as Record<string, any>;
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
  const d = DEFAULTS;
  const q = raw.queue ?? {}, c = raw.classify ?? {}, f = raw.flow ?? {}, r = raw.reassembly ?? {};
  const l = raw.log ?? {}, i = raw.iptables ?? {};
  const ins = raw.inspect ?? {}, kw = raw.keywords ?? {}, au = raw.audit ?? {}, sc = raw.scan ?? {};
  const base = path.dirname(path.resolve(file));
  return {
    file: path.resolve(file),
    queue: { num: q.num ?? d.queue.num, maxlen: q.maxlen ?? d.queue.maxlen, failOpen: q.fail_open ?? d.queue.failOpen, rcvbuf: q.rcvbuf ?? d.queue.rcvbuf },
    classify: { packets: c.packets ?? d.classify.packets, bytes: c.bytes ?? d.classify.bytes, unknownMark: c.unknown_mark ?? d.classify.unknownMark },
    apps: raw.apps ?? {},
    shaping: raw.shaping ?? null,
    flow: { maxFlows: f.max_flows ?? d.flow.maxFlows, tcpIdleSec: f.tcp_idle ?? d.flow.tcpIdleSec, udpIdleSec: f.udp_idle ?? d.flow.udpIdleSec },
    reassembly: {
      maxOooBytesPerDir: r.max_ooo_bytes ?? d.reassembly.maxOooBytesPerDir,
      maxOooSegmentsPerDir: r.max_ooo_segments ?? d.reassembly.maxOooSegmentsPerDir,
    },
    log: { level: l.level ?? d.log.level, dest: l.dest ?? d.log.dest, facility: l.facility ?? d.log.facility, syslogSocket: l.socket ?? d.log.syslogSocket },
    iptables: { backend: i.backend ?? d.iptables.backend, chain: i.chain ?? d.iptables.chain },
    inspect: {
      killMark: ins.kill_mark ?? d.inspect.killMark,
      maxHeldPerFlow: ins.max_held_per_flow ?? d.inspect.maxHeldPerFlow,
      maxHeldTotal: ins.max_held_total ?? d.inspect.maxHeldTotal,
      holdTimeoutMs: ins.hold_timeout_ms ?? d.inspect.holdTimeoutMs,
      scanTimeoutMs: ins.scan_timeout_ms ?? d.inspect.scanTimeoutMs,
      preBufferBytes: ins.pre_buffer ?? d.inspect.preBufferBytes,
    },
    parserLimits: {
      maxLine: ins.max_line, maxHead: ins.max_header, maxMessage: ins.max_message,
      maxMetadata: ins.max_metadata, maxBtMessage: ins.max_bt_message, maxPendingRequests: ins.max_pending_requests,
    },
    keywords: { chat: kw.chat ?? d.keywords.chat, filenames: kw.filenames ?? d.keywords.filenames, lists: kw.lists ?? {} },
    audit: {
      enabled: au.enabled ?? d.audit.enabled,
      dir: au.dir ? path.resolve(base, au.dir) : d.audit.dir,
      chat: au.chat ?? d.audit.chat,
      files: au.files ?? d.audit.files,
      quotaBytes: au.quota ?? d.audit.quotaBytes,
      minFreeBytes: au.min_free ?? d.audit.minFreeBytes,
    },
    scan: {
      enabled: sc.enabled ?? d.scan.enabled,
      eicar: sc.eicar ?? d.scan.eicar,
      bufferBytes: sc.buffer ?? d.scan.bufferBytes,
      workers: sc.workers ?? d.scan.workers,
      databases: (sc.databases ?? []).map((f: string) => path.resolve(base, f)),
      debugDelayMs: sc.debug_delay_ms ?? d.scan.debugDelayMs,
    },
    status: { socket: raw.status?.socket ?? d.status.socket },
    flowLog: {
      dir: raw.flow_log?.dir ? path.resolve(base, raw.flow_log.dir) : d.flowLog.dir,
      maxFileBytes: raw.flow_log?.max_file_bytes ?? d.flowLog.maxFileBytes,
      maxTotalBytes: raw.flow_log?.max_total_bytes ?? d.flowLog.maxTotalBytes,
      minFreeBytes: raw.flow_log?.min_free_bytes ?? d.flowLog.minFreeBytes,
    },
    exportPcap: {
      maxFileBytes: raw.export_pcap?.max_file_bytes ?? d.exportPcap.maxFileBytes,
      maxTotalBytes: raw.export_pcap?.max_total_bytes ?? d.exportPcap.maxTotalBytes,
      bufferPacketsPerFlow: raw.export_pcap?.buffer_packets_per_flow ?? d.exportPcap.bufferPacketsPerFlow,
      bufferBytes: raw.export_pcap?.buffer_bytes ?? d.exportPcap.bufferBytes,
    },
    rulesDir: raw.rules?.dir ? path.resolve(base, raw.rules.dir) : path.join(PACKAGE_ROOT, 'rules'),
  };
}

/**
 * Reads and validates a config file (`file` undefined = the bundled default).
 * @throws ConfigError if unreadable or invalid
 */
export function loadConfig(file: string | undefined, knownApps: readonly string[]): EffectiveConfig {
  const f = file ?? DEFAULT_CONFIG_FILE;
  let text: string;
  try {
    text = fs.readFileSync(f, 'utf8');
  } catch (err) {
    throw new ConfigError(f, '', `cannot read: ${(err as Error).message}`);
  }
  return parseConfig(text, f, knownApps);
}
