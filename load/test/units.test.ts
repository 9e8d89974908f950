/** The pure parts: signer, thresholds, durations, k6 summary data, the rate model, renderings. */
import { getEventHash, verifyEvent } from 'nostr-tools/pure';
import { describe, expect, it } from 'vitest';
import { DEFAULT_KEYPACKAGE_LIMITS, KIND, MLS_PROTOCOL_VERSION, TAG } from '../../protocol/profile.js';
import { installPolyfills } from '../core/polyfill.js';
import { nobleSigner, utf8 } from '../core/signer.js';
import { parseDuration, SettingsError } from '../core/settings.js';
import { LOAD_SUMMARY_SCHEMA, toJUnit, toMarkdown, type LoadSummary } from '../core/summary.js';
import { evaluateThreshold, parseThreshold } from '../core/thresholds.js';
import { readK6Data } from '../k6/summary-data.js';
import { percentile } from '../node/metrics.js';
import { ratePlanFor } from '../scenarios/rate.js';
import { arrivalRate, maxArrivals } from '../scenarios/common.js';
import { publishPoolSize } from '../scenarios/publish.js';
import { fixtureNeeds, SCENARIOS } from '../scenarios/index.js';
import { SCENARIO_NAMES, type ScenarioName } from '../core/scenario.js';
import { k6Options } from '../core/k6-options.js';
import { EMPTY_FIXTURE } from '../core/fixture.js';
import { settingsFrom } from '../core/settings.js';

describe('the k6 signer', () => {
  it('signs events nostr-tools verifies, with the id nostr-tools computes (UTF-8 included)', () => {
    const sk = nobleSigner.newSecretKey();
    for (const content of ['', 'hello', 'ünïcödé ✓ 🔑 中文', '\u{1F600}'.repeat(3)]) {
      const e = nobleSigner.sign({ kind: KIND.keyPackage, created_at: 1_700_000_000, tags: [[TAG.mlsProtocolVersion, MLS_PROTOCOL_VERSION], ['client', 'ké']], content }, sk);
      expect(e.pubkey).toBe(nobleSigner.publicKey(sk));
      expect(getEventHash(e)).toBe(e.id);
      expect(verifyEvent({ ...e })).toBe(true);
    }
  });

  it('encodes UTF-8 as TextEncoder does, lone surrogates included', () => {
    for (const s of ['abc', 'é', '€', '😀', 'a\uD800b', '\uDC00']) expect([...utf8(s)]).toEqual([...new TextEncoder().encode(s)]);
  });

  it('makes Uint8Array.from take strings where it rejects them (k6 1.3)', () => {
    const original = Object.getOwnPropertyDescriptor(Uint8Array, 'from');
    const from = Uint8Array.from.bind(Uint8Array) as (...a: unknown[]) => Uint8Array;
    Object.defineProperty(Uint8Array, 'from', {
      configurable: true,
      writable: true,
      value: (src: unknown, ...rest: unknown[]) => {
        if (typeof src === 'string') throw new TypeError('string source');
        return from(src, ...rest);
      },
    });
    try {
      expect(() => Uint8Array.from('ab', (c: string) => c.charCodeAt(0))).toThrow();
      installPolyfills();
      expect([...Uint8Array.from('ab', (c: string) => c.charCodeAt(0))]).toEqual([97, 98]);
      const e = nobleSigner.sign({ kind: 1, created_at: 1, tags: [], content: 'x' }, nobleSigner.newSecretKey());
      expect(verifyEvent({ ...e })).toBe(true);
    } finally {
      if (original) Object.defineProperty(Uint8Array, 'from', original);
      else delete (Uint8Array as { from?: unknown }).from;
    }
  });
});

describe('thresholds and durations', () => {
  it('parses and evaluates k6 expressions', () => {
    expect(parseThreshold('p(99.9) < 20')).toEqual({ stat: 'p(99.9)', op: '<', bound: 20 });
    expect(evaluateThreshold('m', 'count==0', { count: 0 }).ok).toBe(true);
    expect(evaluateThreshold('m', 'count<=7', { count: 8 }).ok).toBe(false);
    expect(evaluateThreshold('m', 'rate==1', { rate: 0.99 }).ok).toBe(false);
    expect(evaluateThreshold('m', 'med<3', { 'p(50)': 2 }).ok).toBe(true);
    expect(evaluateThreshold('m', 'p(99)<10', { 'p(95)': 2 }).ok).toBeUndefined();
  });

  it('parses k6 durations', () => {
    expect(parseDuration('30s')).toBe(30_000);
    expect(parseDuration('5m')).toBe(300_000);
    expect(parseDuration('1h')).toBe(3_600_000);
    expect(parseDuration('1m30s')).toBe(90_000);
    expect(parseDuration('250ms')).toBe(250);
    for (const bad of ['', '30', 's', '1d', '-1s', '0s']) expect(() => parseDuration(bad), bad).toThrow(SettingsError);
  });

  it('interpolates percentiles as k6 does', () => {
    expect(percentile([1, 2, 3, 4], 50)).toBe(2.5);
    expect(percentile([10], 99)).toBe(10);
    expect(percentile([], 95)).toBe(0);
  });
});

describe('k6 summary data', () => {
  it('reads the legacy shape, verdicts included', () => {
    const d = readK6Data({ state: { testRunDurationMs: 1500 }, metrics: { x: { type: 'counter', values: { count: 2, rate: 1 }, thresholds: { 'count==0': { ok: false } } } } });
    expect(d.valuesOf('x')).toEqual({ count: 2, rate: 1 });
    expect(d.verdict('x', 'count==0')).toBe(false);
    expect(d.durationMs).toBe(1500);
    expect(d.valuesOf('missing')).toBeUndefined();
  });

  it('reads the machine-readable shape (k6 --new-machine-readable-summary)', () => {
    const d = readK6Data({
      version: '1.0.0',
      config: { duration: 2.5 },
      results: { passed: false, metrics: [{ name: 'r', type: 'rate', values: { rate: 0.5, matches: 1, total: 2 } }] },
    });
    expect(d.valuesOf('r')).toMatchObject({ rate: 0.5, passes: 1, fails: 1 });
    expect(d.passed).toBe(false);
    expect(d.durationMs).toBe(2500);
  });
});

describe('the rate model', () => {
  it('predicts queries_per_window and served_per_window refusals', () => {
    const { owners, steps } = ratePlanFor(DEFAULT_KEYPACKAGE_LIMITS, 2);
    const verdicts = steps.map((s) => s.expect);
    expect(verdicts.slice(0, 12)).toEqual([...Array(10).fill('served'), 'queries', 'queries']);
    expect(verdicts.filter((v) => v === 'served')).toHaveLength(50);
    expect(verdicts.filter((v) => v === 'served-cap')).toHaveLength(2);
    expect(owners).toBe(6);
  });

  it('handles a served cap below the per-owner query limit', () => {
    const { steps } = ratePlanFor({ ...DEFAULT_KEYPACKAGE_LIMITS, served_per_window: 3 }, 2);
    expect(steps.map((s) => s.expect)).toEqual(['served', 'served', 'served', ...Array(9).fill('served-cap')]);
  });
});

describe('summary renderings', () => {
  const summary: LoadSummary = {
    schema: LOAD_SUMMARY_SCHEMA,
    scenario: 'contend',
    description: 'd',
    driver: 'node',
    relay: { url: 'ws://x' },
    startedAt: '2026-11-22T00:00:00.000Z',
    durationMs: 1000,
    settings: { KPS: 8 },
    metrics: { contend_duplicates: { kind: 'counter', help: 'a | b', values: { count: 3 } } },
    thresholds: [
      { metric: 'contend_duplicates', expression: 'count==0', ok: false, actual: 3 },
      { metric: 'kp_req_eose_ms', expression: 'p(99)<2000', ok: true, actual: 5 },
    ],
    passed: false,
    notes: [],
  };

  it('JUnit: one testcase per threshold, failures marked, XML escaped', () => {
    const xml = toJUnit(summary);
    expect(xml).toContain('tests="2" failures="1"');
    expect(xml).toContain('name="kp_req_eose_ms p(99)&lt;2000"');
    expect((xml.match(/<failure /g) ?? []).length).toBe(1);
  });

  it('Markdown escapes table cells', () => {
    expect(toMarkdown(summary)).toContain('a \\| b');
  });
});

const ROUND_BASED: ScenarioName[] = ['contend', 'rate'];

describe('k6 options of every scenario', () => {
  const envs = [{}, { RATE: '0.5', MEMBERS: '12', DURATION: '1m30s' }, { RATE: '2.5', NOTE_RATE: '0.3' }];
  it.each(SCENARIO_NAMES)('%s: whole rates and VUs, k6 durations, thresholds on declared metrics', (name) => {
    for (const given of envs) {
      // Round-based scenarios take MAX_DURATION, not DURATION (refused: see below).
      const { DURATION, ...rest } = given as Record<string, string>;
      const env = DURATION === undefined ? rest : ROUND_BASED.includes(name) ? { ...rest, MAX_DURATION: DURATION } : { ...rest, DURATION };
      const plan = SCENARIOS[name].plan(settingsFrom(env), EMPTY_FIXTURE);
      const options = k6Options(plan);
      const declared = new Set(plan.metrics.map((m) => m.name));
      for (const m of declared) expect(m).toMatch(/^[\p{L}\p{N}._ !?/&#()<>%-]{1,128}$/u);
      for (const [metric, expressions] of Object.entries(options.thresholds)) {
        expect(declared.has(metric), metric).toBe(true);
        for (const e of expressions) expect(parseThreshold(e), e).toBeDefined();
      }
      for (const [role, sc] of Object.entries(options.scenarios)) {
        expect(sc.exec).toBe(role);
        const numbers = sc.executor === 'constant-arrival-rate' ? [sc.rate, sc.preAllocatedVUs, sc.maxVUs] : sc.executor === 'per-vu-iterations' ? [sc.vus, sc.iterations] : [sc.vus];
        for (const n of numbers) expect(Number.isInteger(n) && n >= 1, `${role}: ${n}`).toBe(true);
        const d = sc.executor === 'per-vu-iterations' ? sc.maxDuration : sc.duration;
        expect(parseDuration(d)).toBeGreaterThan(0);
        if (sc.executor === 'constant-arrival-rate') expect(parseDuration(sc.timeUnit)).toBeGreaterThan(0);
      }
      // Nothing vacuous: every scenario has declared work counters, each with count>0.
      expect(plan.work.length, name).toBeGreaterThan(0);
      for (const w of plan.work) {
        expect(plan.metrics.find((m) => m.name === w)?.kind, w).toBe('counter');
        expect(options.thresholds[w], w).toContain('count>0');
      }
    }
  });

  it.each(ROUND_BASED)('%s refuses DURATION (it runs rounds) and takes MAX_DURATION as a cap', (name) => {
    expect(() => SCENARIOS[name].plan(settingsFrom({ DURATION: '5m' }), EMPTY_FIXTURE)).toThrow(/DURATION does not apply/);
    expect(SCENARIOS[name].plan(settingsFrom({ MAX_DURATION: '5m' }), EMPTY_FIXTURE).settings.MAX_DURATION).toBe('5m');
  });

  it('sizes the publish pool for every iteration either driver can start', () => {
    // 10/s for 30 s: ticks 0 … 29.9 s, and k6 may start one at 30 s.
    expect(maxArrivals(10, 30_000)).toBe(301);
    expect(maxArrivals(0.5, 10_000)).toBe(6);
    expect(publishPoolSize(settingsFrom({}))).toBe(301 * 5);
    // 9 arrivals × 3, in whole owners of 5.
    const needs = fixtureNeeds('publish', settingsFrom({ RATE: '4', DURATION: '2s', BATCH: '3' }));
    expect(needs.owners * needs.keyPackagesPerOwner).toBe(30);
  });

  it('expresses fractional rates as whole iterations per time unit', () => {
    expect(arrivalRate(10)).toEqual({ rate: 10, timeUnit: '1s' });
    expect(arrivalRate(0.5)).toEqual({ rate: 1, timeUnit: '2s' });
    expect(arrivalRate(2.5)).toEqual({ rate: 5, timeUnit: '2s' });
    expect(arrivalRate(0.3)).toEqual({ rate: 3, timeUnit: '10s' });
  });
});
