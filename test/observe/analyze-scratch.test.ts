import { it } from 'vitest';
import { profileMain } from '../../src/cli/profile.js';
import { analyzeMain } from '../../src/cli/analyze.js';
import { generateIspFlows, LOCAL, ISP } from './fixtures/isp-flows.js';
import { capture } from '../helpers/paths.js';
import fs from 'node:fs';
it('scratch', async () => {
  await profileMain([capture('gnutella.pcap'), capture('bittorrent.pcap'), '--svg', '/tmp/scratch/profile.svg', '--json', '/tmp/scratch/profile.json']);
  await analyzeMain([capture('gnutella.pcap'), '--local', '10.0.2.0/24', '--slot', '10', '--html', '/tmp/scratch/gnutella.html', '--json', '/tmp/scratch/gnutella.json']);
  fs.writeFileSync('/tmp/scratch/isp.jsonl', generateIspFlows({ plant: true }).map(r => JSON.stringify(r)).join('\n') + '\n');
  await analyzeMain(['/tmp/scratch/isp.jsonl', '--local', LOCAL, '--isp', ISP, '--html', '/tmp/scratch/isp.html', '--json', '/tmp/scratch/isp.json']);
  await profileMain(['/tmp/scratch/isp.jsonl']);
});
