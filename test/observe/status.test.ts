import { describe, it, expect, afterAll } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { serveStatus, readStatus } from '../../src/observe/status.js';
import { parseConntrackMarks } from '../../src/observe/sysstats.js';
import { renderStatus } from '../../src/cli/status.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'p2pgw-status-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('status socket', () => {
  it('serves the document on a 0600 Unix socket, replaces a stale socket, refuses a second daemon', async () => {
    const sock = path.join(tmp, 's.sock');
    fs.writeFileSync(sock, ''); // stale file from a crashed daemon
    const server = await serveStatus(sock, async () => ({ pid: 1, held: 3 }));
    expect(fs.statSync(sock).mode & 0o777).toBe(0o600);
    expect(await readStatus(sock)).toEqual({ pid: 1, held: 3 });
    await expect(serveStatus(sock, () => ({}))).rejects.toThrow(/another p2pgw answers/);
    server.close();
    await expect(readStatus(path.join(tmp, 'none.sock'))).rejects.toThrow(/no p2pgw daemon at .*none\.sock/);
  });
});

describe('parseConntrackMarks', () => {
  it('sums connections and both directions\' bytes per mark', () => {
    const text = [
      'tcp 6 431999 ESTABLISHED src=10.0.0.1 dst=10.0.0.2 sport=1 dport=2 packets=10 bytes=1000 src=10.0.0.2 dst=10.0.0.1 sport=2 dport=1 packets=8 bytes=5000 [ASSURED] mark=1 use=1',
      'tcp 6 100 TIME_WAIT src=10.0.0.1 dst=10.0.0.3 sport=3 dport=4 packets=1 bytes=60 src=10.0.0.3 dst=10.0.0.1 sport=4 dport=3 packets=1 bytes=40 mark=1 use=1',
      'udp 17 20 src=10.0.0.1 dst=10.0.0.4 sport=5 dport=6 packets=1 bytes=100 src=10.0.0.4 dst=10.0.0.1 sport=6 dport=5 packets=0 bytes=0 mark=255 use=1',
      'conntrack v1.4.7 (conntrack-tools): 3 flow entries have been shown.',
    ].join('\n');
    const m = parseConntrackMarks(text);
    expect(m.get(1)).toEqual({ connections: 2, bytes: 6100 });
    expect(m.get(255)).toEqual({ connections: 1, bytes: 100 });
    expect(m.size).toBe(2);
  });
});

describe('renderStatus', () => {
  it('prints applications, shaping classes, resources and counters as tables', () => {
    const text = renderStatus({
      pid: 42, uptime_s: 7, flows: 3, held: 1, counters: { packets: 10, classified_bittorrent: 2 },
      apps: [{ app: 'bittorrent', mark: 1, action: 'block', flows: 2, blocks: 2, live_connections: 1, live_bytes: 2048 }],
      shaping: [{ dev: 'lan0', classid: '1:1', app: 'bittorrent', rateBps: 5e6, bytes: 1_500_000, packets: 1000, drops: 3, overlimits: 9 }],
      daemon: { cpu_percent: 1.5, rss_bytes: 50 * 1024 * 1024 },
      system: { mem_total_bytes: 8 * 2 ** 30, mem_available_bytes: 4 * 2 ** 30, load_percent: 12.5 },
    });
    expect(text).toMatch(/pid 42, up 7 s, 3 flows tracked, 1 packets held, CPU 1.5%, RSS 50.0 MiB/);
    expect(text).toMatch(/bittorrent\s+0x1\s+block\s+2\s+2\s+1\s+2.0 KiB/);
    expect(text).toMatch(/lan0\s+1:1\s+bittorrent\s+5.0 Mbit\s+1.4 MiB\s+1000\s+3\s+9/);
    expect(text).toMatch(/classified_bittorrent\s+2/);
  });
});
