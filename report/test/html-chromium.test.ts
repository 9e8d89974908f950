/**
 * The HTML report in a real browser (Debian's headless Chromium, driven by
 * playwright-core): the summary renders, a failing row opens to its wire log,
 * the filter buttons hide other outcomes, and the hostile strings of the
 * fixture stay text (no dialog opens).
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toHtml } from '../html.js';
import { fixtureReport, HOSTILE, HOSTILE_FRAME, NIP11_NAME } from './fixture.js';

const CHROMIUM = '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
// .ci/run installs Chromium first and sets this, so a CI run cannot skip the browser test.
const REQUIRED = process.env.KPSUITE_REQUIRE_CHROMIUM === '1';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let browser: Browser;
let page: Page;
let dir: string;
const dialogs: string[] = [];
const pageErrors: string[] = [];

const visibleRows = (): Promise<(string | null)[]> =>
  page.locator('tr.test:visible').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-outcome')));

if (!HAVE_CHROMIUM) {
  const how = `${CHROMIUM} is missing: run scripts/install-chromium.sh (as root; Debian's chromium package) to run the HTML report's browser test`;
  if (REQUIRED) throw new Error(`${how}. KPSUITE_REQUIRE_CHROMIUM=1 forbids skipping it.`);
  process.stderr.write(`skipping index.html in headless Chromium: ${how}\n`);
}

beforeAll(async () => {
  if (!HAVE_CHROMIUM) return;
  dir = mkdtempSync(join(tmpdir(), 'kpsuite-html-'));
  const file = join(dir, 'index.html');
  writeFileSync(file, toHtml(fixtureReport()));
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  page = await browser.newPage();
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });
  page.on('pageerror', (err) => pageErrors.push(err.message));
  await page.goto(pathToFileURL(file).href);
});

afterAll(async () => {
  await browser?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!HAVE_CHROMIUM)('index.html in headless Chromium', () => {
  it('renders the summary with the counts and the relay', async () => {
    const summary = (await page.locator('#summary').innerText()).replace(/\s+/g, ' ');
    for (const count of ['pass 2', 'fail 1', 'non-strict 1', 'info 1', 'untested 1', 'skipped 1', 'error 1', 'total 8']) expect(summary).toContain(count);
    expect(summary).toContain('ws://127.0.0.1:7777');
    expect(summary).toContain(NIP11_NAME);
    expect(await page.locator('#summary .seg').count()).toBe(7);
  });

  it('opens a failing row to its wire log', async () => {
    const row = page.locator('tr.test[data-outcome="fail"]');
    const log = row.locator('.wire-log');
    expect(await log.isVisible()).toBe(false);
    await row.locator('summary').click();
    expect(await log.isVisible()).toBe(true);
    expect(await log.innerText()).toContain(HOSTILE_FRAME);
    expect(await row.locator('.observed').innerText()).toContain(HOSTILE);
    expect(await row.locator('a[href="PROFILE.md#kp-req-scope"]').isVisible()).toBe(true);
  });

  it('highlights the decisive frame of the opened row, in view', async () => {
    const frame = page.locator('tr.test[data-outcome="fail"] tr.wire.decisive');
    expect(await frame.count()).toBe(1);
    expect(await frame.innerText()).toContain(HOSTILE_FRAME);
    // Strings run in the page: the test's TypeScript has no DOM types.
    const decisive = `document.querySelector('tr.test[data-outcome="fail"] tr.wire.decisive')`;
    expect(await page.evaluate(`getComputedStyle(${decisive}.querySelector('td.frame')).backgroundColor`)).toBe('rgb(255, 243, 224)');
    expect(await page.evaluate(`${decisive}.getBoundingClientRect().top >= 0 && ${decisive}.getBoundingClientRect().bottom <= innerHeight`)).toBe(true);
  });

  it('filter buttons show only the chosen outcomes, and `all` shows everything again', async () => {
    expect(await visibleRows()).toHaveLength(8);
    await page.locator('button.filter[data-filter="fail"]').click();
    expect(await visibleRows()).toEqual(['fail']);
    expect(await page.locator('tr.test[data-outcome="pass"]').first().isHidden()).toBe(true);
    expect(await page.locator('button.filter[data-filter="fail"]').getAttribute('aria-pressed')).toBe('true');
    await page.locator('button.filter[data-filter="error"]').click();
    expect((await visibleRows()).sort()).toEqual(['error', 'fail']);
    expect(await page.locator('tbody.section:visible').count()).toBe(2);
    await page.locator('button.filter[data-filter="fail"]').click();
    expect(await visibleRows()).toEqual(['error']);
    await page.locator('button.filter[data-filter="all"]').click();
    expect(await visibleRows()).toHaveLength(8);
  });

  it('ran no injected script and raised no page error', () => {
    expect(dialogs).toEqual([]);
    expect(pageErrors).toEqual([]);
  });
});
