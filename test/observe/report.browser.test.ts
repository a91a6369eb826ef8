/**
 * The HTML report of `p2pgw analyze` in headless Chromium (Debian's `chromium` package, driven by
 * playwright-core with a fresh profile directory): the page loads without console errors or
 * requests for anything but itself, draws one SVG histogram with bars per metric, shows the
 * findings, and a full-page screenshot is taken (saved in a temp dir; set P2PGW_REPORT_PNG=path
 * to keep a copy). Skipped, with the reason printed, when chromium is not installed.
 */
import { describe, it, expect, afterAll } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type BrowserContext } from 'playwright-core';
import { generateIspFlows, LOCAL, ISP } from './fixtures/isp-flows.js';
import { analyzeFlows } from '../../src/tools/analyze/analyze.js';
import { parseCidrList } from '../../src/tools/analyze/cidr.js';
import { renderReport } from '../../src/tools/analyze/report.js';

const CHROMIUM = process.env.P2PGW_CHROMIUM ?? '/usr/bin/chromium';
const have = fs.existsSync(CHROMIUM);
if (!have) console.warn(`report browser test skipped: ${CHROMIUM} not found (Debian: apt-get install chromium)`);

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'p2pgw-report-'));
let ctx: BrowserContext | null = null;
afterAll(async () => {
  await ctx?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe.skipIf(!have)('HTML report in headless Chromium', () => {
  it('renders every metric histogram and the findings, with no console errors; screenshot', async () => {
    const result = analyzeFlows(generateIspFlows({ plant: true, hosts: 160 }), { local: parseCidrList(LOCAL, '--local'), isp: parseCidrList(ISP, '--isp') });
    const file = path.join(tmp, 'report.html');
    fs.writeFileSync(file, renderReport(result));
    const url = pathToFileURL(file).href;

    ctx = await chromium.launchPersistentContext(path.join(tmp, 'profile'), {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
      viewport: { width: 1400, height: 1000 },
    });
    const page = await ctx.newPage();
    const errors: string[] = [];
    const requests: string[] = [];
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('request', (r) => requests.push(r.url()));
    await page.goto(url, { waitUntil: 'load' });

    expect(errors).toEqual([]);
    expect(requests.filter((u) => u !== url && !u.startsWith('data:'))).toEqual([]);
    expect(await page.title()).toContain('P2P host behaviour');
    // One drawn histogram per metric: an <svg class="hist"> with a visible box and bars in it.
    const hists = await page.$$eval('svg.hist', (els) =>
      els.map((e) => ({ id: e.getAttribute('data-metric'), w: e.getBoundingClientRect().width, bars: e.querySelectorAll('rect').length })),
    );
    expect(hists.length).toBeGreaterThanOrEqual(result.metrics.length);
    expect(new Set(hists.map((h) => h.id))).toEqual(new Set(result.metrics.map((m) => m.id)));
    for (const h of hists) {
      expect(h.w, h.id!).toBeGreaterThan(200);
      expect(h.bars, h.id!).toBeGreaterThan(2);
    }
    // The findings table lists every finding; the host table is there.
    const findingRows = await page.$$eval('section.card table tr td .sev', (els) => els.length);
    expect(findingRows).toBe(result.findings.length);
    expect(await page.textContent('body')).toContain('possible DDoS');

    const png = path.join(tmp, 'report.png');
    await page.screenshot({ path: png, fullPage: true });
    const bytes = fs.readFileSync(png);
    expect(bytes.subarray(1, 4).toString()).toBe('PNG');
    expect(bytes.length).toBeGreaterThan(100_000);
    const height = bytes.readUInt32BE(20);
    expect(height).toBeGreaterThan(2000); // the whole page, not just the viewport
    if (process.env.P2PGW_REPORT_PNG) fs.copyFileSync(png, process.env.P2PGW_REPORT_PNG);
  }, 120_000);
});
