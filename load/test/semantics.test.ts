/**
 * The drivers agree with k6 where it matters for verdicts: setup data as k6
 * passes it, no vacuous passes (work thresholds, "no samples", not run),
 * roles that end when their work ends.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { listRuns, runsMarkdown } from '../../report/list.js';
import { asK6SetupData, SetupDataError } from '../core/setup-data.js';
import { notRunReason, RELAY_ACCESS, type Role } from '../core/scenario.js';
import { LOAD_SUMMARY_SCHEMA, toJUnit, toText, type LoadSummary } from '../core/summary.js';
import { evaluateAll, evaluateThreshold } from '../core/thresholds.js';
import { runRole } from '../node/executor.js';
import { runNode } from '../node/run.js';
import { startAuthlessRelay } from './fake-relay.js';

const tmp = mkdtempSync(join(tmpdir(), 'kp-load-sem-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('setup data as k6 passes it (json.Marshal of goja export)', () => {
  it('turns undefined into null inside objects, keeps the key', () => {
    expect(asK6SetupData({ problem: undefined, url: 'ws://x' })).toEqual({ problem: null, url: 'ws://x' });
    expect(Object.keys(asK6SetupData({ a: { b: undefined } }) as object)).toEqual(['a']);
    expect((asK6SetupData({ a: { b: undefined } }) as { a: Record<string, unknown> }).a).toHaveProperty('b', null);
  });

  it('turns undefined items and holes of arrays into null', () => {
    // eslint-disable-next-line no-sparse-arrays -- the hole is the point
    expect(asK6SetupData([1, undefined, , null])).toEqual([1, null, null, null]);
  });

  it('keeps a top-level undefined undefined; null stays null', () => {
    expect(asK6SetupData(undefined)).toBeUndefined();
    expect(asK6SetupData(null)).toBeNull();
  });

  it('fails where k6 fails to marshal: functions, symbols, NaN, Infinity', () => {
    for (const bad of [{ f: () => 1 }, { s: Symbol('x') }, [Number.NaN], { n: Number.POSITIVE_INFINITY }]) expect(() => asK6SetupData(bad)).toThrow(SetupDataError);
  });

  it('writes a Date as its ISO string and a BigInt as a number', () => {
    expect(asK6SetupData({ d: new Date(0), b: 5n })).toEqual({ b: 5, d: '1970-01-01T00:00:00.000Z' });
  });

  it('differs from a JSON round trip exactly where k6 does', () => {
    const value = { limits: undefined, owners: ['a'] };
    expect(JSON.parse(JSON.stringify(value))).not.toHaveProperty('limits');
    expect(asK6SetupData(value)).toHaveProperty('limits', null);
  });
});

describe('nothing vacuous', () => {
  it('a threshold on a metric without samples is "no samples", not held', () => {
    expect(evaluateThreshold('m', 'rate==1', undefined)).toEqual({ metric: 'm', expression: 'rate==1', ok: undefined, actual: undefined, noSamples: true });
    // A Trend or Rate present with no sample (its count says so) is the same.
    expect(evaluateThreshold('t', 'p(95)<500', { count: 0, med: 0, 'p(95)': 0 }).noSamples).toBe(true);
    expect(evaluateThreshold('r', 'rate==1', { rate: 0, passes: 0, fails: 0 }).noSamples).toBe(true);
    // A counter holding only 0 has a sample: count>0 is evaluated and fails.
    expect(evaluateThreshold('c', 'count>0', { count: 0, rate: 0 }).ok).toBe(false);
    expect(evaluateAll({ c: ['count>0'] }, () => ({ count: 3, rate: 1 }), () => false)[0]?.noSamples).toBe(true);
  });

  it('not run only when nothing was checked and the relay refused us (or setup said so)', () => {
    const values = (work: number, auth: number) => ({ w: { count: work }, [RELAY_ACCESS.auth.name]: { count: auth } });
    expect(notRunReason(undefined, ['w'], values(0, 3))).toMatch(/refused NIP-42 AUTH \(3 times\)/);
    expect(notRunReason(undefined, ['w'], values(1, 3))).toBeUndefined();
    // Nothing checked for another reason: no "not run", the work threshold fails the run instead.
    expect(notRunReason(undefined, ['w'], values(0, 0))).toBeUndefined();
    expect(notRunReason('no limits', ['w'], values(5, 0))).toBe('no limits');
  });

  const summary = (over: Partial<LoadSummary>): LoadSummary => ({
    schema: LOAD_SUMMARY_SCHEMA,
    scenario: 'rate',
    description: 'd',
    driver: 'node',
    relay: { url: 'ws://127.0.0.1:1' },
    startedAt: '2026-11-29T00:00:00.000Z',
    durationMs: 1000,
    settings: {},
    metrics: {},
    thresholds: [
      { metric: 'rate_checked', expression: 'count>0', ok: false, actual: 0 },
      { metric: 'kp_req_eose_ms', expression: 'p(95)<500', ok: undefined, actual: undefined, noSamples: true },
    ],
    passed: false,
    notes: [],
    ...over,
  });

  it('summaries put the not-run reason first and never show ✓ for a threshold without samples', () => {
    const text = toText(summary({ notRun: 'the relay advertises no limits', droppedIterations: 4, vuShortages: ['publishers: 4 of 10 arrivals found all 2 VUs busy'] }));
    expect(text.split('\n')[0]).toBe('NOT RUN: the relay advertises no limits');
    expect(text).toContain('– kp_req_eose_ms p(95)<500  (no samples)');
    expect(text).not.toContain('✓');
    expect(text).toContain('dropped_iterations: 4');
    expect(text).toContain('VU shortage: publishers');
    expect(toJUnit(summary({ notRun: 'x' }))).toMatch(/<error message="not run: x" type="not-run"\/>/);
  });

  it('report list shows a not-run load run as not run, with its reason, and does not count empty thresholds as held', () => {
    const dir = join(tmp, 'runs');
    for (const [folder, over] of [
      ['a', { notRun: 'the relay refused NIP-42 AUTH (4 times) and nothing was checked' }],
      ['b', { startedAt: '2026-11-29T00:00:01.000Z', passed: true, thresholds: [{ metric: 'x', expression: 'count>0', ok: true, actual: 1 }, summary({}).thresholds[1]] }],
    ] as const) {
      mkdirSync(join(dir, folder), { recursive: true });
      writeFileSync(join(dir, folder, 'load-rate.json'), JSON.stringify(summary(over as Partial<LoadSummary>)));
    }
    const entries = listRuns(dir);
    const md = runsMarkdown(entries);
    expect(md).toContain('NOT RUN: the relay refused NIP-42 AUTH (4 times)');
    expect(md).not.toMatch(/FAILED: .*thresholds held/);
    expect(entries.find((e) => e.folder === 'b')?.result).toBe('1/2 thresholds held, 1 without samples');
  });
});

describe('the Node driver on a relay it cannot use', () => {
  it('rate: no limits advertised → not run, exit 2, reason first', async () => {
    const relay = await startAuthlessRelay();
    try {
      const r = await runNode({ scenario: 'rate', env: { RELAY_URL: relay.url, TIMEOUT_MS: '500' } });
      expect(r.exitCode).toBe(2);
      expect(r.summary.notRun).toMatch(/advertises no complete NIP-11 keypackages limits/);
      expect(r.roles).toEqual([]);
    } finally {
      await relay.close();
    }
  });

  it('groups: AUTH never succeeds → not run (exit 2), and the work threshold failed, as it does under k6', async () => {
    const relay = await startAuthlessRelay();
    try {
      const r = await runNode({ scenario: 'groups', env: { RELAY_URL: relay.url, TIMEOUT_MS: '300', DURATION: '1s', RATE: '2', MEMBERS: '4', NOTE_RATE: '1', INITIAL_KPS: '1' } });
      expect(r.summary.notRun).toMatch(/refused NIP-42 AUTH/);
      expect(r.exitCode).toBe(2);
      expect(r.summary.thresholds.find((t) => t.metric === 'groups_checked')).toMatchObject({ ok: false, actual: 0 });
      expect(toText(r.summary)).not.toMatch(/✓ groups_invites_incomplete/);
    } finally {
      await relay.close();
    }
  });
});

describe('the Node executor ends a role when its work ends', () => {
  it('a one-iteration role with a 60 s duration and 10 s grace returns as soon as its iteration does, leaving no timer', async () => {
    const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    const role: Role<null> = { name: 'once', executor: { executor: 'per-vu-iterations', vus: 2, iterations: 1, maxDuration: '60s' }, durationMs: 60_000, run: () => new Promise((r) => setTimeout(r, 50)) };
    const t0 = Date.now();
    const out = await runRole({} as never, role, null, { graceMs: 10_000, cut: () => undefined });
    const took = Date.now() - t0;
    expect(out).toMatchObject({ iterations: 2, dropped: 0, interrupted: false });
    // Bounded, not a sleep: the work is 50 ms; anything near the 60 s duration or 10 s grace is the bug.
    expect(took, `took ${took} ms`).toBeLessThan(5000);
    expect(timers()).toBeLessThanOrEqual(before);
  });
});
