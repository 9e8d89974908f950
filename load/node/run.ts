/**
 * Runs one scenario with the Node driver: setup, every role at once under
 * its executor, teardown, then the thresholds decide (99 when one fails,
 * like `k6 run`).
 */
import { evaluateAll } from '../core/thresholds.js';
import type { Fixture } from '../core/fixture.js';
import type { Plan, ScenarioName } from '../core/scenario.js';
import { settingsFrom, type Env } from '../core/settings.js';
import { LOAD_SUMMARY_SCHEMA, type LoadSummary } from '../core/summary.js';
import { fixtureNeeds, SCENARIOS } from '../scenarios/index.js';
import { makeFixture } from './fixture.js';
import { MetricStore } from './metrics.js';
import { NodeRuntime } from './runtime.js';
import { runRole, type RoleOutcome } from './executor.js';

export interface NodeRunOptions {
  scenario: ScenarioName;
  /** RELAY_URL, RATE, DURATION and the scenario's other knobs. */
  env: Env;
  /** Pre-signed pools; fresh ones are signed when omitted. */
  fixture?: Fixture;
  log?: (line: string) => void;
  /** Grace after a role's duration before its sockets are cut (default 10 s). */
  graceMs?: number;
}

export interface NodeRunResult {
  summary: LoadSummary;
  exitCode: 0 | 99;
  roles: RoleOutcome[];
}

/** Setup or teardown failed: the run has no verdict. */
export class LoadRunError extends Error {}

function roundTrip<T>(value: T): T {
  // k6 passes setup data as JSON; doing the same here keeps the drivers honest.
  return JSON.parse(JSON.stringify(value ?? null)) as T;
}

export async function runNode(opts: NodeRunOptions): Promise<NodeRunResult> {
  const settings = settingsFrom(opts.env);
  const scenario = SCENARIOS[opts.scenario];
  const fixture = opts.fixture ?? makeFixture(fixtureNeeds(opts.scenario, settings));
  const plan: Plan<unknown> = scenario.plan(settings, fixture);
  const store = new MetricStore(plan.metrics);
  const log = opts.log ?? (() => undefined);
  const rt = new NodeRuntime(store, undefined, log);
  const startedAt = new Date();
  const t0 = Date.now();

  let data: unknown;
  try {
    data = roundTrip(await plan.setup(rt));
  } catch (err) {
    rt.terminateAll();
    throw new LoadRunError(`setup failed: ${(err as Error).message}`);
  }
  const roles = await Promise.all(plan.roles.map((role) => runRole(rt, role, data, { graceMs: opts.graceMs ?? 10_000, cut: () => rt.terminateAll() })));
  try {
    await plan.teardown?.(rt, data);
  } catch (err) {
    log(`teardown failed: ${(err as Error).message}`);
    rt.add('ops_failed', true);
  } finally {
    rt.terminateAll();
  }

  const durationMs = Date.now() - t0;
  const valuesOf = (name: string) => store.valuesOf(name, durationMs / 1000);
  const thresholds = evaluateAll(plan.thresholds, valuesOf);
  const values = Object.fromEntries(plan.metrics.map((m) => [m.name, valuesOf(m.name)]));
  const notes = plan.notes(values);
  for (const r of roles) {
    if (r.dropped > 0) notes.push(`${r.role}: ${r.dropped} iterations dropped (all VUs busy: the relay or this machine could not keep the rate)`);
    if (r.interrupted) notes.push(`${r.role}: iterations still running after the grace period were cut`);
  }
  const passed = thresholds.every((t) => t.ok !== false);
  const summary: LoadSummary = {
    schema: LOAD_SUMMARY_SCHEMA,
    scenario: scenario.name,
    description: scenario.description,
    driver: 'node',
    relay: { url: settings.url },
    startedAt: startedAt.toISOString(),
    durationMs,
    settings: plan.settings,
    metrics: Object.fromEntries(plan.metrics.map((m) => [m.name, { kind: m.kind, help: m.help, values: valuesOf(m.name) ?? {} }])),
    thresholds,
    passed,
    notes,
  };
  return { summary, exitCode: passed ? 0 : 99, roles };
}
