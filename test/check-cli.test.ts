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
/** Advertises keypackages (claims the profile) but lets nobody authenticate: tests that need AUTH are untested. */
let silent: SpawnedRelay;

beforeAll(async () => {
  [good, faulty, silent] = await Promise.all([
    spawnRelay(['--db', ':memory:', '--queries-per-window', '4', '--served-per-window', '12']),
    spawnRelay(['--db', ':memory:', '--queries-per-window', '4', '--served-per-window', '12', '--fault', 'consume-last']),
    spawnRelay(['--db', ':memory:', '--fault', 'no-challenge']),
  ]);
});
afterAll(async () => {
  await Promise.all([good?.stop(), faulty?.stop(), silent?.stop()]);
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
    // What happened, labelled, under the failing test.
    expect(run.stdout).toMatch(/FAIL\s+kp-handout-last-resort\/req .*\n.*\n\s+Expected: .*\n\s+Observed: /);
    // The recap: one line per failed requirement (anchor, level, source), then the counts of requirements and tests.
    const recap = run.stdout.slice(run.stdout.indexOf('failed requirements:'));
    expect(recap).toMatch(/^\s+kp-handout-last-resort \[MUST\] profile: kp-handout-last-resort\/req fail/m);
    const lines = recap.split('\n').filter((l) => /^\s+kp-/.test(l));
    expect(new Set(lines.map((l) => l.trim().split(' ')[0])).size).toBe(lines.length);
    // The relay claims the profile, so the races it leaves untested stop the run too.
    const tests = (run.stdout.match(/^\s+(FAIL|UNTESTED)\s/gm) ?? []).length;
    expect(recap).toMatch(new RegExp(`result: ${lines.length} failing requirement\\(s\\) \\(${tests} test\\(s\\)\\)`));
  });

  it('fails a relay that claims the profile on untested MUSTs, grouped by reason, unless --allow-untested', async () => {
    const run = await kpsuite(['check', '--url', silent.url, '--no-reports', '--only', 'kp-req-owner']);
    expect(run.stderr).toBe('');
    expect(run.stdout).toMatch(/UNTESTED\s+kp-req-owner\//);
    expect(run.stdout).toMatch(/(\d+) MUST test\(s\) could not be checked, they fail the run: the relay claims the profile/);
    expect(run.stdout).toMatch(/^\s+1 × the relay sent no \["AUTH", <challenge>\]/m);
    expect(run.stdout).not.toMatch(/every MUST passed/);
    expect(run.code).toBe(1);
    const allowed = await kpsuite(['check', '--url', silent.url, '--no-reports', '--only', 'kp-req-owner', '--allow-untested']);
    expect(allowed.stdout).toMatch(/accepted by --allow-untested/);
    expect(allowed.code).toBe(0);
  });

  it('exits 2 when --only matches no test, saying what ids look like', async () => {
    const run = await kpsuite(['check', '--url', good.url, '--no-reports', '--only', 'kp-handout-lastresort']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/--only 'kp-handout-lastresort' matches no test; test ids look like kp-handout-last-resort\/\w+.*'kp-handout-last-resort\/\*'/);
  });

  it('--list prints every id with anchor, level and source and exits 0 without connecting', async () => {
    const run = await kpsuite(['check', '--url', 'ws://127.0.0.1:1', '--list']);
    expect(run.code).toBe(0);
    expect(run.stderr).toBe('');
    expect(run.stdout).toMatch(/^kp-handout-last-resort\/req\s+kp-handout-last-resort\s+\[MUST\]\s+profile$/m);
    expect(run.stdout).toMatch(/^nip-01\/ok-every-event\s+nip-01\s+\[MUST\]\s+NIP-01$/m);
    const bare = await kpsuite(['check', '--list', '--only', 'kp-handout-last-resort']);
    const listed = bare.stdout.trim().split('\n').slice(0, -1);
    expect(listed.length).toBeGreaterThan(0);
    expect(listed.every((l) => l.startsWith('kp-handout-last-resort/'))).toBe(true);
    expect(bare.stdout).toMatch(new RegExp(`^${listed.length} tests, 1 requirements`, 'm'));
  });

  it('exits 0 when every failure is listed in --expect-fail, and reports an expected failure that passed', async () => {
    const file = join(out, 'expected.txt');
    // The races cannot judge a relay that consumes the last resort: untested, so listed too (a bare anchor).
    writeFileSync(file, '# consume-last relay\nkp-handout-last-resort/*\nkp-handout-exactly-once\nkp-handout-order/*   # passes: reported\n');
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
