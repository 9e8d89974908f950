/** `kpsuite load`: run folders, usage errors (exit 2), and the k6 driver's wiring (with a fake k6). */
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LoadUsageError, runLoad, type Io, type LoadCommandOptions } from '../../cli/load-command.js';
import { SettingsError } from '../core/settings.js';
import { K6NotFoundError } from '../node/k6-driver.js';
import { buildBundle, packageRoot, VARIANTS } from '../build.js';
import { EMPTY_FIXTURE } from '../core/fixture.js';
import { LOAD_SUMMARY_SCHEMA } from '../core/summary.js';
import { fakeK6 } from './fake-k6.js';

const tmp = mkdtempSync(join(tmpdir(), 'kp-load-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const quiet: Io = { stdout: () => undefined, stderr: () => undefined };
const base = (over: Partial<LoadCommandOptions> = {}): LoadCommandOptions => ({ driver: 'node', env: [], k6: 'k6', out: join(tmp, 'kpsuite-runs'), reports: true, ...over });

describe('kpsuite load', () => {
  it('runs on the embedded reference relay and writes JSON, JUnit and Markdown into a run folder', async () => {
    const code = await runLoad('publish', base({ rate: 3, duration: '1s', env: ['BATCH=2'] }), quiet);
    expect(code).toBe(0);
    const runs = readdirSync(join(tmp, 'kpsuite-runs'));
    expect(runs).toHaveLength(1);
    const dir = join(tmp, 'kpsuite-runs', runs[0] ?? '');
    expect(readdirSync(dir).sort()).toEqual(['load-publish.json', 'load-publish.junit.xml', 'load-publish.md']);
    const json = JSON.parse(readFileSync(join(dir, 'load-publish.json'), 'utf8')) as { schema: string; passed: boolean; settings: Record<string, unknown> };
    expect(json).toMatchObject({ schema: LOAD_SUMMARY_SCHEMA, passed: true, settings: { RATE: 3, DURATION: '1s', BATCH: 2 } });
  });

  it('caps a round-based scenario with --duration and says so', async () => {
    let stdout = '';
    const code = await runLoad('contend', base({ duration: '2s', reports: false }), { stdout: (t) => (stdout += t), stderr: () => undefined });
    expect(code).toBe(0);
    expect(stdout).toMatch(/contend runs .* and ends when they are done; --duration 2s caps it \(MAX_DURATION\)/);
    await expect(runLoad('contend', base({ duration: '2s', env: ['MAX_DURATION=5s'] }), quiet)).rejects.toThrow(/both cap contend/);
  });

  it('refuses unusable input before starting anything (exit 2)', async () => {
    await expect(runLoad('publish', base({ url: 'http://example.org' }), quiet)).rejects.toThrow(LoadUsageError);
    await expect(runLoad('publish', base({ url: 'ws://127.0.0.1:1' }), quiet)).rejects.toThrow(LoadUsageError);
    await expect(runLoad('contend', base({ env: ['RACERS=many'] }), quiet)).rejects.toThrow(SettingsError);
    await expect(runLoad('contend', base({ driver: 'k6', k6: join(tmp, 'no-such-k6') }), quiet)).rejects.toThrow(K6NotFoundError);
  });

  it('--driver k6 runs the bundle its k6 version supports, with a fresh fixture and the run folder', async () => {
    const bundles = join(tmp, 'bundles');
    for (const v of VARIANTS) await buildBundle(packageRoot(), 'contend', v, EMPTY_FIXTURE, bundles);
    // Prints a 1.3 version (so the compat bundle is chosen), records its arguments, fails a threshold.
    const fake = fakeK6(tmp, 'v1.3.0', 99);
    const code = await runLoad('contend', base({ driver: 'k6', k6: fake.path, bundles: join(bundles, 'load', 'dist'), out: join(tmp, 'k6-reports') }), quiet);
    expect(code).toBe(99);
    const [seen] = fake.runs();
    if (seen === undefined) throw new Error('k6 did not run');
    expect(seen.args[0]).toBe('run');
    expect(seen.args.at(-1)).toBe(join(bundles, 'load', 'dist', 'compat', 'contend.js'));
    expect(seen.fixture).toBe(true);
    expect(seen.env.RELAY_URL).toMatch(/^ws:\/\/127\.0\.0\.1:\d+$/);
    expect(existsSync(seen.env.SUMMARY_DIR ?? '')).toBe(true);
    expect(seen.env.SUMMARY_DIR).toContain('k6-reports');
  });
});
