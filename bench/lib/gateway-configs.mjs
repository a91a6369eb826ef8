/**
 * The gateway benchmark's configurations (issue: thesis §5 reproduced) and the files they need:
 * daemon config YAML, and random literal ClamAV `.ndb` signature databases.
 *
 * kind: plain (routing only), nat (MASQUERADE), anchor (NAT + every packet to the C accept-all,
 * bench/nfq-anchor.c), acceptall (NAT + every packet to gateway-acceptall.mjs), daemon (NAT +
 * `p2pgw run` with `yaml`).
 */
import fs from 'node:fs';
import path from 'node:path';

/** 20 file-name keywords, like the thesis' 20 rules; none occurs in the benchmark's file names. */
export const BANNED = [
  'secret plan', 'confidential', 'keygen', 'crack', 'serial number', 'warez', 'nocd', 'patch.exe',
  'leaked', 'internal only', 'password list', 'credit card', 'exploit', 'rootkit', 'payload',
  'bootleg', 'screener', 'dvdrip', 'torrent-hack', 'forbidden',
];

/** Thesis §5 figures (Mb/s on a 1 GHz Pentium III) and which of our configurations they match. */
export const THESIS = [
  { label: 'NAT', mbps: 280.04, ours: '1' },
  { label: 'NAT + every packet queued (ip_queue)', mbps: 159.37, ours: '2' },
  { label: 'L7 classification, 20 rules', mbps: 91.34, ours: '3' },
  { label: 'full P2P Proxy', mbps: 84.83, ours: '4' },
  { label: 'with virus scanning', mbps: 20.52, ours: '6' },
];

const inspectHttp = { apps: { http: { action: 'inspect' } }, keywords: { lists: { banned: BANNED } } };

/**
 * Fail-open off (a full queue drops instead of letting packets through unjudged), so every forwarded
 * packet was judged: the anchors and the rows compared with them (issue 13's ratios) run this way.
 */
const closed = (c, key = c.key, label = c.label) => ({
  ...c, key, label, failOpen: false,
  ...(c.yaml ? { yaml: (ctx) => ({ ...c.yaml(ctx), queue: { fail_open: false } }) } : {}),
});
/** The same configuration with GSO traffic (bench/lib/gateway-netns.mjs setTraffic), fail-open off: key `<key>@gso`. */
const gso = (c) => ({ ...closed(c), key: `${c.key}@gso`, label: `${c.label} · GSO traffic`, traffic: 'gso' });

/**
 * The main configurations. `yaml(ctx)` returns the config object (ctx: {dir, ndb1k, ndb100k,
 * status}); `args` are extra `p2pgw run` arguments; `traffic`: `mtu` (default: wire-like, MTU-sized
 * packets) or `gso` (super-packets, like a NIC with GRO); `anchor`: the C accept-all's options
 * (bench/nfq-anchor.c); `binding`: the accept-all's binding (default: the daemon's).
 */
const C0 = { key: '0', label: 'plain forwarding', kind: 'plain' };
const C1 = { key: '1', label: 'NAT (MASQUERADE)', kind: 'nat' };
const APP = { key: 'A-pp', label: 'C accept-all (libnetfilter_queue), verdict per packet', kind: 'anchor', anchor: { mode: 'perpacket' }, failOpen: false };
const AB = { key: 'A-b', label: 'C accept-all, batched verdicts', kind: 'anchor', anchor: { mode: 'batch' }, failOpen: false };
const C2 = { key: '2', label: 'NAT + every packet queued, accept-all in JS', kind: 'acceptall' };
const C3 = { key: '3', label: 'NAT + p2pgw classification (default config)', kind: 'daemon', yaml: () => ({}) };
const C4 = { key: '4', label: 'p2pgw, HTTP inspected + file-name keywords', kind: 'daemon', yaml: () => ({ ...inspectHttp, scan: { enabled: false } }) };
const C6 = { key: '6', label: '4 + virus scan, EICAR + 1,000 sigs', kind: 'daemon', yaml: (c) => ({ ...inspectHttp, scan: { enabled: true, databases: [c.ndb1k] } }) };
export const CONFIGS = [
  C0,
  C1,
  APP,
  AB,
  C2,
  { key: '2-closed', label: '2 with fail-open off (a full queue drops)', kind: 'acceptall', failOpen: false },
  { key: '2-nfqueue', label: '2-closed with the patched npm nfqueue binding (before issue 13)', kind: 'acceptall', binding: 'nfqueue', failOpen: false },
  C3,
  C4,
  closed(C4, '4-closed', '4 with fail-open off'),
  {
    key: '5', label: '4 + audit to files', kind: 'daemon',
    yaml: (c) => ({ ...inspectHttp, scan: { enabled: false }, audit: { enabled: true, dir: path.join(c.dir, 'audit') } }),
  },
  C6,
  {
    key: '6-100k', label: '4 + virus scan, EICAR + 100,000 sigs', kind: 'daemon', bigDb: true,
    yaml: (c) => ({ ...inspectHttp, scan: { enabled: true, databases: [c.ndb100k] } }),
  },
  {
    key: '7', label: 'everything on (http+gnutella+msn inspected, keywords, audit, scan 1k, flow log)', kind: 'daemon',
    yaml: (c) => ({
      apps: { http: { action: 'inspect' }, gnutella: { action: 'inspect' }, msn: { action: 'inspect' } },
      keywords: { lists: { banned: BANNED } },
      audit: { enabled: true, dir: path.join(c.dir, 'audit') },
      scan: { enabled: true, databases: [c.ndb1k] },
      flow_log: { dir: path.join(c.dir, 'flowlog') },
    }),
  },
  gso(C0),
  gso(C1),
  gso(APP),
  gso(AB),
  { ...gso(AB), key: 'A-bg@gso', label: 'C accept-all, batched, NFQA_CFG_F_GSO · GSO traffic', anchor: { mode: 'batch', gso: true } },
  gso(C2),
  gso(C3),
  gso(C4),
  gso(C6),
];

/** The anchor a configuration is compared with: the batched C accept-all of the same traffic. */
export const anchorOf = (key) => (key.endsWith('@gso') ? 'A-bg@gso' : 'A-b');

/** Extra runs: 2 queues, traced runs, and the scan buffer sweep (KiB). */
export function extras({ quick }) {
  const base4 = CONFIGS.find((c) => c.key === '4');
  const base6 = CONFIGS.find((c) => c.key === '6');
  const gso4 = CONFIGS.find((c) => c.key === '4@gso');
  const sweep = quick ? [4, 32, 128] : [1, 2, 4, 8, 16, 32, 64, 128];
  return [
    { ...base4, key: '4-q2', label: '4 with --queues 2', group: 'queues', needsFlag: '--queues', args: ['--queues', '2'] },
    {
      ...gso4, key: '4-tx0@gso', label: '4@gso with verdicts sent from the JavaScript thread (queue.send_thread off)', group: 'sendthread',
      yaml: (c) => ({ ...gso4.yaml(c), queue: { fail_open: false, send_thread: false } }),
    },
    { ...base4, key: '4-trace', label: '4 with --trace-steps', group: 'trace', needsFlag: '--trace-steps', args: ['--trace-steps'], runs: 1 },
    { ...base6, key: '6-trace', label: '6 (1,000 sigs) with --trace-steps', group: 'trace', needsFlag: '--trace-steps', args: ['--trace-steps'], runs: 1 },
    ...sweep.map((k) => ({
      ...base6, key: `6-buf${k}k`, label: `6 (1,000 sigs), scan buffer ${k} KiB`, group: 'sweep', bufKiB: k, runs: quick ? 1 : 2,
      yaml: (c) => ({ ...base6.yaml(c), scan: { ...base6.yaml(c).scan, buffer: k * 1024 } }),
    })),
  ];
}

/** Tiny YAML writer for plain objects/arrays/strings/numbers/booleans (flow style per value). */
export function toYaml(obj) {
  const scalar = (v) => (typeof v === 'string' ? JSON.stringify(v) : String(v));
  const flow = (v) => {
    if (Array.isArray(v)) return `[${v.map(flow).join(', ')}]`;
    if (v && typeof v === 'object') return `{${Object.entries(v).map(([k, x]) => `${k}: ${flow(x)}`).join(', ')}}`;
    return scalar(v);
  };
  return Object.entries(obj).map(([k, v]) => `${k}: ${flow(v)}`).join('\n') + '\n';
}

/** Writes the daemon config for `cfg` (merged with the bench's common keys) and returns its path. */
export function writeDaemonConfig(cfg, ctx) {
  const body = { ...(cfg.yaml ? cfg.yaml(ctx) : {}), status: { socket: ctx.status }, log: { level: 'info' } };
  const file = path.join(ctx.dir, `p2pgw-${cfg.key}.yaml`);
  fs.writeFileSync(file, `# gateway bench configuration ${cfg.key}: ${cfg.label}\n${toYaml(body)}`);
  return file;
}

/**
 * Writes `count` random literal signatures (8–64 bytes, hex) as ClamAV `.ndb` lines
 * `Name:0:*:HEX` (target type 0 = any file, offset * = anywhere). Deterministic (seeded LCG).
 */
export function writeNdb(file, count, seed = 0x5eed) {
  let s = seed >>> 0;
  const rnd = () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32;
  const hex = [];
  for (let i = 0; i < 256; i++) hex.push(i.toString(16).padStart(2, '0'));
  const out = [];
  for (let i = 0; i < count; i++) {
    const len = 8 + Math.floor(rnd() * 57);
    let h = '';
    for (let k = 0; k < len; k++) h += hex[Math.floor(rnd() * 256)];
    out.push(`Bench.Random.${i}:0:*:${h}`);
  }
  fs.writeFileSync(file, `${out.join('\n')}\n`);
  return file;
}
