/**
 * A test split into instances: segments and INSTANCE/INSTANCES give
 * disjoint shares that cover the whole; `kpsuite load --instances 2` runs
 * and merges; merge catches what no instance sees alone (a KeyPackage
 * handed out on two instances, an owner that kept the wrong ones, two
 * instances on one share, a missing one); a k6 bundle reads its segment
 * from exec.test.options (outside the init context) and takes its share.
 */
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runLoad, runMerge, type Io, type LoadCommandOptions } from '../../cli/load-command.js';
import { startRelay } from '../../reference-relay/server.js';
import { bundleOptions, buildBundle, packageRoot, VARIANTS } from '../build.js';
import { EMPTY_FIXTURE, type Fixture } from '../core/fixture.js';
import { envInstance, resolveInstance, segmentInstance, unitRange, WHOLE, type Instance } from '../core/instance.js';
import { k6Options, scaleExecutor } from '../core/k6-options.js';
import { factsOf } from '../core/ledger.js';
import { mergeSummaries, MergeUsageError, type MergeInput } from '../core/merge.js';
import type { Executor } from '../core/scenario.js';
import { SettingsError, settingsFrom } from '../core/settings.js';
import type { LoadSummary } from '../core/summary.js';
import { makeFixture } from '../node/fixture.js';
import { SCENARIOS, fixtureNeeds } from '../scenarios/index.js';
import { evaluateBundle, makeShim, runK6Lifecycle, serveHttp, shimPlugin, type Shim } from './k6-shim.js';
import { fakeK6 } from './fake-k6.js';

const tmp = mkdtempSync(join(tmpdir(), 'kp-load-split-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const quiet: Io = { stdout: () => undefined, stderr: () => undefined };

/** The instances of a test split into n: INSTANCE/INSTANCES, k6-operator's segments (unreduced, as it writes them), and uneven segments. */
function splits(n: number): Instance[][] {
  const env = Array.from({ length: n }, (_, i) => envInstance({ INSTANCE: String(i + 1), INSTANCES: String(n) }) ?? WHOLE);
  const points = ['0', ...Array.from({ length: n - 1 }, (_, i) => `${i + 1}/${n}`), '1'];
  const operator = points.slice(1).map((to, i) => segmentInstance(`${points[i]}:${to}`, points.join(',')));
  // Uneven, without a sequence: k6 then scales by rounding, and so do the shares.
  const cuts = ['0', ...['1/3', '45%', '0.8'].slice(0, n - 1), '1'];
  const uneven = cuts.slice(1).map((to, i) => segmentInstance(`${cuts[i]}:${to}`));
  return [env, operator, uneven];
}

describe('shares of a split test', () => {
  it('are disjoint and cover the whole, for 1 to 4 instances and any number of units', () => {
    for (let n = 1; n <= 4; n++) {
      for (const instances of splits(n)) {
        for (let units = 0; units <= 13; units++) {
          const taken = instances.flatMap((inst) => {
            const [a, b] = unitRange(units, inst);
            return Array.from({ length: b - a }, (_, k) => a + k);
          });
          expect(taken, `${n} instances, ${units} units, ${instances.map((i) => i.segment).join(' ')}`).toEqual(Array.from({ length: units }, (_, k) => k));
        }
      }
    }
  });

  it('take disjoint slices of a fixture that cover it, set by set', async () => {
    const fixture = await makeFixture({ sets: 2, owners: 4, keyPackagesPerOwner: 1, requests: [], notes: 0 });
    for (let n = 1; n <= 4; n++) {
      const owners = splits(n)[1]!.flatMap((inst) => {
        const [a, b] = unitRange(4, inst);
        return [0, 1].flatMap((set) => Array.from(fixture.owners).slice(set * 4 + a, set * 4 + b).map((o) => o.pubkey));
      });
      expect(new Set(owners).size).toBe(owners.length);
      expect(new Set(owners)).toEqual(new Set(Array.from(fixture.owners).map((o) => o.pubkey)));
    }
  });

  it('give an even split what k6 gives it of VUs (ceil((v − i)/n)), and scale executors to sum to the whole', () => {
    expect(splits(3)[1]!.map((inst) => unitRange(7, inst))).toEqual([
      [0, 3],
      [3, 5],
      [5, 7],
    ]);
    const car: Executor = { executor: 'constant-arrival-rate', rate: 10, timeUnit: '1s', duration: '5s', preAllocatedVUs: 4, maxVUs: 20 };
    const pvi: Executor = { executor: 'per-vu-iterations', vus: 5, iterations: 1, maxDuration: '10s' };
    for (let n = 1; n <= 4; n++) {
      for (const instances of splits(n)) {
        const vus = instances.map((inst) => scaleExecutor(pvi, inst)).reduce((sum, ex) => sum + (ex !== undefined && ex.executor === 'per-vu-iterations' ? ex.vus : 0), 0);
        expect(vus).toBe(5);
        const perSecond = instances.map((inst) => scaleExecutor(car, inst)).reduce((sum, ex) => sum + (ex?.executor === 'constant-arrival-rate' ? ex.rate / Number.parseInt(ex.timeUnit, 10) : 0), 0);
        expect(perSecond).toBeCloseTo(10, 6);
      }
    }
  });

  it("read k6's segment notations, canonically, and refuse what k6 would", () => {
    expect(segmentInstance('2/4:3/4', '0,1/4,2/4,3/4,1')).toEqual({ source: 'segment', segment: '1/2:3/4', sequence: '0,1/4,1/2,3/4,1', index: 2, count: 4 });
    expect(segmentInstance('50%:100%').segment).toBe('1/2:1');
    expect(segmentInstance('0.5:1').segment).toBe('1/2:1');
    expect(segmentInstance('1/3')).toEqual({ source: 'segment', segment: '0:1/3' });
    expect(segmentInstance('0:1')).toEqual(WHOLE);
    expect(() => segmentInstance('1/2:1/4')).toThrow(SettingsError);
    expect(() => segmentInstance('1/4:1/2', '0,1/2,1')).toThrow(/not part of the sequence/);
    expect(envInstance({ INSTANCE: '2', INSTANCES: '3' })).toMatchObject({ source: 'env', segment: '1/3:2/3', index: 1, count: 3 });
    for (const bad of [{ INSTANCE: '0', INSTANCES: '2' }, { INSTANCE: '3', INSTANCES: '2' }, { INSTANCES: '2' }]) expect(() => envInstance(bad)).toThrow(SettingsError);
    expect(() => resolveInstance({ INSTANCE: '1', INSTANCES: '2' }, { executionSegment: '0:1/2', executionSegmentSequence: '0,1/2,1' })).toThrow(/not both/);
    expect(resolveInstance({}, { executionSegment: null, executionSegmentSequence: null })).toEqual(WHOLE);
  });

  it('under INSTANCE/INSTANCES the k6 options are scaled by the script; a role with no VU left is dropped', () => {
    const plan = SCENARIOS.contend.plan(settingsFrom({ OWNERS: '3' }), EMPTY_FIXTURE);
    const vus = (i: number): number | undefined => {
      const sc = k6Options(plan, envInstance({ INSTANCE: String(i), INSTANCES: '2' })).scenarios.racers;
      return sc?.executor === 'per-vu-iterations' ? sc.vus : undefined;
    };
    expect([vus(1), vus(2)]).toEqual([2, 1]);
    const one = SCENARIOS.contend.plan(settingsFrom({}), EMPTY_FIXTURE);
    expect(Object.keys(k6Options(one, envInstance({ INSTANCE: '2', INSTANCES: '2' })).scenarios)).toEqual([]);
  });
});

const readJson = (path: string): LoadSummary => JSON.parse(readFileSync(path, 'utf8')) as LoadSummary;
const options = (over: Partial<LoadCommandOptions>): LoadCommandOptions => ({ driver: 'node', env: [], k6: 'k6', out: join(tmp, 'runs'), reports: true, ...over });

describe('kpsuite load --instances 2 (Node driver) and merge', () => {
  // contend with 2 owners: each instance races for one, with its own racers.
  const env = ['OWNERS=2', 'KPS=5', 'RACERS=4', 'ROUNDS=4'];
  let instanceFiles: string[] = [];

  it('runs two instances on disjoint shares, each writing its summary, and the merge passes', async () => {
    const out = join(tmp, 'node-split');
    const code = await runLoad('contend', options({ env, instances: 2, out }), quiet);
    const [runDir] = readdirSync(out);
    const dir = join(out, runDir ?? '');
    instanceFiles = [1, 2].map((i) => join(dir, `instance-${i}`, `load-contend.instance-${i}-of-2.json`));
    const [one, two] = instanceFiles.map(readJson);
    const merged = readJson(join(dir, 'load-contend.json'));
    expect(merged.thresholds.filter((t) => t.ok === false)).toEqual([]);
    expect(code).toBe(0);
    expect(merged.merged?.instances.map((i) => i.segment)).toEqual(['0:1/2', '1/2:1']);
    expect(merged.metrics.contend_nonlast_handouts?.values.count).toBe(8);
    expect(merged.metrics.merge_owner_left_one?.values).toMatchObject({ passes: 2, fails: 0 });
    const owners = [one!, two!].map((s) => factsOf(s.ledger ?? {}, 'owner').map((f) => f.args[0]));
    expect(owners.map((o) => o.length)).toEqual([1, 1]);
    expect(owners[0]).not.toEqual(owners[1]);
    // Each instance handed out only its own owner's KeyPackages.
    for (const s of [one!, two!]) {
      const mine = new Set(factsOf(s.ledger ?? {}, 'kp').map((f) => f.args[1]));
      expect(factsOf(s.ledger ?? {}, 'handout').filter((f) => !mine.has(f.args[0]) && factsOf(s.ledger ?? {}, 'last').every((l) => l.args[1] !== f.args[0]))).toEqual([]);
    }
    expect(runMerge(instanceFiles, { out, reports: false }, quiet)).toBe(0);
    // A folder of summaries (what a k6-operator run leaves on its volume) merges the same.
    const folder = mkdtempSync(join(tmp, 'folder-'));
    for (const f of instanceFiles) cpSync(f, join(folder, f.replace(/^.*\//, '')));
    expect(runMerge([folder], { out, reports: false }, quiet)).toBe(0);
  });

  const inputs = (): MergeInput[] => instanceFiles.map((source) => ({ source, summary: readJson(source) }));
  const failedOf = (r: ReturnType<typeof mergeSummaries>): string[] => r.summary.thresholds.filter((t) => t.ok === false).map((t) => t.metric);

  it('merge catches a KeyPackage handed out on two instances', () => {
    const [one, two] = inputs();
    const theirs = factsOf(one!.summary.ledger ?? {}, 'kp')[0]?.args[1];
    expect(theirs).toBeDefined();
    two!.summary.ledger = { ...two!.summary.ledger, [`handout ${theirs}`]: 1 };
    const r = mergeSummaries([one!, two!]);
    expect(r.exitCode).toBe(99);
    expect(failedOf(r)).toEqual(['merge_duplicate_handouts']);
  });

  it('merge catches an owner whose remaining inventory is not exactly its last KeyPackage', () => {
    for (const change of ['extra', 'none'] as const) {
      const [one, two] = inputs();
      const before = one!.summary.ledger ?? {};
      const owner = factsOf(before, 'owner')[0]?.args[0] ?? '';
      expect(factsOf(before, 'left')).toHaveLength(1);
      // Another of its KeyPackages still stored, or nothing at all.
      const ledger = change === 'extra' ? { ...before, [`left ${owner} ${factsOf(before, 'kp')[0]?.args[1]}`]: 1 } : Object.fromEntries(Object.entries(before).filter(([f]) => !f.startsWith('left ')));
      one!.summary.ledger = ledger;
      const r = mergeSummaries([one!, two!]);
      expect(r.exitCode, change).toBe(99);
      expect(failedOf(r), change).toEqual(['merge_owner_left_one']);
    }
  });

  it('merge catches two instances on one share (overlap, shared claims), and refuses to judge a part of the test or a not-run instance', () => {
    const [one, two] = inputs();
    const twice = mergeSummaries([one!, { ...one!, source: 'copy' }, two!]);
    expect(twice.exitCode).toBe(99);
    expect(failedOf(twice)).toEqual(expect.arrayContaining(['merge_overlapping_instances', 'merge_shared_claims', 'merge_duplicate_handouts']));
    const half = mergeSummaries([one!]);
    expect(half.exitCode).toBe(2);
    expect(half.summary.notRun).toMatch(/do not cover the whole test: no instance ran segment 1\/2:1/);
    const down = mergeSummaries([one!, { ...two!, summary: { ...two!.summary, notRun: 'the relay refused NIP-42 AUTH (3 times) and nothing was checked' } }]);
    expect(down.exitCode).toBe(2);
    expect(down.summary.notRun).toMatch(/^instance 2 of 2 .* was not run: the relay refused NIP-42 AUTH/);
    expect(() => mergeSummaries([one!, { ...two!, summary: { ...two!.summary, scenario: 'rate' } }])).toThrow(MergeUsageError);
  });

  it('merge sums counters and rates, keeps exact trend counts and bounds percentiles by the largest instance', () => {
    const [one, two] = inputs();
    const r = mergeSummaries([one!, two!]);
    const m = (s: LoadSummary, name: string) => s.metrics[name]?.values ?? {};
    expect(m(r.summary, 'contend_checked').count).toBe((m(one!.summary, 'contend_checked').count ?? 0) + (m(two!.summary, 'contend_checked').count ?? 0));
    expect(m(r.summary, 'ops_failed').fails).toBe((m(one!.summary, 'ops_failed').fails ?? 0) + (m(two!.summary, 'ops_failed').fails ?? 0));
    const trend = 'kp_req_eose_ms';
    expect(m(r.summary, trend).count).toBe((m(one!.summary, trend).count ?? 0) + (m(two!.summary, trend).count ?? 0));
    expect(m(r.summary, trend)['p(95)']).toBe(Math.max(m(one!.summary, trend)['p(95)'] ?? 0, m(two!.summary, trend)['p(95)'] ?? 0));
    expect(r.summary.merged?.percentiles[trend]?.['p(95)']).toEqual([m(one!.summary, trend)['p(95)'], m(two!.summary, trend)['p(95)']]);
  });
});

describe('k6 bundles in a split test (k6 stand-in)', () => {
  let built = '';
  /** The contend bundle for the stand-in, with no fixture of its own (FIXTURE or none). */
  const code1 = (): string => built;
  beforeAll(async () => {
    const result = await build({ ...bundleOptions(packageRoot(), 'contend', EMPTY_FIXTURE, shimPlugin(makeShim())), format: 'iife', globalName: 'kpsuiteBundle', write: false });
    built = result.outputFiles[0]?.text ?? '';
  });

  /** Runs the contend bundle as one k6 instance on `segment` against `relayUrl` (none: nothing listens); its summary and the file names handleSummary chose. */
  async function instanceRun(code: string, relayUrl: string | undefined, dir: string, segment: Shim['segment'], env: Record<string, string> = {}, shape: 'legacy' | 'machine-readable' = 'legacy') {
    const shim = makeShim(segment);
    const stop = relayUrl === undefined ? () => undefined : await serveHttp(shim, relayUrl);
    try {
      const exports = evaluateBundle(code, shim, { RELAY_URL: relayUrl ?? 'ws://127.0.0.1:1', SUMMARY_DIR: dir, KPS: '5', RACERS: '4', ROUNDS: '4', OWNERS: '2', ...env }, 'kpsuiteBundle');
      const { outputs } = await runK6Lifecycle(exports, shim, shape);
      const json = Object.keys(outputs).find((k) => k.endsWith('.json')) ?? '';
      return { file: json, summary: JSON.parse(outputs[json] ?? '{}') as LoadSummary };
    } finally {
      stop();
      shim.terminateAll();
    }
  }

  it('each instance reads its segment in setup (not in init), takes its owner, tags its files, and the merge passes, in either summary shape', async () => {
    const dir = mkdtempSync(join(tmp, 'k6-'));
    const relay = await startRelay({ port: 0, db: join(dir, 'relay.sqlite') });
    try {
      const fixture: Fixture = await makeFixture(fixtureNeeds('contend', settingsFrom({ KPS: '5', RACERS: '4', ROUNDS: '4', OWNERS: '2' })));
      const probe = makeShim();
      const result = await build({ ...bundleOptions(packageRoot(), 'contend', fixture, shimPlugin(probe)), format: 'iife', globalName: 'kpsuiteBundle', write: false });
      const code = result.outputFiles[0]?.text ?? '';
      const sequence = '0,1/2,1';
      // One after the other (the stand-in's sockets are shared); their shares are disjoint, so the order does not matter.
      const a = await instanceRun(code, relay.url, dir, { executionSegment: '0:1/2', executionSegmentSequence: sequence });
      const b = await instanceRun(code, relay.url, dir, { executionSegment: '1/2:1', executionSegmentSequence: sequence }, {}, 'machine-readable');
      expect([a.file, b.file].map((f) => f.replace(/^.*\//, ''))).toEqual(['load-contend.instance-1-of-2.json', 'load-contend.instance-2-of-2.json']);
      expect([a.summary.instance?.index, b.summary.instance?.index]).toEqual([0, 1]);
      for (const [k, s] of [a, b].entries()) {
        expect(s.summary.thresholds.filter((t) => t.ok === false), `instance ${k + 1}`).toEqual([]);
        expect(factsOf(s.summary.ledger ?? {}, 'owner').map((f) => f.args[0])).toEqual([fixture.owners[k]?.pubkey]);
      }
      const merged = mergeSummaries([a, b].map((x) => ({ source: x.file, summary: x.summary })));
      expect(merged.summary.thresholds.filter((t) => t.ok === false)).toEqual([]);
      expect(merged.exitCode).toBe(0);
      // Both instances together handed out every non-last KeyPackage of both owners, each once.
      expect(merged.summary.metrics.contend_nonlast_handouts?.values.count).toBe(8);
    } finally {
      await relay.close();
    }
  });

  it('an instance whose share is empty is not run, says why, and still tags its files', async () => {
    const { file, summary } = await instanceRun(code1(), undefined, tmp, { executionSegment: '1/2:1', executionSegmentSequence: '0,1/2,1' }, { OWNERS: '1' });
    expect(file.replace(/^.*\//, '')).toBe('load-contend.instance-2-of-2.json');
    expect(summary.notRun).toMatch(/instance 2 of 2 .* gets none of the 1 owners \(OWNERS\): give a multiple of the instance count/);
  });

  it('a segment and INSTANCE/INSTANCES together are refused in setup', async () => {
    const shim = makeShim({ executionSegment: '0:1/2', executionSegmentSequence: '0,1/2,1' });
    const exports = evaluateBundle(code1(), shim, { RELAY_URL: 'ws://127.0.0.1:1', INSTANCE: '1', INSTANCES: '2' }, 'kpsuiteBundle');
    await expect((exports.setup as () => Promise<unknown>)()).rejects.toThrow(/not both/);
  });
});

describe('kpsuite load --driver k6 --instances 2', () => {
  it('starts one k6 per execution segment, as k6-operator does, each with its own API port and summary folder, one fixture', async () => {
    const bundles = join(tmp, 'bundles');
    for (const v of VARIANTS) await buildBundle(packageRoot(), 'contend', v, EMPTY_FIXTURE, bundles);
    // Writes no summary, so kpsuite says so and exits 1.
    const fake = fakeK6(mkdtempSync(join(tmp, 'k6bin-')), 'v1.6.1', 0);
    let stderr = '';
    const code = await runLoad('contend', options({ driver: 'k6', k6: fake.path, bundles: join(bundles, 'load', 'dist'), instances: 2, env: ['OWNERS=2'], out: join(tmp, 'k6-split') }), { stdout: () => undefined, stderr: (t) => (stderr += t) });
    expect(code).toBe(1);
    expect(stderr).toMatch(/k6 instance 1 wrote no summary/);
    const flag = (args: string[], f: string): string => args[args.indexOf(f) + 1] ?? '';
    const runs = fake.runs().map((r) => ({ ...r, segment: flag(r.args, '--execution-segment'), sequence: flag(r.args, '--execution-segment-sequence'), address: flag(r.args, '--address') }));
    runs.sort((x, y) => x.segment.localeCompare(y.segment));
    expect(runs.map((r) => [r.segment, r.sequence])).toEqual([
      ['0:1/2', '0,1/2,1'],
      ['1/2:1', '0,1/2,1'],
    ]);
    expect(new Set(runs.map((r) => r.address)).size).toBe(2);
    expect(new Set(runs.map((r) => r.env.SUMMARY_DIR)).size).toBe(2);
    expect(new Set(runs.map((r) => r.env.FIXTURE)).size).toBe(1);
    expect(runs.every((r) => r.env.INSTANCE === undefined && r.env.OWNERS === '2')).toBe(true);
  });

});
