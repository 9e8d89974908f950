import { describe, expect, it } from 'vitest';
import type { Outcome } from '../schema.js';
import { classify, compareReports, diffReports, unionIds } from '../compare.js';
import { fixtureReport, HOSTILE, record } from './fixture.js';

const before = fixtureReport(
  [
    record('kp-a/keeps', 'pass'),
    record('kp-b/breaks', 'pass', { level: 'MUST' }),
    record('kp-c/mends', 'fail'),
    record('kp-d/gone', 'pass'),
    record('kp-e/softens', 'non-strict', { level: 'SHOULD' }),
    record('kp-f/skips', 'pass'),
  ],
  { startedAt: '2026-11-01T10:00:00.000Z' },
);
const after = fixtureReport(
  [
    record('kp-a/keeps', 'pass'),
    record('kp-b/breaks', 'fail', { message: `now broken ${HOSTILE}` }),
    record('kp-c/mends', 'pass'),
    record('kp-e/softens', 'fail', { level: 'SHOULD' }),
    record('kp-f/skips', 'skipped'),
    record('kp-g/new', 'error'),
  ],
  { startedAt: '2026-11-22T10:00:00.000Z' },
);

describe('classify', () => {
  it.each<[Outcome | undefined, Outcome | undefined, string]>([
    ['pass', 'fail', 'regressed'],
    ['pass', 'non-strict', 'regressed'],
    ['pass', 'error', 'regressed'],
    ['info', 'fail', 'regressed'],
    ['non-strict', 'fail', 'regressed'],
    ['fail', 'pass', 'improved'],
    ['error', 'pass', 'improved'],
    ['non-strict', 'pass', 'improved'],
    ['fail', 'non-strict', 'improved'],
    ['pass', 'pass', 'unchanged'],
    ['fail', 'fail', 'unchanged'],
    ['fail', 'error', 'changed'],
    ['pass', 'info', 'changed'],
    ['pass', 'skipped', 'changed'],
    ['untested', 'fail', 'changed'],
    [undefined, 'pass', 'added'],
    ['fail', undefined, 'removed'],
  ])('%s -> %s is %s', (from, to, change) => {
    expect(classify(from, to)).toBe(change);
  });
});

describe('diffReports and compareReports', () => {
  it('classifies every test between the first and last report', () => {
    const diff = Object.fromEntries(diffReports(before, after).map((d) => [d.id, d.change]));
    expect(diff).toEqual({
      'kp-a/keeps': 'unchanged',
      'kp-b/breaks': 'regressed',
      'kp-c/mends': 'improved',
      'kp-d/gone': 'removed',
      'kp-e/softens': 'regressed',
      'kp-f/skips': 'changed',
      'kp-g/new': 'added',
    });
  });

  it('returns the regressions with their outcomes and latest message', () => {
    const { regressions } = compareReports([{ label: 'v1', report: before }, { label: 'v2', report: after }]);
    expect(regressions).toEqual([
      { id: 'kp-b/breaks', anchor: 'kp-b', section: 'REQ', level: 'MUST', from: 'pass', to: 'fail', message: `now broken ${HOSTILE}` },
      { id: 'kp-e/softens', anchor: 'kp-e', section: 'REQ', level: 'SHOULD', from: 'non-strict', to: 'fail' },
    ]);
  });

  it('compares the first and the last of three, and keeps every run in the matrix', () => {
    const middle = fixtureReport([record('kp-b/breaks', 'fail'), record('kp-z/only-middle', 'pass')]);
    const result = compareReports([
      { label: 'v1', report: before },
      { label: 'v1.5', report: middle },
      { label: 'v2', report: after },
    ]);
    expect(result.regressions.map((r) => r.id)).toEqual(['kp-b/breaks', 'kp-e/softens']);
    expect(unionIds([before, middle, after])).toEqual(['kp-a/keeps', 'kp-b/breaks', 'kp-c/mends', 'kp-d/gone', 'kp-e/softens', 'kp-f/skips', 'kp-z/only-middle', 'kp-g/new']);
    const matrix = result.markdown.slice(result.markdown.indexOf('## Matrix'));
    expect(matrix).toContain('| Test | Level | 1. v1 | 2. v1.5 | 3. v2 | Change |');
    expect(matrix).toContain('| `kp-z/only-middle` | MUST | — | ✅ pass | — |  |');
    expect(matrix).toContain('| `kp-b/breaks` | MUST | ✅ pass | ❌ fail | ❌ fail | regressed |');
    expect(matrix).toContain('| `kp-d/gone` | MUST | ✅ pass | — | — | removed |');
    expect(matrix).toContain('| `kp-g/new` | MUST | — | — | 💥 error | added |');
  });

  it('lists regressions first in Markdown and HTML, relay strings escaped', () => {
    const { markdown, summary, html } = compareReports([{ label: '', report: before }, { label: `<b>v2</b>`, report: after }]);
    const order = ['### Regressions (2)', '### Improvements (1)', '### Other changes (1)', '### Added tests (1)', '### Removed tests (1)', '## Matrix'].map((h) => markdown.indexOf(h));
    expect(order.every((i) => i > 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect(markdown).toContain('## From ws://127.0.0.1:7777 2026-11-01 10:00:00 UTC to &lt;b&gt;v2&lt;/b&gt;');
    expect(markdown).toContain('2 regressed, 1 improved, 1 changed, 1 added, 1 removed, 1 unchanged.');
    expect(summary).not.toContain('## Matrix');
    expect(markdown.startsWith(summary)).toBe(true);
    expect(html).not.toContain(HOSTILE);
    expect(html).not.toContain('<b>v2</b>');
    expect(html.indexOf('id="regressed"')).toBeLessThan(html.indexOf('id="improved"'));
    expect(html).toContain('<tr class="change-regressed" data-change="regressed"><td><code>kp-b/breaks</code>');
    expect(html).not.toContain('<script>');
  });

  it('says when there is no regression, and with one report only draws the matrix', () => {
    const same = compareReports([{ label: 'a', report: after }, { label: 'b', report: after }]);
    expect(same.regressions).toEqual([]);
    expect(same.markdown).toContain('### Regressions (0)\n\nNone.');
    const one = compareReports([{ label: 'a', report: after }]);
    expect(one.regressions).toEqual([]);
    expect(one.diff).toEqual([]);
    expect(one.markdown).toContain('_One report: nothing to compare it with._');
    expect(one.markdown).toContain('| Test | Level | 1. a |');
  });

  it('tells repeated labels apart', () => {
    const { markdown } = compareReports([{ label: 'x', report: before }, { label: 'x', report: after }]);
    expect(markdown).toContain('| 1. x | 2. x (2) |');
  });
});
