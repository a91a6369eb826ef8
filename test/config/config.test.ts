import { describe, it, expect } from 'vitest';
import { parseConfig, loadConfig, DEFAULT_CONFIG_FILE } from '../../src/config/load.js';
import { DEFAULTS } from '../../src/core/defaults.js';
import { APPS } from '../../src/apps/registry.js';
import { ConfigError } from '../../src/core/errors.js';

const known = APPS.map((a) => a.name);
const bad = (text: string) => {
  try {
    parseConfig(text, 'p2pgw.yaml', known);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error('expected a ConfigError');
};

describe('config', () => {
  it('the bundled default loads, blocks nothing and keeps the defaults', () => {
    const c = loadConfig(undefined, known);
    expect(c.file).toBe(DEFAULT_CONFIG_FILE);
    expect(c.apps).toEqual({});
    expect(c.classify.packets).toBe(DEFAULTS.classify.packets);
    expect(c.classify.bytes).toBe(DEFAULTS.classify.bytes);
    expect(c.queue.num).toBe(0);
  });

  it("accepts the router owner's example from the issue, with hex marks", () => {
    const c = parseConfig(
      'queue: {num: 3}\nclassify: {packets: 6, bytes: 1024}\napps:\n  bittorrent: {action: block}\n  edonkey: {action: allow, mark: 0x12}\n',
      'x.yaml', known,
    );
    expect(c.queue.num).toBe(3);
    expect(c.classify).toMatchObject({ packets: 6, bytes: 1024 });
    expect(c.apps).toEqual({ bittorrent: { action: 'block' }, edonkey: { action: 'allow', mark: 0x12 } });
  });

  it('errors name the key path, the line and the reason', () => {
    expect(bad('apps:\n  bittorrent: {action: deny}\n')).toBe(
      'p2pgw.yaml: apps.bittorrent.action (line 2): must be one of allow, block, inspect',
    );
    expect(bad('queue:\n  num: -1\n')).toBe('p2pgw.yaml: queue.num (line 2): must be >= 0');
    expect(bad('classify:\n  packtes: 8\n')).toBe('p2pgw.yaml: classify.packtes (line 2): unknown key');
    expect(bad('apps:\n  kazaa: {action: block}\n')).toMatch(/^p2pgw\.yaml: apps\.kazaa \(line 2\): unknown application \(known: bittorrent, /);
    expect(bad('queue: [1, 2\n')).toMatch(/^p2pgw\.yaml: \(root\): YAML syntax \(line \d\)/);
    expect(bad('- 1\n- 2\n')).toMatch(/must be a mapping|must be object/);
  });

  it('an unreadable file is a ConfigError naming it', () => {
    expect(() => loadConfig('/nonexistent/p2pgw.yaml', known)).toThrow(/\/nonexistent\/p2pgw\.yaml: \(root\): cannot read/);
  });

  it('endpoints: defaults, the table off with size 0, and errors for bad values', () => {
    const d = parseConfig('', 'x.yaml', known).endpoints;
    expect(d).toEqual({ size: 65536, ttlSec: 1800, sources: [...DEFAULTS.endpoints.sources], learnPackets: 16, shareBacklog: 4096 });
    expect(parseConfig('endpoints: {size: 0, sources: []}\n', 'x.yaml', known).endpoints).toMatchObject({ size: 0, sources: [] });
    expect(bad('endpoints:\n  sources: [dht, gossip]\n')).toMatch(/^p2pgw\.yaml: endpoints\.sources\.1 \(line 2\): must be one of flow, listen-port, dht, tracker, udp-tracker, pex, lsd, ed2k-server, ed2k-serverlist, kad$/);
    expect(bad('endpoints: {sources: [dht, dht]}\n')).toMatch(/endpoints\.sources \(line 1\): must NOT have duplicate items/);
    expect(bad('endpoints: {ttl: 0}\n')).toBe('p2pgw.yaml: endpoints.ttl (line 1): must be >= 1');
    expect(bad('endpoints: {size: -1}\n')).toBe('p2pgw.yaml: endpoints.size (line 1): must be >= 0');
    expect(bad('endpoints: {learn_packets: 1001}\n')).toBe('p2pgw.yaml: endpoints.learn_packets (line 1): must be <= 1000');
  });
});
