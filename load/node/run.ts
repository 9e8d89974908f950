/**
 * Runs one scenario with the Node driver: setup, every role at once under
 * its executor, teardown, then the thresholds decide (99 when one fails,
 * like `k6 run`), unless the relay could not be used at all (2, not run).
 * With INSTANCE/INSTANCES it runs one instance of a split test: its share
 * of the roles and of the fixture (core/instance.ts), recording its ledger.
 */
import { evaluateAll } from '../core/thresholds.js';
import type { Fixture } from '../core/fixture.js';
import { notRunReason, RelayUnusableError, SETUP_UNUSABLE, type Plan, type ScenarioName } from '../core/scenario.js';
import { asK6SetupData } from '../core/setup-data.js';
import { instanceRoles } from '../core/k6-options.js';
import { resolveInstance } from '../core/instance.js';
import { settingsFrom, type Env } from '../core/settings.js';
import type { Signer } from '../core/runtime.js';
import { LOAD_SUMMARY_SCHEMA, type LoadSummary } from '../core/summary.js';
import { SCENARIOS } from '../scenarios/index.js';
import { fixtureFor } from './fixture.js';
import { MetricStore } from './metrics.js';
import { NodeRuntime } from './runtime.js';
import { runRole, type RoleOutcome } from './executor.js';

export interface NodeRunOptions {
  scenario: ScenarioName;
  /** RELAY_URL, RATE, DURATION and the scenario's other knobs. */
  env: Env;
  /** Pre-made pools; a fixture is made for the run when omitted. */
  fixture?: Fixture;
  log?: (line: string) => void;
  /** Grace after a role's duration before its sockets are cut (default 10 s). */
  graceMs?: number;
  /** Signs what the run signs (default nostr-wasm); tests count what that is. */
  signer?: Signer;
  /** Called as the roles start and as they end (bench/load/driver.ts measures CPU between). */
  onRoles?: (phase: 'start' | 'end') => void;
}

export interface NodeRunResult {
  summary: LoadSummary;
  /** 0 every threshold held (or had no samples, as k6 counts it), 99 one failed, 2 the relay could not be used. */
  exitCode: 0 | 2 | 99;
  roles: RoleOutcome[];
}

/** Setup or teardown failed: the run has no verdict. */
export class LoadRunError extends Error {}

export async function runNode(opts: NodeRunOptions): Promise<NodeRunResult> {
  const settings = settingsFrom(opts.env);
  const scenario = SCENARIOS[opts.scenario];
  const fixture = opts.fixture ?? (await fixtureFor(opts.scenario, settings));
  const plan: Plan<unknown> = scenario.plan(settings, fixture);
  const instance = resolveInstance(settings.env);
  const store = new MetricStore(plan.metrics);
  const log = opts.log ?? (() => undefined);
  const rt = new NodeRuntime(store, opts.signer, log);
  const startedAt = new Date();
  const t0 = Date.now();

  // A sample of 0 on each work counter: its count>0 threshold is then evaluated, as under k6.
  for (const w of plan.work) rt.add(w, 0);
  let data: unknown;
  let unusable: string | undefined;
  try {
    // VUs and teardown get setup's result exactly as k6 hands it over (undefined properties as null).
    data = asK6SetupData(await plan.setup(rt, instance));
    for (const fact of plan.facts(data)) rt.record(fact);
  } catch (err) {
    rt.terminateAll();
    if (!(err instanceof RelayUnusableError)) throw new LoadRunError(`setup failed: ${(err as Error).message}`);
    unusable = err.message;
    rt.add(SETUP_UNUSABLE.name, 1);
  }
  const t1 = Date.now();
  opts.onRoles?.('start');
  // Nothing to run against: no roles, no teardown (the k6 binding does the same with its marker).
  const roles = unusable !== undefined ? [] : await Promise.all(instanceRoles(plan.roles, instance).map((role) => runRole(rt, role, data, { graceMs: opts.graceMs ?? 10_000, cut: () => rt.terminateAll() })));
  const t2 = Date.now();
  opts.onRoles?.('end');
  try {
    if (unusable === undefined) await plan.teardown?.(rt, data);
  } catch (err) {
    log(`teardown failed: ${(err as Error).message}`);
    rt.add('ops_failed', true);
  } finally {
    rt.terminateAll();
  }

  const durationMs = Date.now() - t0;
  const valuesOf = (name: string) => store.valuesOf(name, durationMs / 1000);
  const thresholds = evaluateAll(plan.thresholds, valuesOf, (name) => store.samples(name) > 0);
  const values = Object.fromEntries(plan.metrics.map((m) => [m.name, store.samples(m.name) > 0 ? valuesOf(m.name) : undefined]));
  const notRun = notRunReason(unusable, plan.work, values);
  const notes = notRun !== undefined ? [] : plan.notes(values);
  const dropped = roles.reduce((n, r) => n + r.dropped, 0);
  const vuShortages = roles.filter((r) => r.dropped > 0).map((r) => `${r.role}: ${r.dropped} of ${r.iterations + r.dropped} arrivals found all ${r.maxVUs ?? '?'} VUs busy`);
  for (const r of roles) if (r.interrupted) notes.push(`${r.role}: iterations still running after the grace period were cut`);
  // k6's verdict: a failed threshold fails the run; one without samples does not.
  const passed = thresholds.every((t) => t.ok !== false);
  const summary: LoadSummary = {
    schema: LOAD_SUMMARY_SCHEMA,
    scenario: scenario.name,
    description: scenario.description,
    driver: 'node',
    relay: { url: settings.url },
    startedAt: startedAt.toISOString(),
    durationMs,
    phases: { setupMs: t1 - t0, rolesMs: t2 - t1, teardownMs: Date.now() - t2 },
    settings: plan.settings,
    metrics: Object.fromEntries(plan.metrics.map((m) => [m.name, { kind: m.kind, help: m.help, values: values[m.name] ?? {} }])),
    thresholds,
    passed,
    ...(notRun !== undefined ? { notRun } : {}),
    ...(dropped > 0 ? { droppedIterations: dropped, vuShortages } : {}),
    notes,
    ...(instance.source !== 'whole' ? { instance } : {}),
    ledger: rt.ledger,
  };
  return { summary, exitCode: notRun !== undefined ? 2 : passed ? 0 : 99, roles };
}
