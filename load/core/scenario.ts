/**
 * What a scenario declares: its roles (each a k6 scenario with an executor
 * and an exec function), its metrics, and thresholds that encode the
 * profile's invariants. Both bindings read the same plan.
 */
import type { Fixture } from './fixture.js';
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
  /** The knobs in effect, for the report. */
  settings: Record<string, string | number>;
  /** Publishes what the roles need; its result must be JSON (k6 copies it to every VU). */
  setup(rt: LoadRuntime): Promise<D>;
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
