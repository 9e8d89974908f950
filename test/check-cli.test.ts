/**
 * `kpsuite check` as users run it: against a relay started separately, its
 * exit codes (0 all MUSTs pass, 1 a MUST fails, 2 usage or connection error),
 * --expect-fail, and the four report files.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, spawnRelay, type SpawnedRelay } from './support/spawn-relay.js';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function kpsuite(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

const out = mkdtempSync(join(tmpdir(), 'kpsuite-reports-'));
let good: SpawnedRelay;
let faulty: SpawnedRelay;

beforeAll(async () => {
  [good, faulty] = await Promise.all([
    spawnRelay(['--db', ':memory:', '--queries-per-window', '4', '--served-per-window', '12']),
    spawnRelay(['--db', ':memory:', '--queries-per-window', '4', '--served-per-window', '12', '--fault', 'consume-last']),
  ]);
});
afterAll(async () => {
  await Promise.all([good?.stop(), faulty?.stop()]);
  rmSync(out, { recursive: true, force: true });
});

describe('kpsuite check --url', () => {
  it('exits 0 against a conforming relay, prints a line per test and writes the four reports', async () => {
    const run = await kpsuite(['check', '--url', good.url, '--out', out]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/PASS\s+kp-handout-last-resort\/req \[MUST\] \(\d+ ms\)/);
    const dir = /report: (.*)report\.json/.exec(run.stdout)?.[1];
    expect(dir).toBeDefined();
    for (const f of ['report.json', 'junit.xml', 'report.md', 'index.html']) expect(existsSync(join(dir!, f)), f).toBe(true);
    const report = JSON.parse(readFileSync(join(dir!, 'report.json'), 'utf8')) as { schema: string; summary: { fail: number } };
    expect(report.schema).toBe('kpsuite-report/1');
    expect(report.summary.fail).toBe(0);
    expect(existsSync(join(out, 'latest'))).toBe(true);
  });

  it('exits 1 when a MUST fails, and names the broken requirement', async () => {
    const run = await kpsuite(['check', '--url', faulty.url, '--no-reports', '--only', 'kp-handout-*']);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/FAIL\s+kp-handout-last-resort\//);
  });

  it('exits 0 when every failure is listed in --expect-fail, and reports an expected failure that passed', async () => {
    const file = join(out, 'expected.txt');
    writeFileSync(file, '# consume-last relay\nkp-handout-last-resort/*\nkp-handout-order/*   # passes: reported\n');
    const run = await kpsuite(['check', '--url', faulty.url, '--no-reports', '--only', 'kp-handout-*', '--expect-fail', file]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/listed as expected failures but passed: .*kp-handout-order\//);
  });

  it('exits 2 when the relay cannot be reached, saying so', async () => {
    const run = await kpsuite(['check', '--url', 'ws://127.0.0.1:1', '--no-reports']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/cannot connect to ws:\/\/127\.0\.0\.1:1/);
  });

  it('exits 2 on a URL that is not ws:// or wss://', async () => {
    const run = await kpsuite(['check', '--url', 'http://127.0.0.1:7777']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/must start with ws:\/\/ or wss:\/\//);
  });
});
