/**
 * The one frozen defaults object (as in pino): every option p2pgw has, with its default value and
 * unit. Config files override these; code reads effective options, never literals.
 */
export const DEFAULTS = Object.freeze({
  queue: Object.freeze({
    /** NFQUEUE number (iptables `--queue-num`). */
    num: 0,
    /** Kernel queue length limit in packets (NFQA_CFG_QUEUE_MAXLEN); the kernel default is 1024. */
    maxlen: 4096,
    /** Accept instead of drop when the kernel queue is full (NFQA_CFG_F_FAIL_OPEN). */
    failOpen: true,
    /** Netlink socket receive buffer, bytes. */
    rcvbuf: 8 * 1024 * 1024,
  }),
  classify: Object.freeze({
    /** Packets per direction looked at before giving up (the kernel queues 2× this per connection). */
    packets: 8,
    /** Payload bytes per direction looked at before giving up. */
    bytes: 2048,
    /** Connmark given to connections the classifier gave up on, so they leave user space early. */
    unknownMark: 0xff,
  }),
  flow: Object.freeze({
    /** Hard cap on tracked flows; the least recently used flow is evicted (event `flow_evicted`). */
    maxFlows: 65536,
    /** Idle timeout for TCP flows, seconds. */
    tcpIdleSec: 300,
    /** Idle timeout for UDP flows, seconds (64 s, the commonly accepted flow timeout). */
    udpIdleSec: 64,
  }),
  reassembly: Object.freeze({
    /** Out-of-order bytes buffered per direction before the stream is given a gap. */
    maxOooBytesPerDir: 64 * 1024,
    /** Out-of-order segments buffered per direction. */
    maxOooSegmentsPerDir: 64,
  }),
  inspect: Object.freeze({
    /** Connmark of connections reset by content management (keyword hit, virus). */
    killMark: 0xfe,
    /** Packets held (no verdict yet) per connection and in total; the kernel queue maxlen bounds both. */
    maxHeldPerFlow: 512,
    maxHeldTotal: 2048,
    /** How long an out-of-order packet waits for its gap, and a connection for its scan, ms. */
    holdTimeoutMs: 2000,
    scanTimeoutMs: 10000,
    /** Stream bytes kept from before classification, per connection, so inspection starts at byte 0. */
    preBufferBytes: 256 * 1024,
  }),
  keywords: Object.freeze({
    /** Check chat messages / requested file names against the keyword lists. */
    chat: true,
    filenames: true,
  }),
  audit: Object.freeze({
    enabled: false,
    dir: '/var/lib/p2pgw/audit',
    chat: true,
    files: true,
    /** Disk quota of stored files, bytes; the oldest are removed first. */
    quotaBytes: 1024 * 1024 * 1024,
    /** Stop storing when the filesystem has less free space than this, bytes. */
    minFreeBytes: 100 * 1024 * 1024,
  }),
  scan: Object.freeze({
    enabled: true,
    /** Ship the EICAR test signature. */
    eicar: true,
    /** Scan buffer per transfer, bytes (1–128 KiB; the thesis found 20–40 KB best). */
    bufferBytes: 32 * 1024,
    /** Scan worker threads. */
    workers: 2,
    /** Test hook: every scan sleeps this long first, ms. */
    debugDelayMs: 0,
  }),
  flowLog: Object.freeze({
    /** Directory of the live flow log (JSON Lines); null = off. */
    dir: null as string | null,
    /** Rotation size of one file, and the cap on all files (oldest removed first), bytes. */
    maxFileBytes: 16 * 1024 * 1024,
    maxTotalBytes: 256 * 1024 * 1024,
    /** Stop writing (counted) when the filesystem has less free space than this, bytes. */
    minFreeBytes: 64 * 1024 * 1024,
  }),
  exportPcap: Object.freeze({
    /** Per-application capture file cap and total cap, bytes. */
    maxFileBytes: 64 * 1024 * 1024,
    maxTotalBytes: 512 * 1024 * 1024,
    /** Packets kept per flow until it is classified, and bytes kept over all such flows. */
    bufferPacketsPerFlow: 64,
    bufferBytes: 8 * 1024 * 1024,
  }),
  status: Object.freeze({
    /** Unix socket `p2pgw status` talks to (mode 0600). */
    socket: '/run/p2pgw.sock',
  }),
  log: Object.freeze({
    /** pino level: trace, debug, info, warn, error, fatal. */
    level: 'info',
    /** Where verdict lines go: `auto` = syslog (/dev/log) in live mode, stderr in replay. */
    dest: 'auto' as 'auto' | 'syslog' | 'stderr',
    /** syslog facility name. */
    facility: 'daemon',
    /** syslog socket path. */
    syslogSocket: '/dev/log',
  }),
  iptables: Object.freeze({
    /** `auto` detects the backend in use; `legacy` or `nft` forces one. */
    backend: 'auto' as 'auto' | 'legacy' | 'nft',
    /** Name of our chains (mangle and filter). */
    chain: 'P2PGW',
  }),
});

export type Defaults = typeof DEFAULTS;
