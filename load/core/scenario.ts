/**
 * What a scenario declares: its roles (each a k6 scenario with an executor
 * and an exec function), its metrics, and thresholds that encode the
 * profile's invariants. Both bindings read the same plan.
 */
import type { Fixture } from './fixture.js';
import type { Instance } from './instance.js';
import type { IterationContext, LoadRuntime, MetricSpec } from './runtime.js';
import { num, type Settings } from './settings.js';

/** The executors both drivers implement (a subset of k6's, with k6's field names). */
export type Executor =
  /** k6 takes `rate` as a whole number of iterations per `timeUnit`: see arrivalRate(). */
  | { executor: 'constant-arrival-rate'; rate: number; timeUnit: string; duration: string; preAllocatedVUs: number; maxVUs: number }
  | { executor: 'per-vu-iterations'; vus: number; iterations: number; maxDuration: string }
  | { executor: 'constant-vus'; vus: number; duration: string };

export interface Role<D> {
  /** Also the name of the k6 exec function and k6 scenario. */
  name: string;
  executor: Executor;
  /** The role's duration in ms (the executor's duration or maxDuration). */
  durationMs: number;
  run(rt: LoadRuntime, data: D, it: IterationContext): Promise<void>;
}

export interface Plan<D> {
  roles: Role<D>[];
  metrics: MetricSpec[];
  /** k6 threshold syntax: metric name → expressions. */
  thresholds: Record<string, string[]>;
  /**
   * Counters that show the scenario did its work (e.g. answers checked). Each
   * gets a 0 sample before setup and a `count>0` threshold: k6 passes a
   * threshold whose metric has no samples, but a counter holding only 0
   * is evaluated, so a run that checked nothing fails on both drivers.
   */
  work: string[];
  /** The knobs in effect, for the report. */
  settings: Record<string, string | number>;
  /**
   * Publishes what the roles need, from this instance's share of the
   * fixture (core/instance.ts; the whole of it unless the test is split).
   * VUs and teardown get its result as k6 passes it (core/setup-data.ts: an
   * undefined property arrives as null, so test absent values with
   * `== null`). Throws RelayUnusableError when the relay cannot be used for
   * this scenario at all.
   */
  setup(rt: LoadRuntime, instance: Instance): Promise<D>;
  /**
   * What this instance took (its instance, fixture set, owners, requesters…),
   * from setup's data, as ledger facts (core/ledger.ts) for `kpsuite load
   * merge`; roles add what they saw with rt.record().
   */
  facts(data: D): string[];
  teardown?(rt: LoadRuntime, data: D): Promise<void>;
  /** Longest setup/teardown may take (k6 setupTimeout/teardownTimeout). */
  setupTimeout: string;
  /** Report lines derived from the final metric values. */
  notes(values: MetricValuesByName): string[];
}

export type MetricValues = Record<string, number>;
export type MetricValuesByName = Record<string, MetricValues | undefined>;

export interface Scenario {
  name: ScenarioName;
  description: string;
  plan(settings: Settings, fixture: Fixture): Plan<unknown>;
}

export const SCENARIO_NAMES = ['publish', 'contend', 'rate', 'groups', 'soak'] as const;
export type ScenarioName = (typeof SCENARIO_NAMES)[number];

export function isScenarioName(name: string): name is ScenarioName {
  return (SCENARIO_NAMES as readonly string[]).includes(name);
}

/** The relay cannot be used for the scenario (refused connections, AUTH, no limits...): the run has no verdict, exit 2. */
export class RelayUnusableError extends Error {}

/** What a harness passes to roles when setup found the relay unusable (plain JSON: it crosses k6's setup data). */
export interface UnusableMarker {
  kpsuiteUnusable: string;
}

export function unusableReason(data: unknown): string | undefined {
  if (typeof data !== 'object' || data === null) return undefined;
  const reason = (data as Partial<UnusableMarker>).kpsuiteUnusable;
  return typeof reason === 'string' ? reason : undefined;
}

/** Run-time signs that the relay refused us, counted by every scenario's guarded roles. */
export const RELAY_ACCESS = {
  connect: { name: 'relay_connect_failed', kind: 'counter', help: 'connections the relay refused or never opened' },
  auth: { name: 'relay_auth_refused', kind: 'counter', help: 'NIP-42 AUTH attempts the relay refused or left unanswered' },
} as const satisfies Record<string, MetricSpec>;

/** 1 when setup found the relay unusable: carries the fact where k6's summary data lacks setup_data. */
export const SETUP_UNUSABLE: MetricSpec = { name: 'relay_unusable_at_setup', kind: 'counter', help: 'setup found the relay unusable (reason in the summary or the log)' };

export const RELAY_ACCESS_METRICS: MetricSpec[] = [RELAY_ACCESS.connect, RELAY_ACCESS.auth, SETUP_UNUSABLE];

/** `count>0` for each work counter. */
export function workThresholds(names: readonly string[]): Record<string, string[]> {
  return Object.fromEntries(names.map((n) => [n, ['count>0']]));
}

/**
 * Why a run did not run, or undefined when it did: setup found the relay
 * unusable, or no work was done and the relay refused connections or AUTH.
 * A run that did nothing for another reason is not "not run": its work
 * threshold fails (exit 99).
 */
export function notRunReason(setupReason: string | undefined, work: readonly string[], values: MetricValuesByName): string | undefined {
  if (setupReason !== undefined) return setupReason;
  const count = (name: string): number => values[name]?.count ?? 0;
  if (count(SETUP_UNUSABLE.name) > 0) return 'setup found the relay unusable (the reason is in the log)';
  if (work.some((w) => count(w) > 0)) return undefined;
  const auth = count(RELAY_ACCESS.auth.name);
  const connect = count(RELAY_ACCESS.connect.name);
  if (auth > 0) return `the relay refused NIP-42 AUTH (${auth} time${auth === 1 ? '' : 's'}) and nothing was checked`;
  if (connect > 0) return `connections to the relay failed (${connect} time${connect === 1 ? '' : 's'}) and nothing was checked`;
  return undefined;
}

/** Operations that failed outright (timeout, closed socket, exception): shared by every scenario. */
export const OPS_FAILED: MetricSpec = { name: 'ops_failed', kind: 'rate', help: 'share of operations that got no answer in time, or threw' };

/** The latency trends every KeyPackage scenario reports with p50/p95/p99. */
export const LATENCY = {
  publish: { name: 'kp_publish_ok_ms', kind: 'trend', time: true, help: 'kind 443 EVENT → its OK' },
  req: { name: 'kp_req_eose_ms', kind: 'trend', time: true, help: 'REQ for KeyPackages → EOSE (or CLOSED)' },
  request447: { name: 'kp_447_ok_ms', kind: 'trend', time: true, help: 'kind 447 request → its OK, deliveries before it' },
  notePublish: { name: 'nip01_publish_ok_ms', kind: 'trend', time: true, help: 'kind 1 EVENT → its OK' },
  noteReq: { name: 'nip01_req_eose_ms', kind: 'trend', time: true, help: 'REQ for kind 1 → EOSE' },
} as const satisfies Record<string, MetricSpec>;

/** Latency ceilings, loose on purpose: the invariants are the point; override with P95_MS / P99_MS. */
export function latencyThresholds(s: Settings, names: readonly string[], p95 = 500, p99 = 2000): Record<string, string[]> {
  const a = num(s, 'P95_MS', p95, 1);
  const b = num(s, 'P99_MS', p99, 1);
  return Object.fromEntries(names.map((n) => [n, [`p(95)<${a}`, `p(99)<${b}`]]));
}
