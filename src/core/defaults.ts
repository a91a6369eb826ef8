/**
 * The one frozen defaults object (as in pino): every option p2pgw has, with its default value and
 * unit. The config file overrides the sections it has (src/config/schema.ts maps each YAML key onto
 * one key here), command-line options override `sink` and `analyze`; `shaping` also holds the fixed
 * numbers of the HTB tree. Code reads effective options or these, never literals.
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
    /**
     * Seconds between reads of our NFQUEUE rules' packet counters, which tell how many packets the
     * kernel let through unqueued on a full queue (fail-open; /proc does not count them); 0 = never.
     */
    failOpenPollSec: 5,
    /** Binding: `batch` (p2pgw's addon, src/capture/nfq-batch.ts) or `nfqueue` (the patched npm binding). */
    binding: 'batch' as 'batch' | 'nfqueue',
    /** NFQA_CFG_F_GSO: GSO super-packets are queued whole (batch binding). */
    gso: true,
    /** Most packets handed to JavaScript per batch (batch binding). */
    batch: 64,
    /**
     * Verdicts are sent by a thread of the queue's own (batch binding, src/capture/native/tx.c): the
     * kernel forwards the released packets inside that sendmsg on another core, beside JavaScript.
     */
    sendThread: true,
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
  /** Endpoint knowledge (issue 12): peer endpoints learned from classified traffic (src/flow/endpoints.ts). */
  endpoints: Object.freeze({
    /** Most endpoints kept (LRU; a full table evicts the least recently used, event `endpoint_evicted`); 0 = off. */
    size: 65536,
    /** Lifetime of a learned endpoint, seconds (refreshed when it is learned again). */
    ttlSec: 1800,
    /** Where endpoints may be learned from: classified flows, announced listen ports, DHT, trackers, PEX, LSD, eD2k server source answers and server lists, Kad. */
    sources: Object.freeze(['flow', 'listen-port', 'dht', 'tracker', 'udp-tracker', 'pex', 'lsd', 'ed2k-server', 'ed2k-serverlist', 'kad']) as readonly string[],
    /**
     * Packets (both directions) of a classified connection still queued to the daemon for learning
     * (tracker and DHT replies follow the packet that classified the flow); 0 = none.
     */
    learnPackets: 16,
    /**
     * `--queues N`: endpoints learned by one queue worker and not yet sent to the others, and
     * entries the supervisor has in flight to one worker; beyond it they are dropped (event
     * `endpoint_share_dropped`); 0 = the workers do not share (src/runtime/endpoint-share.ts).
     */
    shareBacklog: 4096,
  }),
  /**
   * Host heuristics (issue 12; Karagiannis et al., IMC 2004; src/flow/hosts.ts): an inside host
   * seen doing P2P gets its otherwise unclassified flows labelled with the generic `p2p` application.
   */
  hostHeuristics: Object.freeze({
    enabled: true,
    /** Inside address prefixes: RFC 1918, RFC 6598 shared space, RFC 4193 unique local. */
    localCidrs: Object.freeze(['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', 'fc00::/7']) as readonly string[],
    /** Sliding window, seconds: older evidence is forgotten; a flag lasts this long after the last evidence. */
    windowSec: 300,
    /** Rule 1: remote IPs that use both TCP and UDP with the host (well-known services excluded). */
    tcpUdpMinPeers: 3,
    /** Rule 2: distinct peer IPs an endpoint needs before its IP and port counts are compared. */
    endpointMinPeers: 5,
    /** Rule 2: largest |distinct peer IPs − distinct peer ports| still "close". */
    endpointMaxDiff: 2,
    /** Caps (each hit is a counted event): inside hosts, remote IPs per host, endpoints per host, peers per endpoint. */
    maxHosts: 4096,
    maxRemotesPerHost: 512,
    maxEndpointsPerHost: 64,
    maxPeersPerEndpoint: 256,
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
    /**
     * An inspected connection whose state was lost (its flow evicted, or the daemon restarted):
     * `reset` it, or `pass` it uninspected; both counted and logged (src/runtime/lost-state.ts).
     */
    lostState: 'reset' as 'reset' | 'pass',
  }),
  keywords: Object.freeze({
    /** Check chat messages / requested file names against the keyword lists. */
    chat: true,
    filenames: true,
    /** Keyword lists by name (none). */
    lists: Object.freeze({}) as Readonly<Record<string, readonly string[]>>,
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
    /** Scan worker threads (started at the first scan: none while nothing is scanned). */
    workers: 2,
    /** New threads for scan workers that die, over the daemon's life; then a dead worker's scans fail open. */
    workerRespawns: 10,
    /** ClamAV `.ndb`/`.hdb`/`.hsb`/`.pat` files or one compiled `.p2pgwdb`, relative to the config file (none). */
    databases: Object.freeze([]) as readonly string[],
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
  /**
   * IPFIX flow export (RFC 7011; src/observe/ipfix/): flow records with application labels to a
   * collector (nfcapd, nfacctd, …). `run --ipfix` and `replay --ipfix` set the collector too.
   */
  flowExport: Object.freeze({
    /** Collector `HOST:PORT` (IPv6 in brackets); null = no export. */
    collector: null as string | null,
    /** `udp` (RFC 7011 §10.3) or `tcp` (§10.4). */
    transport: 'udp' as 'udp' | 'tcp',
    /** UDP: Templates and the application table are sent again this often, seconds (§8.4). */
    templateRefreshSec: 300,
    /** Observation Domain ID of every Message (0 is reserved, §3.1). */
    observationDomain: 1,
    /** A running flow is reported at least this often, seconds (NetFlow's active timeout). */
    activeTimeoutSec: 300,
    /** A flow without packets for this long is reported, seconds (NetFlow's inactive timeout). */
    idleTimeoutSec: 15,
    /** Flow records waiting to be sent at most; a full queue drops (counter `ipfix_dropped`). */
    queue: 8192,
  }),
  status: Object.freeze({
    /** Unix socket `p2pgw status` talks to (mode 0600). */
    socket: '/run/p2pgw.sock',
  }),
  /**
   * Largest input files read whole (src/core/files.ts readRegularFile), bytes: larger ones, and
   * anything that is not a regular file (FIFO, device, directory), are refused before reading.
   */
  files: Object.freeze({
    /** The YAML config. */
    maxConfigBytes: 16 * 1024 * 1024,
    /** One `rules/*.rules` file. */
    maxRulesBytes: 64 * 1024 * 1024,
    /** One signature database (`.ndb`, `.hdb`, `.hsb`, `.pat`, `.p2pgwdb`). */
    maxSignatureBytes: 1024 * 1024 * 1024,
    /** One capture file given to `replay`, `profile` or `analyze` (held in memory while read; Node's own cap is 2 GiB − 1). */
    maxCaptureBytes: 2 * 1024 * 1024 * 1024 - 1,
    /** One flow-record or collector export (JSON Lines, CSV, JSON) given to `profile` or `analyze` (read as one string). */
    maxRecordBytes: 256 * 1024 * 1024,
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
  /** The watchdog process (src/runtime/watchdog.ts): lifts the queue rules while the daemon's main thread is stalled. */
  watchdog: Object.freeze({
    /** Heartbeats missing this long, ms, lift the rules (new connections bypass the queue); 0 = no watchdog. */
    timeoutMs: 1500,
    /** Interval of heartbeats and of the watchdog's checks, ms; at most a sixth of the timeout is used. */
    pollMs: 250,
  }),
  iptables: Object.freeze({
    /** `auto` detects the backend in use; `legacy` or `nft` forces one. */
    backend: 'auto' as 'auto' | 'legacy' | 'nft',
    /** Name of our chains (mangle and filter). */
    chain: 'P2PGW',
    /**
     * The bits of the packet mark and connmark that are ours (`iptables.mark_mask`): every mark
     * p2pgw sets must fit in it, and our rules match, save, restore and set only these bits, so
     * marks of other tools (mwan3, QoS scripts) in the other bits are neither saved as ours nor
     * cleared. The default leaves bits 8–31 to them.
     */
    markMask: 0xff,
  }),
  /** The `shaping:` section's defaults, and the fixed parts of the HTB tree (layout in src/enforce/tc.ts) and its tuning. */
  shaping: Object.freeze({
    /** Our mangle chain, hooked into POSTROUTING (`shaping.chain`). */
    chain: 'P2PGW_TC',
    /** Major number of the root HTB qdisc (CLASSIFY targets `1:<mark>`). */
    major: 1,
    /** Minor of the link class (parent of all others). */
    linkMinor: 0xffff,
    /** Minor of the default class (HTB `default`). */
    defaultMinor: 0xfffe,
    /** HTB burst/cburst as time at rate/ceil, µs (as sqm-scripts do), at least `minBurstBytes`. */
    burstUs: 1000,
    minBurstBytes: 1600,
    /** HTB quantum = rate / r2q (r2q 10, tc-htb(8)), kept within [1600, 200000] bytes. */
    r2q: 10,
    /** bfifo leaf limit: this much queueing at the class's ceil, ms, at least `minFifoBytes` (3 GSO packets). */
    fifoMs: 100,
    minFifoBytes: 3 * 65536,
  }),
  /** `p2pgw sink` (src/collect/collector.ts). */
  sink: Object.freeze({
    /** Listener ports the requests are DNATed to (`--tcp-port`, `--udp-port`). */
    tcpPort: 7999,
    udpPort: 7999,
    /** Tc: a request ends after this long without data, seconds (`--idle`). */
    idleSec: 30,
    /** Bytes kept per request (its head, classified and reported). */
    keepBytes: 2048,
    /** Open TCP connections at most (more are dropped by Node and counted). */
    maxConnections: 4096,
    /** Open UDP requests at most (the oldest is ended early). */
    maxUdpRequests: 65536,
  }),
  /** `p2pgw analyze` (src/tools/analyze/analyze.ts). */
  analyze: Object.freeze({
    /** Slot length ΔT, seconds (`--slot`). */
    slotSec: 300,
    /** Target noise fraction of the DBSCAN parameter search (`--noise`; band target/3 .. 5·target/3). */
    noise: 0.06,
    /** Metrics with fewer defined samples are not clustered (`--min-samples`). */
    minSamples: 10,
    /** Histogram bins per metric in the report. */
    histogramBins: 40,
    /** Thresholds of the domain rules (src/tools/analyze/rules-common.ts RuleOptions). */
    rules: Object.freeze({
      reservedMaxPort: 1023,
      reservedMinFlows: 5,
      unansweredMinFraction: 0.8,
      unansweredMinIncoming: 5,
      selfishMaxRatio: -0.9,
      selfishMinBytes: 1_000_000,
      repeatedMinConn: 2,
      aggressiveMinMetrics: 5,
      minSlots: 3,
      minShare: 0.5,
    }),
  }),
});

/**
 * Default caps of the stream parsers (src/apps/parse/): the config's `inspect.max_line`,
 * `max_header`, `max_message`, `max_metadata`, `max_bt_message` and `max_pending_requests`
 * override them, one by one; a key the config leaves out keeps this value. A recipient may bound
 * line and section lengths (RFC 9112 §2.3, §5); a cap that is hit is a named weird and stops
 * inspecting that direction (fail open).
 */
export const PARSER_LIMITS = Object.freeze({
  /** One line (request/status/field/chunk-size line, MSNP command), octets without CRLF (RFC 9112 §3 recommends ≥ 8000). */
  maxLine: 8 * 1024,
  /** One header or trailer section (all lines with their line ends), octets. */
  maxHead: 64 * 1024,
  /** One buffered message (MSNP MSG payload, BitTorrent extended message), octets. */
  maxMessage: 64 * 1024,
  /** BitTorrent torrent metadata (BEP 9 info dictionary), octets. */
  maxMetadata: 1024 * 1024,
  /** Any BitTorrent peer-wire message (BEP 3), octets; longer is no peer-wire message. */
  maxBtMessage: 4 * 1024 * 1024,
  /** HTTP requests waiting for their responses (pipelining, RFC 9112 §9.3.2). */
  maxPendingRequests: 256,
});
