import { it } from 'vitest';
import fs from 'node:fs';
import { generateIspFlows, LOCAL, ISP } from './fixtures/isp-flows.js';
import { analyzeFlows } from '../../src/observe/analyze/analyze.js';
import { parseCidrList } from '../../src/observe/analyze/cidr.js';
import { renderReport } from '../../src/observe/analyze/report.js';
it('scratch', () => {
  const res = analyzeFlows(generateIspFlows({ plant: true, hosts: 160 }), { local: parseCidrList(LOCAL, 'l'), isp: parseCidrList(ISP, 'i'), files: ['isp-24h.jsonl'] });
  fs.writeFileSync('/tmp/scratch/isp.html', renderReport(res));
  fs.writeFileSync('/tmp/scratch/isp.json', JSON.stringify(res, null, 1));
}, 600000);
