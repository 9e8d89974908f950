/**
 * The k6 bundles: they build, import only modules k6 provides, use no
 * Node-only global, parse as ES modules, and, run through a k6 stand-in
 * (test/k6-shim.ts: k6's module API on ws, a vm context without Node's
 * globals, k6 1.3's Uint8Array.from quirk), pass against the reference relay
 * and fail against a relay that hands a KeyPackage out twice.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRelay, type RunningRelay } from '../../reference-relay/server.js';
import type { FaultName } from '../../reference-relay/faults.js';
import { bundleOptions, buildBundle, packageRoot, VARIANTS } from '../build.js';
import { SCENARIO_NAMES, type ScenarioName } from '../core/scenario.js';
import type { LoadSummary } from '../core/summary.js';
import { settingsFrom } from '../core/settings.js';
import { EMPTY_FIXTURE } from '../core/fixture.js';
import { fixtureFor, makeFixture } from '../node/fixture.js';
import { writeFixtureFile } from '../node/k6-driver.js';
import { evaluateBundle, makeShim, runK6Lifecycle, serveHttp, shimPlugin } from './k6-shim.js';
import { startAuthlessRelay } from './fake-relay.js';

const root = packageRoot();
const out = mkdtempSync(join(tmpdir(), 'kp-k6-bundles-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

/** Every module specifier a bundle imports, statically or dynamically, or requires. */
export function importedModules(code: string): string[] {
  const found = new Set<string>();
  for (const re of [/^\s*import\s[^'"]*?from\s*["']([^"']+)["']/gm, /^\s*import\s*["']([^"']+)["']/gm, /^\s*export\s[^'"]*?from\s*["']([^"']+)["']/gm, /\bimport\s*\(\s*["']([^"']+)["']\s*\)/g, /\brequire\s*\(\s*["']([^"']+)["']\s*\)/g]) {
    for (const m of code.matchAll(re)) found.add(m[1] ?? '');
  }
  return [...found];
}

describe('k6 bundles', () => {
  const files: Record<string, string> = {};

  beforeAll(async () => {
    const small = await makeFixture({ owners: 2, keyPackagesPerOwner: 2, requests: [[], [0]], notes: 2 });
    for (const name of SCENARIO_NAMES) {
      for (const v of VARIANTS) files[`${v.outDir}/${name}`] = await buildBundle(root, name, v, small, out);
    }
  });

  it.each(SCENARIO_NAMES)('%s imports only k6 modules, the right WebSocket module per variant', (name) => {
    for (const v of VARIANTS) {
      const code = readFileSync(files[`${v.outDir}/${name}`] ?? '', 'utf8');
      const modules = importedModules(code);
      expect(modules.filter((m) => !/^k6(\/|$)/.test(m))).toEqual([]);
      expect(modules).toContain(v.websockets);
      expect(modules).not.toContain(v.websockets === 'k6/websockets' ? 'k6/experimental/websockets' : 'k6/websockets');
    }
  });

  it.each(SCENARIO_NAMES)('%s uses no Node-only global and parses as an ES module', (name) => {
    const file = files[`load/dist/${name}`] ?? '';
    const code = readFileSync(file, 'utf8');
    // Names, not substrings of other names: `process.` and `Buffer.` as used, `require(`.
    for (const banned of [/\brequire\s*\(/, /(?<![\w.$])process\./, /(?<![\w.$])Buffer\./, /\b__dirname\b/, /\b__filename\b/, /\bnew TextEncoder\b/, /(?<![\w.$])performance\.now/, /\bimport\.meta\b/]) {
      expect(code, String(banned)).not.toMatch(banned);
    }
    const mjs = join(out, `${name}.check.mjs`);
    copyFileSync(file, mjs);
    execFileSync(process.execPath, ['--check', mjs]);
  });
});

/** `via`: the fixture built into the bundle (a plain `k6 run`), or in a file given as FIXTURE (`kpsuite load --driver k6`). */
async function runBundle(name: ScenarioName, env: Record<string, string>, faults: FaultName[] | 'authless' = [], via: 'bundle' | 'file' = 'bundle'): Promise<{ exitCode: number; summary: LoadSummary; outputs: Record<string, string> }> {
  const dir = mkdtempSync(join(tmpdir(), 'kp-k6-run-'));
  const relay: Pick<RunningRelay, 'url' | 'close'> = faults === 'authless' ? await startAuthlessRelay() : await startRelay({ port: 0, db: join(dir, 'relay.sqlite'), faults });
  const shim = makeShim();
  const stopHttp = await serveHttp(shim, relay.url);
  try {
    const fixture = await fixtureFor(name, settingsFrom({ RELAY_URL: relay.url, ...env }));
    const file: Record<string, string> = via === 'file' ? { FIXTURE: writeFixtureFile(dir, fixture) } : {};
    const result = await build({ ...bundleOptions(root, name, via === 'file' ? EMPTY_FIXTURE : fixture, shimPlugin(shim)), format: 'iife', globalName: 'kpsuiteBundle', write: false });
    const code = result.outputFiles[0]?.text ?? '';
    const exports = evaluateBundle(code, shim, { RELAY_URL: relay.url, SUMMARY_DIR: dir, ...file, ...env }, 'kpsuiteBundle');
    const { exitCode, outputs } = await runK6Lifecycle(exports, shim);
    const json = outputs[`${dir}/load-${name}.json`] ?? '{}';
    return { exitCode, summary: JSON.parse(json) as LoadSummary, outputs };
  } finally {
    stopHttp();
    shim.terminateAll();
    await relay.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('k6 bundles run under a k6 stand-in', () => {
  it('contend passes on the reference relay; summary has stdout, JSON, JUnit and Markdown', async () => {
    const { exitCode, summary, outputs } = await runBundle('contend', { KPS: '6', RACERS: '6' });
    expect(summary.thresholds.filter((t) => t.ok !== true)).toEqual([]);
    expect(exitCode).toBe(0);
    expect(summary.driver).toBe('k6');
    expect(Object.keys(outputs).map((k) => k.replace(/^.*\//, ''))).toEqual(['stdout', 'load-contend.json', 'load-contend.junit.xml', 'load-contend.md']);
    expect(outputs.stdout).toContain('every threshold held');
  });

  it('contend passes with its fixture in a file (FIXTURE, as kpsuite load --driver k6 gives it), the bundle holding none', async () => {
    const { exitCode, summary } = await runBundle('contend', { KPS: '6', RACERS: '6' }, [], 'file');
    expect(summary.thresholds.filter((t) => t.ok !== true)).toEqual([]);
    expect(summary.metrics.contend_nonlast_handouts?.values.count).toBe(5);
    expect(exitCode).toBe(0);
  });

  it('contend fails against double-handout', async () => {
    const { exitCode, summary } = await runBundle('contend', { KPS: '6', RACERS: '6' }, ['double-handout']);
    expect(exitCode).toBe(99);
    expect(summary.passed).toBe(false);
    expect(summary.thresholds.find((t) => t.metric === 'contend_duplicates')?.ok).toBe(false);
  });

  // Setup data reaches the VUs as k6 passes it (undefined → null): these fail if a scenario tests absence with === undefined.
  it('rate fails against no-rate-limit (exit 99), having checked queries', async () => {
    const { exitCode, summary } = await runBundle('rate', { REQUESTERS: '2' }, ['no-rate-limit']);
    expect(exitCode).toBe(99);
    expect(summary.notRun).toBeUndefined();
    expect(summary.thresholds.find((t) => t.metric === 'rate_limit_matches_model')?.ok).toBe(false);
    expect(summary.metrics.rate_checked?.values.count).toBeGreaterThan(0);
  });

  it('rate on a relay advertising no limits: k6 exits 99 (its work threshold fails) and the summary says not run, first', async () => {
    const { exitCode, summary, outputs } = await runBundle('rate', { TIMEOUT_MS: '500' }, 'authless');
    expect(exitCode).toBe(99);
    expect(summary.notRun).toMatch(/advertises no complete NIP-11 keypackages limits/);
    expect(summary.thresholds.find((t) => t.metric === 'rate_checked')).toMatchObject({ ok: false, actual: 0 });
    expect(outputs.stdout?.split('\n')[0]).toMatch(/^NOT RUN: /);
    expect(outputs.stdout).not.toContain('✓');
  });

  it.each([
    ['publish', { RATE: '4', DURATION: '1s', BATCH: '2' }],
    ['rate', { REQUESTERS: '2' }],
    ['groups', { RATE: '2', DURATION: '2s', MEMBERS: '12', NOTE_RATE: '3', P447: '1' }],
    ['soak', { RATE: '1', DURATION: '2s', MEMBERS: '8', NOTE_RATE: '2', PROBE_EVERY_MS: '250', BASELINE_PROBES: '2' }],
  ] as const)('%s passes on the reference relay', async (name, env) => {
    const { exitCode, summary } = await runBundle(name, env);
    // A threshold without samples (say, no member replenished in 2 s) is no failure, as under k6; the work ones must hold.
    expect(summary.thresholds.filter((t) => t.ok === false)).toEqual([]);
    expect(summary.thresholds.filter((t) => t.expression === 'count>0').every((t) => t.ok === true)).toBe(true);
    expect(summary.notRun).toBeUndefined();
    expect(exitCode).toBe(0);
  });
});
