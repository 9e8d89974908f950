/**
 * The matrix of several relays' runs, built from their report records: rows in
 * the suite's order, cells linking to the test's row in each run's
 * index.html, relays that could not be checked, and the worst exit code.
 */
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildMatrix, testFragment, worstExitCode, type RelayRun } from '../matrix.js';
import { relayResult, toMatrixHtml, toMatrixMarkdown } from '../matrix-render.js';
import { writeMatrix } from '../matrix-write.js';
import { fixtureReport, HOSTILE, record } from './fixture.js';

const BASE = '/runs';
const MATRIX_DIR = `${BASE}/matrix-20261122T100000Z`;

function run(url: string, exitCode: RelayRun['exitCode'], tests: ReturnType<typeof record>[], dir: string): RelayRun {
  return { url, exitCode, report: fixtureReport(tests, { url }), runDir: `${BASE}/${dir}` };
}

const good = run('ws://good:1', 0, [record('kp-a/one', 'pass'), record('kp-b/two', 'pass'), record('kp-c/off', 'skipped')], 'good-1');
const bad = run(
  'ws://bad:2',
  1,
  [record('kp-a/one', 'pass'), record('kp-b/two', 'fail', { expectedFailure: true }), record('kp-c/off', 'skipped'), record('kp-d/extra', 'error')],
  'bad-2',
);
const unreachable: RelayRun = { url: 'ws://gone:3', exitCode: 2, error: 'cannot connect to ws://gone:3' };

describe('worstExitCode', () => {
  it.each<[RelayRun['exitCode'][], number]>([
    [[], 0],
    [[0, 0], 0],
    [[0, 1, 0], 1],
    [[1, 0], 1],
    [[0, 2, 1], 2],
    [[2, 0], 2],
  ])('%j gives %i', (codes, worst) => expect(worstExitCode(codes)).toBe(worst));
});

describe('buildMatrix', () => {
  const m = buildMatrix([good, bad, unreachable], MATRIX_DIR, new Date('2026-11-22T10:00:00Z'));

  it('has one row per test some relay ran, in the order the runs list them, and drops tests every relay skipped', () => {
    expect(m.rows.map((r) => r.id)).toEqual(['kp-a/one', 'kp-b/two', 'kp-d/extra']);
  });

  it('links each cell to the test row of its run, relative to the matrix folder', () => {
    const two = m.rows.find((r) => r.id === 'kp-b/two')!;
    expect(two.cells[0]).toEqual({ outcome: 'pass', href: '../good-1/index.html#test-kp-b/two' });
    expect(two.cells[1]).toEqual({ outcome: 'fail', href: '../bad-2/index.html#test-kp-b/two', expectedFailure: true });
  });

  it('leaves a cell empty where a relay has no such test, and every cell of a relay that was not checked', () => {
    const extra = m.rows.find((r) => r.id === 'kp-d/extra')!;
    expect(extra.cells[0]).toBeNull();
    expect(extra.cells[1]?.outcome).toBe('error');
    expect(m.rows.every((r) => r.cells[2] === null)).toBe(true);
  });

  it('gives each relay its exit code, counts and report, and an unreachable one its error and zero counts', () => {
    expect(m.relays.map((r) => r.exitCode)).toEqual([0, 1, 2]);
    expect(m.relays[1]).toMatchObject({ url: 'ws://bad:2', report: '../bad-2/index.html', counts: { pass: 1, fail: 1, error: 1, skipped: 1 } });
    expect(m.relays[2]).toMatchObject({ url: 'ws://gone:3', error: 'cannot connect to ws://gone:3' });
    expect(m.relays[2]!.report).toBeUndefined();
    expect(Object.values(m.relays[2]!.counts).every((n) => n === 0)).toBe(true);
    expect(relayResult(m.relays[2]!)).toBe('exit 2: cannot connect to ws://gone:3');
    expect(relayResult(m.relays[1]!)).toBe('exit 1: a test stopped the run');
  });

  it('exits with the worst of the relays', () => {
    expect(m.exitCode).toBe(2);
    expect(buildMatrix([good, bad], MATRIX_DIR).exitCode).toBe(1);
  });

  it('has no links for runs that wrote no reports', () => {
    const bare = buildMatrix([{ ...good, runDir: undefined }], MATRIX_DIR);
    expect(bare.rows[0]!.cells[0]).toEqual({ outcome: 'pass' });
    expect(bare.relays[0]!.report).toBeUndefined();
  });
});

describe('testFragment', () => {
  it('names the row index.html gives the test, encoding what a fragment cannot hold', () => {
    expect(testFragment('kp-del-owner/others-cannot')).toBe('#test-kp-del-owner/others-cannot');
    expect(testFragment('x y#"<')).toBe('#test-x%20y%23%22%3C');
  });
});

describe('matrix.md and matrix.html', () => {
  const hostile = run(`ws://evil:4/${HOSTILE}`, 1, [record('kp-a/one', 'fail')], 'evil-4');
  const m = buildMatrix([good, bad, unreachable, hostile], MATRIX_DIR);
  const md = toMatrixMarkdown(m);
  const html = toMatrixHtml(m);

  it('Markdown: a row per test, a linked cell per relay, the relays with their results', () => {
    expect(md).toContain('| `kp-b/two` | MUST | [✅ pass](../good-1/index.html#test-kp-b/two) | [❌ fail (expected)](../bad-2/index.html#test-kp-b/two) | — |');
    expect(md).toContain('exit 2: cannot connect to ws://gone:3');
    expect(md).toContain('exit 2, the worst of 4 relay(s)');
    // Inside a code span GitHub shows markup as text; anywhere else it must be escaped.
    expect(md).toContain(`\`ws://evil:4/${HOSTILE}\``);
    expect(md.replace(/`[^`\n]*`/g, '')).not.toMatch(/<script|<img/);
  });

  it('HTML: each cell a badge linking to the run report, relay text escaped', () => {
    expect(html).toContain('<a class="badge o-fail" href="../bad-2/index.html#test-kp-b/two">fail (expected)</a>');
    expect(html).toContain('<td class="cell missing" data-relay="2">—</td>');
    expect(html).toContain('<a href="../good-1/index.html">index.html</a>');
    expect(html).not.toContain(HOSTILE);
    expect(html).toContain('&lt;script&gt;');
    expect(html).not.toMatch(/<script>/);
  });
});

describe('writeMatrix', () => {
  const base = mkdtempSync(join(tmpdir(), 'kpsuite-matrix-'));
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  it('writes matrix.html, .md and .json into matrix-<time>/ and points latest-matrix at it', () => {
    const first = writeMatrix([good, bad], base, new Date('2026-11-22T10:00:00Z'));
    expect(first.dir).toBe(join(base, 'matrix-20261122T100000Z'));
    expect(first.files.map((f) => f.slice(first.dir.length + 1))).toEqual(['matrix.html', 'matrix.md', 'matrix.json']);
    expect(JSON.parse(readFileSync(first.files[2]!, 'utf8'))).toEqual(JSON.parse(JSON.stringify(first.matrix)));
    expect(readlinkSync(join(base, 'latest-matrix'))).toBe('matrix-20261122T100000Z');
    const second = writeMatrix([good], base, new Date('2026-11-22T10:00:00Z'));
    expect(second.dir).toBe(join(base, 'matrix-20261122T100000Z-2'));
    expect(readlinkSync(join(base, 'latest-matrix'))).toBe('matrix-20261122T100000Z-2');
  });

  it('writes latest-matrix.txt instead of replacing a real latest-matrix folder', () => {
    const other = mkdtempSync(join(tmpdir(), 'kpsuite-matrix-'));
    try {
      mkdirSync(join(other, 'latest-matrix'));
      const written = writeMatrix([good], other, new Date('2026-11-22T11:00:00Z'));
      expect(written.latest).toBe(join(other, 'latest-matrix.txt'));
      expect(readFileSync(written.latest, 'utf8')).toBe('matrix-20261122T110000Z\n');
      expect(lstatSync(join(other, 'latest-matrix')).isDirectory()).toBe(true);
      expect(existsSync(join(written.dir, 'matrix.html'))).toBe(true);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });
});
