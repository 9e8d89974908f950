/**
 * matrix.html in a real browser (Debian's headless Chromium, driven by
 * playwright-core), from three real runs: the reference relay, the reference
 * relay with one fault switched on, and a general-purpose relay
 * (@nostr-relay/core). A failing cell's link, for each of the two relays that
 * fail, must land on that test's row in that relay's index.html, opened, with
 * its wire log showing.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCheck } from '../../conformance/check.js';
import type { FaultName } from '../../reference-relay/faults.js';
import { startRelay, type RunningRelay } from '../../reference-relay/server.js';
import { startNostrRelay, type RunningNostrRelay } from '../../bench/load/nostr-relay.js';
import { packageRoot } from '../../package-info.js';
import { writeMatrix, type WrittenMatrix } from '../matrix-write.js';
import type { RelayRun } from '../matrix.js';

const CHROMIUM = '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
// .ci/run installs Chromium first and sets this, so a CI run cannot skip the browser test.
const REQUIRED = process.env.KPSUITE_REQUIRE_CHROMIUM === '1';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

if (!HAVE_CHROMIUM) {
  const how = `${CHROMIUM} is missing: run scripts/install-chromium.sh (as root; Debian's chromium package) to run the matrix's browser test`;
  if (REQUIRED) throw new Error(`${how}. KPSUITE_REQUIRE_CHROMIUM=1 forbids skipping it.`);
  process.stderr.write(`skipping matrix.html in headless Chromium: ${how}\n`);
}

/** The reference relay passes both anchors; the fault breaks the first, @nostr-relay/core the second. */
const ONLY = ['kp-del-owner', 'mr-kp-delete'];
const FAULT: FaultName = 'stranger-delete';
/** A failing cell of each relay that fails, by its column in the matrix. */
const FAILING = [
  { relay: 1, what: 'the faulty reference relay', test: 'kp-del-owner/others-cannot' },
  // Its a-deletion removes every version of the slot, the one newer than the deletion too (NIP-09: "up to the created_at").
  { relay: 2, what: '@nostr-relay/core', test: 'mr-kp-delete/by-a-spares-newer' },
];

let dir: string;
const relays: (RunningRelay | RunningNostrRelay)[] = [];
let written: WrittenMatrix;
/** matrix.html, and each relay's index.html, as file URLs. */
let matrixPage: string;
const indexes: string[] = [];
let browser: Browser;
let page: Page;
const pageErrors: string[] = [];

async function checkRelay(relay: RunningRelay | RunningNostrRelay): Promise<RelayRun> {
  relays.push(relay);
  const result = await runCheck({
    url: relay.url,
    strict: false,
    only: ONLY,
    exclude: [],
    expectFailFile: undefined,
    timeoutMs: 2000,
    quietMs: 200,
    concurrency: 4,
    limits: {},
    reportsDir: dir,
    progress: () => undefined,
  });
  return { url: relay.url, exitCode: result.exitCode, report: result.report, runDir: result.reportDir! };
}

beforeAll(async () => {
  if (!HAVE_CHROMIUM) return;
  dir = mkdtempSync(join(tmpdir(), 'kpsuite-matrix-html-'));
  // One after another, as the CLI checks them; NIP-42 on for @nostr-relay/core, as kp-del-owner authenticates its owners.
  const runs: RelayRun[] = [
    await checkRelay(await startRelay({ port: 0, db: ':memory:' })),
    await checkRelay(await startRelay({ port: 0, db: ':memory:', faults: [FAULT] })),
    await checkRelay(await startNostrRelay(packageRoot(), ':memory:', { hostname: '127.0.0.1' })),
  ];
  written = writeMatrix(runs, dir);
  matrixPage = pathToFileURL(written.files[0]!).href;
  for (const run of runs) indexes.push(pathToFileURL(join(run.runDir!, 'index.html')).href);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  page = await browser.newPage();
  page.on('pageerror', (err) => pageErrors.push(err.message));
  await page.goto(matrixPage);
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await Promise.all(relays.map((r) => r.close()));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!HAVE_CHROMIUM)('matrix.html in headless Chromium', () => {
  it('shows the three relays with their exit codes, and fail cells for the two that fail', async () => {
    expect(await page.locator('table.relays td.result').allInnerTexts()).toEqual([
      'exit 0: no test stopped the run',
      'exit 1: a test stopped the run',
      'exit 1: a test stopped the run',
    ]);
    expect(await page.locator('td.cell[data-relay="0"][data-outcome="fail"]').count()).toBe(0);
    expect(await page.locator('td.cell[data-relay="1"][data-outcome="fail"]').count()).toBeGreaterThan(0);
    expect(await page.locator('td.cell[data-relay="2"][data-outcome="fail"]').count()).toBeGreaterThan(0);
  });

  it('shows where the general-purpose relay differs from the reference relay', async () => {
    const cells = await page.locator(`tr.test[data-test="${FAILING[1]!.test}"] td.cell`).all();
    expect(await Promise.all(cells.map((c) => c.getAttribute('data-outcome')))).toEqual(['pass', 'pass', 'fail']);
  });

  it.each(FAILING)("follows a failing cell of $what to that test's row in its report, opened at its wire log", async ({ relay, test }) => {
    if (page.url() !== matrixPage) await page.goto(matrixPage);
    const cell = page.locator(`tr.test[data-test="${test}"] td.cell[data-relay="${relay}"][data-outcome="fail"] a`);
    expect(await cell.count()).toBe(1);
    await Promise.all([page.waitForURL(/index\.html#test-/, { timeout: 5000 }), cell.click()]);
    expect(page.url()).toBe(`${indexes[relay]}#test-${test}`);
    const row = page.locator(`tr.test[id="test-${test}"]`);
    expect(await row.getAttribute('data-outcome')).toBe('fail');
    expect(await row.locator('details').getAttribute('open')).not.toBeNull();
    const log = row.locator('table.wire-log');
    expect(await log.isVisible()).toBe(true);
    expect(await log.locator('tr.wire').count()).toBeGreaterThan(0);
    expect(await row.locator('tr.wire.decisive').count()).toBe(1);
    // In view, not just displayed: the page scrolls to the row, or to its decisive frame once the row opens,
    // whichever comes last (a string: the test's TypeScript has no DOM types).
    const box = `document.getElementById('test-${test}').querySelector('table.wire-log').getBoundingClientRect()`;
    expect(await page.evaluate(`${box}.top < innerHeight && ${box}.bottom > 0`)).toBe(true);
  });

  it('raised no page error', () => {
    expect(pageErrors).toEqual([]);
  });
});
