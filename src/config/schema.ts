/**
 * The YAML config file's options, each spelled once: per section, every key (snake_case, as a
 * router owner writes it) with its JSON Schema and the DEFAULTS key (src/core/defaults.ts) it
 * overrides. Both the JSON Schema (CONFIG_SCHEMA, draft 2020-12 subset, validated with ajv) and the
 * mapping onto DEFAULTS (src/config/load.ts) are generated from this table; default values live
 * only in DEFAULTS.
 */
import { DEFAULTS, type PARSER_LIMITS } from '../core/defaults.js';

type Defaults = typeof DEFAULTS;
/** A JSON Schema fragment. */
type Schema = { readonly [k: string]: unknown };

/** Caps of the stream parsers (EffectiveConfig.parserLimits), set from `inspect:` keys; defaults: PARSER_LIMITS. */
export type ParserLimitKey = keyof typeof PARSER_LIMITS;

/**
 * One key of a section. `to`: the DEFAULTS key it overrides (`how` path: a path relative to the
 * config file's folder, paths: a list of them); or null with `limit`: a parser cap, whose default
 * is in PARSER_LIMITS (absent = the parsers keep it).
 */
export type ConfigOption<S extends keyof Defaults> =
  | { readonly to: keyof Defaults[S] & string; readonly schema: Schema; readonly how?: 'path' | 'paths' }
  | { readonly to: null; readonly schema: Schema; readonly limit: ParserLimitKey };

/** A section that maps onto DEFAULTS[defaults]. */
export interface MappedSection<S extends keyof Defaults = keyof Defaults> {
  readonly defaults: S;
  readonly options: { readonly [yamlKey: string]: ConfigOption<S> };
  readonly schema: Schema;
}

const uint = (max: number) => ({ type: 'integer', minimum: 0, maximum: max }) as const;
const pos = (max: number) => ({ type: 'integer', minimum: 1, maximum: max }) as const;
const BOOL = { type: 'boolean' } as const;
const STRING = { type: 'string', minLength: 1 } as const;
/** Our iptables chain names (iptables allows 28 characters; ours stay short). */
const CHAIN = { type: 'string', pattern: '^[A-Za-z][A-Za-z0-9_]{0,20}$' } as const;
/** A tc rate: `2mbit`, `512kbit`, … or bits per second as a number (src/enforce/tc-parse.ts parseRate). */
const rate = { anyOf: [{ type: 'string', minLength: 1 }, { type: 'number', exclusiveMinimum: 0 }] } as const;
const iface = {
  type: 'object',
  additionalProperties: false,
  required: ['dev', 'rate'],
  properties: { dev: { type: 'string', minLength: 1, maxLength: 15 }, rate },
} as const;

/** A closed object (no unknown keys) with these properties. */
const object = (properties: Schema): Schema => ({ type: 'object', additionalProperties: false, properties });

/** A key that overrides DEFAULTS[section][to]. */
const opt = <K extends string>(to: K, schema: Schema, how?: 'path' | 'paths') => (how ? { to, schema, how } : { to, schema });
/** A parser cap (EffectiveConfig.parserLimits). */
const limit = (name: ParserLimitKey, schema: Schema) => ({ to: null, schema, limit: name });

function mapped<S extends keyof Defaults>(defaults: S, options: { [yamlKey: string]: ConfigOption<S> }): MappedSection<S> {
  const properties: Record<string, Schema> = {};
  for (const [key, o] of Object.entries(options)) properties[key] = o.schema;
  return { defaults, options, schema: object(properties) };
}

/** The sections that map onto DEFAULTS, by YAML name, in the file's order. */
export const MAPPED_SECTIONS = {
  queue: mapped('queue', {
    num: opt('num', uint(65535)),
    maxlen: opt('maxlen', pos(1 << 20)),
    fail_open: opt('failOpen', BOOL),
    rcvbuf: opt('rcvbuf', pos(1 << 30)),
    fail_open_poll: opt('failOpenPollSec', uint(3600)),
    binding: opt('binding', { enum: ['batch', 'nfqueue'] }),
    gso: opt('gso', BOOL),
    batch: opt('batch', pos(4096)),
    send_thread: opt('sendThread', BOOL),
  }),
  classify: mapped('classify', {
    packets: opt('packets', pos(1000)),
    bytes: opt('bytes', pos(1 << 20)),
    unknown_mark: opt('unknownMark', uint(0xffffffff)),
  }),
  flow: mapped('flow', {
    max_flows: opt('maxFlows', pos(1 << 24)),
    tcp_idle: opt('tcpIdleSec', pos(86400)),
    udp_idle: opt('udpIdleSec', pos(86400)),
  }),
  endpoints: mapped('endpoints', {
    size: opt('size', uint(1 << 24)),
    ttl: opt('ttlSec', pos(7 * 86400)),
    sources: opt('sources', { type: 'array', uniqueItems: true, items: { enum: [...DEFAULTS.endpoints.sources] } }),
    learn_packets: opt('learnPackets', uint(1000)),
    share_backlog: opt('shareBacklog', uint(1 << 20)),
  }),
  host_heuristics: mapped('hostHeuristics', {
    enabled: opt('enabled', { type: 'boolean' }),
    local: opt('localCidrs', { type: 'array', maxItems: 256, items: { type: 'string', maxLength: 64 } }),
    window: opt('windowSec', pos(86400)),
    tcp_udp_min_peers: opt('tcpUdpMinPeers', pos(1 << 16)),
    ip_port_min_peers: opt('endpointMinPeers', pos(1 << 16)),
    ip_port_max_diff: opt('endpointMaxDiff', uint(1 << 16)),
    max_hosts: opt('maxHosts', pos(1 << 24)),
    max_remotes_per_host: opt('maxRemotesPerHost', pos(1 << 20)),
    max_endpoints_per_host: opt('maxEndpointsPerHost', pos(1 << 20)),
    max_peers_per_endpoint: opt('maxPeersPerEndpoint', pos(1 << 20)),
  }),
  reassembly: mapped('reassembly', {
    max_ooo_bytes: opt('maxOooBytesPerDir', pos(1 << 30)),
    max_ooo_segments: opt('maxOooSegmentsPerDir', pos(1 << 20)),
  }),
  log: mapped('log', {
    level: opt('level', { enum: ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] }),
    dest: opt('dest', { enum: ['auto', 'syslog', 'stderr'] }),
    facility: opt('facility', {
      enum: ['kern', 'user', 'daemon', 'auth', 'syslog', 'local0', 'local1', 'local2', 'local3', 'local4', 'local5', 'local6', 'local7'],
    }),
    socket: opt('syslogSocket', STRING),
  }),
  iptables: mapped('iptables', {
    backend: opt('backend', { enum: ['auto', 'legacy', 'nft'] }),
    chain: opt('chain', CHAIN),
    mark_mask: opt('markMask', pos(0xffffffff)),
  }),
  inspect: mapped('inspect', {
    kill_mark: opt('killMark', pos(0xffffffff)),
    max_held_per_flow: opt('maxHeldPerFlow', pos(1 << 20)),
    max_held_total: opt('maxHeldTotal', pos(1 << 20)),
    hold_timeout_ms: opt('holdTimeoutMs', pos(600000)),
    scan_timeout_ms: opt('scanTimeoutMs', pos(600000)),
    pre_buffer: opt('preBufferBytes', pos(1 << 26)),
    lost_state: opt('lostState', { enum: ['reset', 'pass'] }),
    max_line: limit('maxLine', pos(1 << 20)),
    max_header: limit('maxHead', pos(1 << 24)),
    max_message: limit('maxMessage', pos(1 << 26)),
    max_metadata: limit('maxMetadata', pos(1 << 28)),
    max_bt_message: limit('maxBtMessage', pos(1 << 28)),
    max_pending_requests: limit('maxPendingRequests', pos(1 << 16)),
  }),
  keywords: mapped('keywords', {
    chat: opt('chat', BOOL),
    filenames: opt('filenames', BOOL),
    lists: opt('lists', { type: 'object', additionalProperties: { type: 'array', items: STRING } }),
  }),
  audit: mapped('audit', {
    enabled: opt('enabled', BOOL),
    dir: opt('dir', STRING, 'path'),
    chat: opt('chat', BOOL),
    files: opt('files', BOOL),
    quota: opt('quotaBytes', pos(Number.MAX_SAFE_INTEGER)),
    min_free: opt('minFreeBytes', uint(Number.MAX_SAFE_INTEGER)),
  }),
  scan: mapped('scan', {
    enabled: opt('enabled', BOOL),
    eicar: opt('eicar', BOOL),
    buffer: opt('bufferBytes', { type: 'integer', minimum: 1024, maximum: 131072 }),
    workers: opt('workers', pos(64)),
    worker_respawns: opt('workerRespawns', uint(1000)),
    databases: opt('databases', { type: 'array', items: STRING }, 'paths'),
    debug_delay_ms: opt('debugDelayMs', uint(600000)),
  }),
  flow_log: mapped('flowLog', {
    dir: opt('dir', STRING, 'path'),
    max_file_bytes: opt('maxFileBytes', pos(Number.MAX_SAFE_INTEGER)),
    max_total_bytes: opt('maxTotalBytes', pos(Number.MAX_SAFE_INTEGER)),
    min_free_bytes: opt('minFreeBytes', uint(Number.MAX_SAFE_INTEGER)),
  }),
  export_pcap: mapped('exportPcap', {
    max_file_bytes: opt('maxFileBytes', pos(Number.MAX_SAFE_INTEGER)),
    max_total_bytes: opt('maxTotalBytes', pos(Number.MAX_SAFE_INTEGER)),
    buffer_packets_per_flow: opt('bufferPacketsPerFlow', pos(1 << 20)),
    buffer_bytes: opt('bufferBytes', pos(Number.MAX_SAFE_INTEGER)),
  }),
  flow_export: mapped('flowExport', {
    collector: opt('collector', STRING),
    transport: opt('transport', { enum: ['udp', 'tcp'] }),
    template_refresh: opt('templateRefreshSec', pos(86400)),
    observation_domain: opt('observationDomain', pos(0xffffffff)),
    active_timeout: opt('activeTimeoutSec', pos(86400)),
    idle_timeout: opt('idleTimeoutSec', pos(86400)),
    queue: opt('queue', pos(1 << 24)),
  }),
  status: mapped('status', {
    socket: opt('socket', STRING),
  }),
  watchdog: mapped('watchdog', {
    timeout_ms: opt('timeoutMs', uint(600000)),
    poll_ms: opt('pollMs', { type: 'integer', minimum: 10, maximum: 10000 }),
  }),
} as const;

export type MappedSectionName = keyof typeof MAPPED_SECTIONS;

const m = MAPPED_SECTIONS;

/** JSON Schema of the whole file; sections in the order the README documents them. */
export const CONFIG_SCHEMA = object({
  queue: m.queue.schema,
  classify: m.classify.schema,
  apps: {
    type: 'object',
    additionalProperties: object({
      action: { enum: ['allow', 'block', 'inspect'] },
      mark: pos(0xfffe),
      shape: { type: 'object', additionalProperties: false, required: ['rate'], properties: { rate, ceil: rate } },
    }),
  },
  flow: m.flow.schema,
  endpoints: m.endpoints.schema,
  host_heuristics: m.host_heuristics.schema,
  reassembly: m.reassembly.schema,
  log: m.log.schema,
  iptables: m.iptables.schema,
  /** Passed to src/enforce/tc-plan.ts planShaping, which applies DEFAULTS.shaping. */
  shaping: object({
    wan: iface,
    lan: iface,
    default: object({ rate, ceil: rate }),
    leaf: { enum: ['auto', 'fq_codel', 'sfq', 'bfifo', 'pfifo'] },
    classifier: { enum: ['auto', 'classify', 'fw'] },
    chain: CHAIN,
  }),
  inspect: m.inspect.schema,
  keywords: m.keywords.schema,
  audit: m.audit.schema,
  scan: m.scan.schema,
  flow_log: m.flow_log.schema,
  export_pcap: m.export_pcap.schema,
  flow_export: m.flow_export.schema,
  status: m.status.schema,
  watchdog: m.watchdog.schema,
  /** `rules.dir`: default the package's rules/ (src/config/load.ts). */
  rules: object({ dir: STRING }),
});
