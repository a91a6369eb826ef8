/**
 * JSON Schema (draft 2020-12 subset, validated with ajv) of the YAML config file. Keys are
 * snake_case as a router owner writes them; src/config/load.ts maps them onto DEFAULTS.
 */
const uint = (max: number) => ({ type: 'integer', minimum: 0, maximum: max }) as const;
const pos = (max: number) => ({ type: 'integer', minimum: 1, maximum: max }) as const;
/** A tc rate: `2mbit`, `512kbit`, … or bits per second as a number (src/enforce/tc-plan.ts parseRate). */
const rate = { anyOf: [{ type: 'string', minLength: 1 }, { type: 'number', exclusiveMinimum: 0 }] } as const;
const iface = {
  type: 'object',
  additionalProperties: false,
  required: ['dev', 'rate'],
  properties: { dev: { type: 'string', minLength: 1, maxLength: 15 }, rate },
} as const;

export const CONFIG_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    queue: {
      type: 'object',
      additionalProperties: false,
      properties: {
        num: uint(65535),
        maxlen: pos(1 << 20),
        fail_open: { type: 'boolean' },
        rcvbuf: pos(1 << 30),
      },
    },
    classify: {
      type: 'object',
      additionalProperties: false,
      properties: {
        packets: pos(1000),
        bytes: pos(1 << 20),
        unknown_mark: uint(0xffffffff),
      },
    },
    apps: {
      type: 'object',
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        properties: {
          action: { enum: ['allow', 'block', 'inspect'] },
          mark: pos(0xfffe),
          shape: { type: 'object', additionalProperties: false, required: ['rate'], properties: { rate, ceil: rate } },
        },
      },
    },
    flow: {
      type: 'object',
      additionalProperties: false,
      properties: {
        max_flows: pos(1 << 24),
        tcp_idle: pos(86400),
        udp_idle: pos(86400),
      },
    },
    reassembly: {
      type: 'object',
      additionalProperties: false,
      properties: {
        max_ooo_bytes: pos(1 << 30),
        max_ooo_segments: pos(1 << 20),
      },
    },
    log: {
      type: 'object',
      additionalProperties: false,
      properties: {
        level: { enum: ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] },
        dest: { enum: ['auto', 'syslog', 'stderr'] },
        facility: {
          enum: ['kern', 'user', 'daemon', 'auth', 'syslog', 'local0', 'local1', 'local2', 'local3', 'local4', 'local5', 'local6', 'local7'],
        },
        socket: { type: 'string', minLength: 1 },
      },
    },
    iptables: {
      type: 'object',
      additionalProperties: false,
      properties: {
        backend: { enum: ['auto', 'legacy', 'nft'] },
        chain: { type: 'string', pattern: '^[A-Za-z][A-Za-z0-9_]{0,20}$' },
      },
    },
    shaping: {
      type: 'object',
      additionalProperties: false,
      properties: {
        wan: iface,
        lan: iface,
        default: { type: 'object', additionalProperties: false, properties: { rate, ceil: rate } },
        leaf: { enum: ['auto', 'fq_codel', 'sfq', 'bfifo', 'pfifo'] },
        classifier: { enum: ['auto', 'classify', 'fw'] },
        chain: { type: 'string', pattern: '^[A-Za-z][A-Za-z0-9_]{0,20}$' },
      },
    },
    inspect: {
      type: 'object',
      additionalProperties: false,
      properties: {
        kill_mark: pos(0xffffffff),
        max_held_per_flow: pos(1 << 20),
        max_held_total: pos(1 << 20),
        hold_timeout_ms: pos(600000),
        scan_timeout_ms: pos(600000),
        pre_buffer: pos(1 << 26),
        max_line: pos(1 << 20),
        max_header: pos(1 << 24),
        max_message: pos(1 << 26),
        max_metadata: pos(1 << 28),
        max_bt_message: pos(1 << 28),
        max_pending_requests: pos(1 << 16),
      },
    },
    keywords: {
      type: 'object',
      additionalProperties: false,
      properties: {
        chat: { type: 'boolean' },
        filenames: { type: 'boolean' },
        lists: {
          type: 'object',
          additionalProperties: { type: 'array', items: { type: 'string', minLength: 1 } },
        },
      },
    },
    audit: {
      type: 'object',
      additionalProperties: false,
      properties: {
        enabled: { type: 'boolean' },
        dir: { type: 'string', minLength: 1 },
        chat: { type: 'boolean' },
        files: { type: 'boolean' },
        quota: pos(Number.MAX_SAFE_INTEGER),
        min_free: uint(Number.MAX_SAFE_INTEGER),
      },
    },
    scan: {
      type: 'object',
      additionalProperties: false,
      properties: {
        enabled: { type: 'boolean' },
        eicar: { type: 'boolean' },
        buffer: { type: 'integer', minimum: 1024, maximum: 131072 },
        workers: pos(64),
        databases: { type: 'array', items: { type: 'string', minLength: 1 } },
        debug_delay_ms: uint(600000),
      },
    },
    flow_log: {
      type: 'object',
      additionalProperties: false,
      properties: {
        dir: { type: 'string', minLength: 1 },
        max_file_bytes: pos(Number.MAX_SAFE_INTEGER),
        max_total_bytes: pos(Number.MAX_SAFE_INTEGER),
        min_free_bytes: uint(Number.MAX_SAFE_INTEGER),
      },
    },
    export_pcap: {
      type: 'object',
      additionalProperties: false,
      properties: {
        max_file_bytes: pos(Number.MAX_SAFE_INTEGER),
        max_total_bytes: pos(Number.MAX_SAFE_INTEGER),
        buffer_packets_per_flow: pos(1 << 20),
        buffer_bytes: pos(Number.MAX_SAFE_INTEGER),
      },
    },
    status: {
      type: 'object',
      additionalProperties: false,
      properties: { socket: { type: 'string', minLength: 1 } },
    },
    rules: {
      type: 'object',
      additionalProperties: false,
      properties: { dir: { type: 'string', minLength: 1 } },
    },
  },
} as const;
