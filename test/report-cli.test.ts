import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { reportCommand, runCompare, type Io } from '../cli/report-command.js';
import { writeRunReports } from '../report/write.js';
import { fixtureReport, record } from '../report/test/fixture.js';

let base: string;
let out: { stdout: string; stderr: string };
let io: Io;

beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), 'kpsuite-compare-'));
  out = { stdout: '', stderr: '' };
  io = { stdout: (t) => (out.stdout += t), stderr: (t) => (out.stderr += t) };
});
afterEach(() => {
  rmSync(base, { recursive: true, force: true });
  process.exitCode = undefined;
});

const saved = (name: string, outcome: 'pass' | 'fail'): string => {
  const path = join(base, `${name}.json`);
  writeFileSync(path, JSON.stringify(fixtureReport([record('kp-a/x', outcome), record('kp-b/y', 'pass')])));
  return path;
};

describe('runCompare', () => {
  it('exits 1 on a regression, prints the summary and the regressions, writes compare.md and compare.html', () => {
    const dest = join(base, 'cmp');
    const code = runCompare({ paths: [saved('old', 'pass'), saved('new', 'fail')], labels: ['old', 'new'], out: dest }, io);
    expect(code).toBe(1);
    expect(out.stdout).toContain('# kpsuite comparison');
    expect(out.stdout).toContain('### Regressions (1)');
    expect(out.stdout).toContain('1 regression(s) from the first report to the last:\n  kp-a/x: pass → fail\n');
    expect(out.stdout).toContain(`Wrote ${join(dest, 'compare.md')} and ${join(dest, 'compare.html')}`);
    expect(readFileSync(join(dest, 'compare.md'), 'utf8')).toContain('| `kp-a/x` | MUST | ✅ pass | ❌ fail | regressed |');
    expect(readFileSync(join(dest, 'compare.html'), 'utf8')).toContain('data-change="regressed"');
  });

  it('exits 0 when nothing regressed, and accepts run folders', () => {
    const a = writeRunReports(fixtureReport([record('kp-a/x', 'fail')]), join(base, 'r'));
    const b = writeRunReports(fixtureReport([record('kp-a/x', 'pass')]), join(base, 'r'));
    expect(runCompare({ paths: [a.dir, b.dir], labels: [], out: join(base, 'cmp') }, io)).toBe(0);
    expect(out.stdout).toContain('### Improvements (1)');
    expect(out.stderr).toBe('');
  });

  it('writes to kpsuite-runs/compare-<time>/ by default', () => {
    const cwd = process.cwd();
    process.chdir(base);
    try {
      const code = runCompare({ paths: [saved('a', 'pass')], labels: [], now: new Date('2026-11-22T22:45:12Z') }, io);
      expect(code).toBe(0);
      expect(existsSync(join(base, 'kpsuite-runs', 'compare-20261122T224512Z', 'compare.html'))).toBe(true);
    } finally {
      process.chdir(cwd);
    }
  });

  it('exits 2 with a message saying what to fix on unreadable input', () => {
    const bad = join(base, 'bench.json');
    writeFileSync(bad, '{"relays":[]}');
    expect(runCompare({ paths: [saved('a', 'pass'), bad], labels: [], out: join(base, 'cmp') }, io)).toBe(2);
    expect(out.stderr).toMatch(/^kpsuite report compare: .*bench\.json is not a kpsuite report: it has no "schema" field.*give the report\.json of a `kpsuite check` run/);
    expect(existsSync(join(base, 'cmp'))).toBe(false);
    expect(runCompare({ paths: [saved('a', 'pass')], labels: ['x', 'y'], out: join(base, 'cmp') }, io)).toBe(2);
    expect(out.stderr).toContain('2 --label values for 1 reports');
  });
});

describe('reportCommand', () => {
  it('is `report` with `list` and `compare` subcommands; compare sets the exit code', async () => {
    const report = reportCommand();
    expect(report.name()).toBe('report');
    expect(report.commands.map((c) => c.name())).toEqual(['list', 'compare']);
    const compare = report.commands.find((c) => c.name() === 'compare')!;
    expect(compare.options.map((o) => o.long)).toEqual(['--out', '--label']);
    const written: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((chunk: string) => written.push(chunk) > 0) as typeof process.stdout.write;
    try {
      await report.parseAsync(['compare', saved('a', 'pass'), saved('b', 'fail'), '--out', join(base, 'cmd'), '--label', 'A', '--label', 'B'], { from: 'user' });
    } finally {
      process.stdout.write = write;
    }
    expect(process.exitCode).toBe(1);
    expect(written.join('')).toContain('| 1 | A |');
    expect(existsSync(join(base, 'cmd', 'compare.md'))).toBe(true);
  });
});
