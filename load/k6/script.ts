/**
 * Turns a scenario into a k6 script's exports: options (one k6 scenario per
 * role, thresholds, trend stats), setup/teardown, one exec function per
 * role, and handleSummary (text on stdout; JSON, JUnit and Markdown files).
 * Runs in k6's init context: reads __ENV, opens FIXTURE, creates metrics.
 *
 * A split test (core/instance.ts): setup() reads the execution segment from
 * exec.test.options (k6 refuses it in the init context) or takes
 * INSTANCE/INSTANCES from __ENV (then the options are scaled here), and
 * takes its share of the fixture; each VU records its instance's claims
 * and what it saw as ledger facts (checks), which handleSummary collects
 * into the summary, tagged with the instance in its file names.
 */
import { SharedArray } from 'k6/data';
import exec from 'k6/execution';
import type { Options } from 'k6/options';
import type { Fixture, FixtureActor, FixtureFile } from '../core/fixture.js';
import { k6Options } from '../core/k6-options.js';
import type { NostrEvent } from '../core/runtime.js';
import { notRunReason, RelayUnusableError, SETUP_UNUSABLE, unusableReason, type Scenario, type UnusableMarker } from '../core/scenario.js';
import { settingsFrom } from '../core/settings.js';
import { LOAD_SUMMARY_SCHEMA, summaryFileNames, toJUnit, toJson, toMarkdown, toText, type LoadSummary } from '../core/summary.js';
import { evaluateThreshold, hasSamples } from '../core/thresholds.js';
import { envInstance, resolveInstance, type Instance, type K6Segment } from '../core/instance.js';
import { CHECK_PREFIX, FACT, instanceOf, note, type Ledger } from '../core/ledger.js';
import { bundledFixture } from './bundled-fixture.js';
import { readK6Data } from './summary-data.js';
import { K6Runtime } from './runtime.js';

/** Pools shared by all VUs (SharedArray: one copy, read-only, filled by the first VU's init). */
function loadFixture(): Fixture {
  const path = __ENV.FIXTURE;
  let file: FixtureFile | undefined;
  // open() works only in the init context; a relative path is relative to this script. Read once per VU at most.
  const read = (): FixtureFile | undefined => (file ??= path ? (JSON.parse(open(path)) as FixtureFile) : bundledFixture());
  // Indexed, not destructured: a SharedArray is array-like, and only indexing is documented for it in every k6.
  const counts = new SharedArray<number>('kpsuite-fixture-counts', () => [read()?.createdAt ?? 0, read()?.sets ?? 0]);
  return {
    createdAt: counts[0] ?? 0,
    sets: counts[1] ?? 0,
    owners: new SharedArray<FixtureActor>('kpsuite-owners', () => read()?.owners ?? []),
    keyPackages: new SharedArray<NostrEvent>('kpsuite-keypackages', () => read()?.keyPackages ?? []),
    requesters: new SharedArray<FixtureActor>('kpsuite-requesters', () => read()?.requesters ?? []),
    requests: new SharedArray<NostrEvent>('kpsuite-requests', () => read()?.requests ?? []),
    notes: new SharedArray<NostrEvent>('kpsuite-notes', () => read()?.notes ?? []),
  };
}

type Exec = (data: unknown) => Promise<void>;

/** The execution segment k6 runs (exec.test.options); undefined where k6 does not say (init context, old k6). */
function k6Segment(): K6Segment | undefined {
  try {
    const o = exec.test.options as K6Segment;
    return { executionSegment: o.executionSegment ?? null, executionSegmentSequence: o.executionSegmentSequence ?? null };
  } catch {
    return undefined;
  }
}

export interface K6Script {
  options: Options;
  setup: () => Promise<unknown>;
  teardown: (data: unknown) => Promise<void>;
  handleSummary: (data: unknown) => Record<string, string>;
  /** The exec function of a role, for `export const <role> = script.role('<role>')`. */
  role(name: string): Exec;
}

export function k6Script(scenario: Scenario): K6Script {
  const settings = settingsFrom(__ENV);
  const plan = scenario.plan(settings, loadFixture());
  const rt = new K6Runtime(plan.metrics);

  // INSTANCE/INSTANCES: k6 knows nothing of the split, so the roles are scaled here (a segment, k6 scales itself).
  const options: Options = k6Options(plan, envInstance(__ENV));
  // Per VU (each has its own runtime): its instance's claims are recorded once, on its first iteration.
  let claimed = false;

  const role = (name: string): Exec => {
    const r = plan.roles.find((x) => x.name === name);
    if (r === undefined) throw new Error(`scenario ${scenario.name} has no role ${name}`);
    return async (data) => {
      // Setup found the relay unusable: nothing to do (the summary says why).
      if (unusableReason(data) !== undefined) return;
      if (!claimed) {
        claimed = true;
        for (const fact of plan.facts(data)) rt.record(fact);
      }
      await r.run(rt, data, {
        role: name,
        vu: exec.vu.idInTest,
        iteration: exec.scenario.iterationInInstance,
        deadline: exec.scenario.startTime + r.durationMs,
      });
    };
  };

  const handleSummary = (data: unknown): Record<string, string> => {
    const k6 = readK6Data(data);
    const thresholds = Object.entries(plan.thresholds).flatMap(([metric, expressions]) =>
      expressions.map((expression) => {
        const own = evaluateThreshold(metric, expression, k6.valuesOf(metric));
        // k6 marks a threshold it skipped for want of samples as ok; it held nothing.
        if (own.noSamples) return own;
        const verdict = k6.verdict(metric, expression);
        return verdict === undefined ? own : { ...own, ok: verdict };
      }),
    );
    const values = Object.fromEntries(plan.metrics.map((m) => [m.name, k6.valuesOf(m.name)]));
    const notRun = notRunReason(unusableReason(k6.setupData), plan.work, values);
    const dropped = k6.valuesOf('dropped_iterations')?.count ?? 0;
    const ledger = ledgerOf(k6.checks, k6.setupData);
    const instance = instanceOf(ledger);
    const summary: LoadSummary = {
      schema: LOAD_SUMMARY_SCHEMA,
      scenario: scenario.name,
      description: scenario.description,
      driver: 'k6',
      relay: { url: settings.url },
      startedAt: new Date(Date.now() - k6.durationMs).toISOString(),
      durationMs: k6.durationMs,
      settings: plan.settings,
      metrics: Object.fromEntries(plan.metrics.map((m) => [m.name, { kind: m.kind, help: m.help, values: hasSamples(values[m.name]) ? (values[m.name] ?? {}) : {} }])),
      thresholds,
      passed: k6.passed ?? thresholds.every((t) => t.ok !== false),
      ...(notRun !== undefined ? { notRun } : {}),
      // k6 reports VU shortages only as a log warning ("Insufficient VUs"); the count is all it gives here.
      ...(dropped > 0 ? { droppedIterations: dropped } : {}),
      notes: [...(notRun !== undefined ? [] : plan.notes(values)), ...(typeof instance === 'string' ? [`instance unknown: ${instance}`] : [])],
      ...(typeof instance === 'object' && instance.source !== 'whole' ? { instance } : {}),
      ledger,
    };
    const dir = (__ENV.SUMMARY_DIR || '.').replace(/\/+$/, '');
    const files = summaryFileNames(scenario.name, summary.instance);
    // k6 opens these paths without creating folders: SUMMARY_DIR must exist.
    return {
      stdout: toText(summary),
      [`${dir}/${files.json}`]: toJson(summary),
      [`${dir}/${files.junit}`]: toJUnit(summary),
      [`${dir}/${files.markdown}`]: toMarkdown(summary),
    };
  };

  /** Ledger facts from the VUs' checks, and the claims in setup()'s data where k6 passes it. */
  const ledgerOf = (checks: { name: string; passes: number }[], setupData: unknown): Ledger => {
    const ledger: Ledger = {};
    for (const c of checks) if (c.name.startsWith(CHECK_PREFIX)) note(ledger, c.name.slice(CHECK_PREFIX.length), c.passes);
    // Not run: the marker still says which instance this was, so its files are tagged and the merge can name it.
    const marked = (setupData as { kpsuiteInstance?: Instance } | null | undefined)?.kpsuiteInstance;
    if (marked != null && marked.source !== 'whole' && instanceOf(ledger) === undefined) note(ledger, FACT.instance(marked));
    if (setupData != null && unusableReason(setupData) === undefined) {
      try {
        for (const fact of plan.facts(setupData)) if (ledger[fact] === undefined) note(ledger, fact);
      } catch {
        // setup_data of another shape: the VUs' records stand alone.
      }
    }
    return ledger;
  };

  return {
    options,
    setup: async () => {
      // A 0 on each work counter makes k6 evaluate its count>0 threshold (an empty metric's would pass).
      for (const w of plan.work) rt.add(w, 0);
      // Not inside the try: both INSTANCE/INSTANCES and a segment is a usage error, and k6 fails on it.
      const instance = resolveInstance(__ENV, k6Segment());
      try {
        return await plan.setup(rt, instance);
      } catch (err) {
        // The relay cannot be used: hand every VU (and handleSummary's setup_data) the reason instead of failing k6 with 107.
        if (err instanceof RelayUnusableError) {
          rt.add(SETUP_UNUSABLE.name, 1);
          rt.log(`not run: ${err.message}`);
          return { kpsuiteUnusable: err.message, kpsuiteInstance: instance } satisfies UnusableMarker & { kpsuiteInstance: Instance };
        }
        throw err;
      }
    },
    teardown: async (data) => {
      if (unusableReason(data) !== undefined) return;
      await plan.teardown?.(rt, data);
    },
    handleSummary,
    role,
  };
}
