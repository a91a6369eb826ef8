import { it } from 'vitest';
import { generateIspFlows, LOCAL, ISP, PLANTED } from './fixtures/isp-flows.js';
import { analyzeFlows } from '../../src/observe/analyze/analyze.js';
import { parseCidrList } from '../../src/observe/analyze/cidr.js';
it('scratch', () => {
  for (const seed of [2, 3, 4]) for (const plant of [true, false]) {
    const res = analyzeFlows(generateIspFlows({ plant, seed }), { local: parseCidrList(LOCAL, 'l'), isp: parseCidrList(ISP, 'i') });
    console.log('SEED', seed, plant, res.findings.map(f => f.rule + ':' + [...f.hosts].sort().join(',')).join(' | '));
  }
}, 600000);
