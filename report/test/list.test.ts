import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { listRuns, runsMarkdown } from '../list.js';

const base = mkdtempSync(join(tmpdir(), 'kpsuite-list-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));

function write(folder: string, file: string, body: unknown): void {
  mkdirSync(join(base, folder), { recursive: true });
  writeFileSync(join(base, folder, file), JSON.stringify(body));
}

describe('kpsuite report list', () => {
  it('lists check, props and load runs newest first, with failures marked', () => {
    write('a-check', 'report.json', {
      schema: 'kpsuite-report/1',
      relay: { url: 'ws://r:1' },
      run: { startedAt: '2026-11-22T10:00:00.000Z' },
      summary: { pass: 130, fail: 6, total: 136, exitCode: 1 },
    });
    write('b-props', 'props.json', {
      schema: 'kpsuite-props/1',
      relay: { url: 'ws://r:1' },
      run: { startedAt: '2026-11-22T11:00:00.000Z' },
      result: { exitCode: 0, numRuns: 50 },
    });
    write('c-load', 'load-contend.json', {
      schema: 'kpsuite-load/1',
      scenario: 'contend',
      driver: 'k6',
      relay: { url: 'ws://r:1' },
      startedAt: '2026-11-22T12:00:00.000Z',
      thresholds: [{ ok: true }, { ok: false }],
      passed: false,
    });
    write('d-other', 'notes.json', { schema: 'something-else' });
    // The latest pointer is the same run again, not a fourth one.
    symlinkSync('c-load', join(base, 'latest'), 'dir');

    const entries = listRuns(base);
    expect(entries.map((e) => [e.kind, e.ok, e.result])).toEqual([
      ['load contend (k6)', false, '1/2 thresholds held'],
      ['props', true, '50 sequences, no violation'],
      ['check', false, '130/136 pass, 6 fail'],
    ]);
    expect(runsMarkdown(entries)).toMatch(/\| FAILED: 1\/2 thresholds held \|/);
  });

  it('returns nothing for a folder without runs', () => {
    expect(listRuns(join(base, 'missing'))).toEqual([]);
  });
});
