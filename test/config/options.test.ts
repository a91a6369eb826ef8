/**
 * The option table (src/config/schema.ts MAPPED_SECTIONS) is the one place a config key is spelled:
 * the JSON Schema and the mapping onto DEFAULTS are generated from it. These tests pin that every
 * DEFAULTS option of a section has exactly one YAML key, that a key the file leaves out keeps its
 * DEFAULTS value, and that a key the file sets reaches the effective config.
 */
import path from 'node:path';
import { describe, it, expect } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { CONFIG_SCHEMA, MAPPED_SECTIONS, type MappedSectionName } from '../../src/config/schema.js';
import { DEFAULTS, PARSER_LIMITS } from '../../src/core/defaults.js';

const KNOWN = ['bittorrent'];
const sections = Object.entries(MAPPED_SECTIONS) as [MappedSectionName, (typeof MAPPED_SECTIONS)[MappedSectionName]][];
/** EffectiveConfig key of each mapped section (the DEFAULTS section name). */
const effectiveKey = (name: MappedSectionName) => MAPPED_SECTIONS[name].defaults;

describe('config option table', () => {
  it('every DEFAULTS option of a mapped section is set by exactly one YAML key', () => {
    for (const [name, s] of sections) {
      const targets = Object.values(s.options).flatMap((o) => (o.to === null ? [] : [o.to]));
      expect(new Set(targets).size, `${name}: a DEFAULTS key set twice`).toBe(targets.length);
      expect(targets.sort(), name).toEqual(Object.keys(DEFAULTS[s.defaults]).sort());
    }
    const limits = sections.flatMap(([, s]) => Object.values(s.options).flatMap((o) => (o.to === null ? [o.limit] : [])));
    expect(limits.sort(), 'inspect.max_* set every PARSER_LIMITS cap').toEqual(Object.keys(PARSER_LIMITS).sort());
  });

  it('the schema has exactly the table keys of each mapped section, closed against unknown keys', () => {
    const props = (CONFIG_SCHEMA as { properties: Record<string, { additionalProperties: unknown; properties: object }> }).properties;
    for (const [name, s] of sections) {
      expect(props[name].additionalProperties, name).toBe(false);
      expect(Object.keys(props[name].properties), name).toEqual(Object.keys(s.options));
    }
  });

  it('an empty file gives DEFAULTS, as fresh copies', () => {
    const a = parseConfig('', '/etc/p2pgw/p2pgw.yaml', KNOWN);
    const b = parseConfig('', '/etc/p2pgw/p2pgw.yaml', KNOWN);
    for (const [name] of sections) expect((a as unknown as Record<string, unknown>)[effectiveKey(name)], name).toEqual(DEFAULTS[effectiveKey(name)]);
    expect(a.parserLimits).toEqual({});
    expect(a.keywords.lists).not.toBe(b.keywords.lists);
    expect(Object.isFrozen(a.keywords.lists)).toBe(false);
    expect(Object.isFrozen(a.scan.databases)).toBe(false);
  });

  it('every key the file sets reaches the effective config (paths relative to the file)', () => {
    const yaml = [
      'queue: {num: 3, maxlen: 2048, fail_open: false, rcvbuf: 4194304, fail_open_poll: 9, binding: nfqueue, gso: false, batch: 32, send_thread: false}',
      'classify: {packets: 6, bytes: 1024, unknown_mark: 7}',
      'flow: {max_flows: 10, tcp_idle: 5, udp_idle: 6}',
      'reassembly: {max_ooo_bytes: 9, max_ooo_segments: 3}',
      'endpoints: {size: 100, ttl: 60, sources: [dht, pex], learn_packets: 4, share_backlog: 10}',
      'log: {level: debug, dest: stderr, facility: local3, socket: /run/log}',
      'iptables: {backend: nft, chain: FOO, mark_mask: 0xffff}',
      'inspect: {kill_mark: 3, max_held_per_flow: 4, max_held_total: 5, hold_timeout_ms: 6, scan_timeout_ms: 7, pre_buffer: 8, max_line: 100, max_pending_requests: 3, lost_state: pass}',
      'keywords: {chat: false, filenames: false, lists: {a: [x, y]}}',
      'audit: {enabled: true, dir: aud, chat: false, files: false, quota: 5, min_free: 0}',
      'scan: {enabled: false, eicar: false, buffer: 2048, workers: 3, worker_respawns: 4, databases: [a.ndb, /b.pat], debug_delay_ms: 5}',
      'flow_log: {dir: fl, max_file_bytes: 1, max_total_bytes: 2, min_free_bytes: 3}',
      'export_pcap: {max_file_bytes: 1, max_total_bytes: 2, buffer_packets_per_flow: 3, buffer_bytes: 4}',
      'status: {socket: /s}',
      'watchdog: {timeout_ms: 900, poll_ms: 100}',
      'rules: {dir: r}',
    ].join('\n');
    const c = parseConfig(yaml, '/etc/p2pgw/p2pgw.yaml', KNOWN);
    expect(c.queue).toEqual({ num: 3, maxlen: 2048, failOpen: false, rcvbuf: 4194304, failOpenPollSec: 9, binding: 'nfqueue', gso: false, batch: 32, sendThread: false });
    expect(c.classify).toEqual({ packets: 6, bytes: 1024, unknownMark: 7 });
    expect(c.flow).toEqual({ maxFlows: 10, tcpIdleSec: 5, udpIdleSec: 6 });
    expect(c.reassembly).toEqual({ maxOooBytesPerDir: 9, maxOooSegmentsPerDir: 3 });
    expect(c.endpoints).toEqual({ size: 100, ttlSec: 60, sources: ['dht', 'pex'], learnPackets: 4, shareBacklog: 10 });
    expect(c.log).toEqual({ level: 'debug', dest: 'stderr', facility: 'local3', syslogSocket: '/run/log' });
    expect(c.iptables).toEqual({ backend: 'nft', chain: 'FOO', markMask: 0xffff });
    expect(c.inspect).toEqual({ killMark: 3, maxHeldPerFlow: 4, maxHeldTotal: 5, holdTimeoutMs: 6, scanTimeoutMs: 7, preBufferBytes: 8, lostState: 'pass' });
    expect(c.parserLimits).toEqual({ maxLine: 100, maxPendingRequests: 3 });
    expect(c.keywords).toEqual({ chat: false, filenames: false, lists: { a: ['x', 'y'] } });
    expect(c.audit).toEqual({ enabled: true, dir: '/etc/p2pgw/aud', chat: false, files: false, quotaBytes: 5, minFreeBytes: 0 });
    expect(c.scan).toEqual({ enabled: false, eicar: false, bufferBytes: 2048, workers: 3, workerRespawns: 4, databases: ['/etc/p2pgw/a.ndb', '/b.pat'], debugDelayMs: 5 });
    expect(c.flowLog).toEqual({ dir: '/etc/p2pgw/fl', maxFileBytes: 1, maxTotalBytes: 2, minFreeBytes: 3 });
    expect(c.exportPcap).toEqual({ maxFileBytes: 1, maxTotalBytes: 2, bufferPacketsPerFlow: 3, bufferBytes: 4 });
    expect(c.status).toEqual({ socket: '/s' });
    expect(c.watchdog).toEqual({ timeoutMs: 900, pollMs: 100 });
    expect(c.rulesDir).toBe(path.resolve('/etc/p2pgw/r'));
  });

  it('errors of generated sections keep their texts', () => {
    const msg = (text: string): string => {
      try {
        parseConfig(text, 'p2pgw.yaml', KNOWN);
      } catch (e) {
        return (e as Error).message;
      }
      return 'no error';
    };
    expect(msg('scan: {buffer: 5}\n')).toBe('p2pgw.yaml: scan.buffer (line 1): must be >= 1024');
    expect(msg('inspect:\n  max_line: 0\n')).toBe('p2pgw.yaml: inspect.max_line (line 2): must be >= 1');
    expect(msg('log: {level: loud}\n')).toBe('p2pgw.yaml: log.level (line 1): must be one of trace, debug, info, warn, error, fatal, silent');
    expect(msg('flow_log: {dri: x}\n')).toBe('p2pgw.yaml: flow_log.dri (line 1): unknown key');
    expect(msg('iptables: {chain: "1x"}\n')).toBe('p2pgw.yaml: iptables.chain (line 1): must match pattern "^[A-Za-z][A-Za-z0-9_]{0,20}$"');
    expect(msg('host_heuristics: {local: [10.0.0.0/8, 10.0.0.0/40]}\n')).toMatch(/^p2pgw\.yaml: host_heuristics\.local: '10\.0\.0\.0\/40' is not an address prefix/);
    expect(msg('host_heuristics: {window: 0}\n')).toBe('p2pgw.yaml: host_heuristics.window (line 1): must be >= 1');
  });
});
