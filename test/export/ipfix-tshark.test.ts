/**
 * Our IPFIX output as Wireshark decodes it: the exporter's Messages (Templates, Options Templates,
 * the application table and flow records) are written as UDP datagrams into a pcap and read back
 * with `tshark -d udp.port==4739,cflow -T fields`. Every Template field, the reverse (RFC 5103)
 * and enterprise elements, the counts, times, applicationId, the application names and our
 * strings must come back as exported, and each Message's Sequence Number must count the Data
 * Records before it. Skips, saying why, when tshark is not installed.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Counters } from '../../src/core/counters.js';
import { IpfixExporter } from '../../src/observe/ipfix/exporter.js';
import { appTable } from '../../src/observe/ipfix/output.js';
import { PEN_P2PGW, PEN_REVERSE, TEMPLATES, type ExportRecord } from '../../src/observe/ipfix/template.js';
import { MemoryTransport, exportRecord, udpPcap } from './ipfix-helpers.js';

const HAVE_TSHARK = spawnSync('tshark', ['--version'], { stdio: 'ignore' }).status === 0;
if (!HAVE_TSHARK) console.log('ipfix-tshark: skipped: tshark is not installed (apt-get install tshark)');

const FIELDS = [
  'cflow.sequence', 'cflow.od_id', 'cflow.flowset_id', 'cflow.template_id', 'cflow.template_ipfix_scope_field_count',
  'cflow.template_ipfix_field_type', 'cflow.template_ipfix_field_type_enterprise', 'cflow.template_field_length', 'cflow.template_ipfix_field_pen',
  'cflow.srcaddr', 'cflow.dstaddr', 'cflow.srcaddrv6', 'cflow.dstaddrv6', 'cflow.srcport', 'cflow.dstport', 'cflow.protocol',
  'cflow.biflow_direction', 'cflow.octets', 'cflow.packets', 'cflow.flow_end_reason', 'cflow.abstimestart', 'cflow.abstimeend',
  'cflow.appl_id.classification_engine_id', 'cflow.appl_id.selector_id', 'cflow.appl_name', 'cflow.appl_desc', 'cflow.enterprise_private_entry',
] as const;
type Row = Record<(typeof FIELDS)[number], string[]>;
/** Hex octets as tshark prints them, with or without colons, as plain hex. */
const octets = (h: string): string => h.replace(/:/g, '');

/** One row per Message: every occurrence of each field, in order. */
function tsharkRows(pcap: string): Row[] {
  const args = ['-r', pcap, '-d', 'udp.port==4739,cflow', '-T', 'fields', '-E', 'separator=\t', '-E', 'occurrence=a', '-E', 'aggregator=|'];
  const out = execFileSync('tshark', [...args, ...FIELDS.flatMap((f) => ['-e', f])], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return out.trimEnd().split('\n').map((line) => {
    const cols = line.split('\t');
    return Object.fromEntries(FIELDS.map((f, i) => [f, cols[i] ? cols[i].split('|') : []])) as Row;
  });
}

const RECORDS: ExportRecord[] = [
  exportRecord(),
  exportRecord({ l4: 'udp', src: '2001:db8::1', dst: 'ff02::1:3', sport: 5000, dport: 5355, octets: [77, 0], packets: [1, 0], endReason: 4, selector: 13, app: null, method: '', verdict: 'drop' }),
  exportRecord({ l4: 'udp', src: '10.0.2.15', dst: '203.0.113.9', sport: 28681, dport: 6346, initiator: false, startMs: 12_446, endMs: 71_540, octets: [300, 4_000_000_000_000], packets: [2, 3], endReason: 2, selector: 0x03030d, app: 'gnutella', method: 'host-heuristic', verdict: 'reset' }),
];

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'p2pgw-ipfix-tshark-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe.skipIf(!HAVE_TSHARK)('IPFIX output decoded by tshark', () => {
  it('Templates, the application table and flow records come back as exported', async () => {
    let t: MemoryTransport | null = null;
    const ex = new IpfixExporter(
      { host: '127.0.0.1', port: 4739, transport: 'udp', domain: 7, templateRefreshSec: 600, maxQueue: 100, offline: true, transportFactory: (o) => (t = new MemoryTransport(o)) },
      new Counters(),
    );
    ex.announce(appTable([{ name: 'bittorrent', title: 'BitTorrent', mark: 1 }, { name: 'gnutella', title: 'Gnutella', mark: 3 }]));
    for (const r of RECORDS) ex.push(r);
    await ex.close(1000);
    const file = path.join(dir, 'export.pcap');
    fs.writeFileSync(file, udpPcap(t!.sent.map((m) => m.bytes), 4739));
    const [tpl, data] = tsharkRows(file);

    // Message 1: Template Set (256, 257), the two Options Template Sets, the application table.
    expect(tpl['cflow.sequence']).toEqual(['0']);
    expect(tpl['cflow.od_id'].slice(0, 1)).toEqual(['7']);
    expect(tpl['cflow.template_id']).toEqual(['256', '257', '258', '259']);
    expect(tpl['cflow.template_ipfix_scope_field_count']).toEqual(['1', '1']);
    const all = [TEMPLATES.flowV4, TEMPLATES.flowV6, TEMPLATES.apps, TEMPLATES.appsFixed].flatMap((x) => x.fields);
    expect(tpl['cflow.template_field_length']).toEqual(all.map((f) => String(f.length)));
    expect(tpl['cflow.template_ipfix_field_type']).toEqual(all.filter((f) => f.pen === undefined || f.pen === PEN_REVERSE).map((f) => String(f.id)));
    expect(tpl['cflow.template_ipfix_field_type_enterprise']).toEqual(all.filter((f) => f.pen === PEN_P2PGW).map((f) => String(f.id)));
    expect(tpl['cflow.template_ipfix_field_pen']).toEqual(all.filter((f) => f.pen !== undefined).map((f) => String(f.pen)));
    expect(tpl['cflow.appl_name']).toEqual(['unknown', 'bittorrent', 'gnutella', 'unknown', 'bittorrent', 'gnutella']);
    expect(tpl['cflow.appl_desc']).toEqual(['not classified by p2pgw', 'BitTorrent', 'Gnutella', 'not classified by p2pgw', 'BitTorrent', 'Gnutella']);
    expect(tpl['cflow.appl_id.selector_id'].map(octets)).toEqual(['00000d', '01010d', '03030d', '00000d', '01010d', '03030d']);

    // Message 2: the three flow records; its Sequence Number counts the six options records before it.
    expect(data['cflow.sequence']).toEqual(['6']);
    expect(data['cflow.flowset_id']).toEqual(['256', '257', '256']);
    expect(data['cflow.srcaddr']).toEqual(['192.0.2.1', '10.0.2.15']);
    expect(data['cflow.dstaddr']).toEqual(['198.51.100.7', '203.0.113.9']);
    expect(data['cflow.srcaddrv6']).toEqual(['2001:db8::1']);
    expect(data['cflow.dstaddrv6']).toEqual(['ff02::1:3']);
    expect(data['cflow.srcport']).toEqual(['40000', '5000', '28681']);
    expect(data['cflow.protocol']).toEqual(['6', '17', '17']);
    expect(data['cflow.biflow_direction']).toEqual(['1', '1', '0']);
    // Forward (source → destination) then reverse (PEN 29305) counts of each record.
    expect(data['cflow.octets']).toEqual(['1234', '5678', '77', '0', '300', '4000000000000']);
    expect(data['cflow.packets']).toEqual(['10', '12', '1', '0', '2', '3']);
    expect(data['cflow.flow_end_reason']).toEqual(['1', '4', '2']);
    expect(data['cflow.abstimestart'][0]).toMatch(/^Nov 14, 2023 22:13:20\.000000000/);
    expect(data['cflow.abstimeend'][2]).toMatch(/^Jan {2}1, 1970 00:01:11\.540000000/);
    expect(data['cflow.appl_id.classification_engine_id']).toEqual(['13', '13', '13']);
    expect(data['cflow.appl_id.selector_id'].map(octets)).toEqual(['01010d', '00000d', '03030d']);
    // p2pgwMethod and p2pgwVerdict (PEN 32473), variable-length; tshark shows their octets, and
    // leaves out the empty method of the unclassified flow.
    const strings = data['cflow.enterprise_private_entry'].map((h) => Buffer.from(octets(h), 'hex').toString('utf8'));
    expect(strings).toEqual(['signature', 'accept', 'drop', 'host-heuristic', 'reset']);
  });
});
