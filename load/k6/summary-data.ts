/**
 * Reads k6's end-of-test data in either shape: the legacy one (k6 ≤ 1.x
 * default: `metrics` keyed by name, with threshold verdicts) and the
 * machine-readable one (`--new-machine-readable-summary`, the announced k6 2
 * default: `results.metrics` as a list, one overall `results.passed`).
 * Unknown fields are ignored; missing verdicts are computed from values.
 * Checks (the ledger's channel, core/ledger.ts) come from `root_group`
 * and its groups (legacy) or `results.checks.results` (machine-readable).
 */
import type { MetricValues } from '../core/scenario.js';

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

export interface K6Data {
  valuesOf(metric: string): MetricValues | undefined;
  /** k6's own verdict on one threshold, when the data carries it. */
  verdict(metric: string, expression: string): boolean | undefined;
  /** k6's overall verdict, when the data carries it. */
  passed: boolean | undefined;
  durationMs: number;
  /** setup()'s result as k6 kept it (`setup_data`), undefined when absent. */
  setupData: unknown;
  /** Every check by name with its passes. */
  checks: { name: string; passes: number }[];
}

function checkList(list: unknown): { name: string; passes: number }[] {
  if (!Array.isArray(list)) return [];
  return list.flatMap((c) => (isObject(c) && typeof c.name === 'string' && typeof c.passes === 'number' ? [{ name: c.name, passes: c.passes }] : []));
}

/** A legacy group's checks and its subgroups' (setup and teardown get groups of their own). */
function groupChecks(group: unknown): { name: string; passes: number }[] {
  if (!isObject(group)) return [];
  return [...checkList(group.checks), ...(Array.isArray(group.groups) ? group.groups.flatMap(groupChecks) : [])];
}

function numbers(v: unknown): MetricValues {
  const out: MetricValues = {};
  if (!isObject(v)) return out;
  for (const [k, x] of Object.entries(v)) if (typeof x === 'number' && Number.isFinite(x)) out[k] = x;
  // The machine-readable Rate once spelled passes/fails as matches/total.
  if (out.passes === undefined && out.matches !== undefined) {
    out.passes = out.matches;
    if (out.total !== undefined) out.fails = out.total - out.matches;
  }
  return out;
}

export function readK6Data(data: unknown): K6Data {
  const root = isObject(data) ? data : {};
  const results = isObject(root.results) ? root.results : undefined;
  if (results !== undefined && Array.isArray(results.metrics)) {
    const byName = new Map<string, Json>();
    for (const m of results.metrics) if (isObject(m) && typeof m.name === 'string') byName.set(m.name, m);
    const config = isObject(root.config) ? root.config : {};
    return {
      valuesOf: (name) => (byName.has(name) ? numbers(byName.get(name)?.values) : undefined),
      verdict: (name, expression) => {
        const t = byName.get(name)?.thresholds;
        const entry = isObject(t) ? t[expression] : undefined;
        return isObject(entry) && typeof entry.ok === 'boolean' ? entry.ok : undefined;
      },
      passed: typeof results.passed === 'boolean' ? results.passed : undefined,
      durationMs: typeof config.duration === 'number' ? config.duration * 1000 : 0,
      setupData: root.setup_data,
      checks: checkList(isObject(results.checks) ? results.checks.results : undefined),
    };
  }
  const metrics = isObject(root.metrics) ? root.metrics : {};
  const state = isObject(root.state) ? root.state : {};
  const metric = (name: string): Json | undefined => {
    const m = metrics[name];
    return isObject(m) ? m : undefined;
  };
  return {
    valuesOf: (name) => (metric(name) === undefined ? undefined : numbers(metric(name)?.values)),
    verdict: (name, expression) => {
      const t = metric(name)?.thresholds;
      const entry = isObject(t) ? t[expression] : undefined;
      return isObject(entry) && typeof entry.ok === 'boolean' ? entry.ok : undefined;
    },
    passed: undefined,
    durationMs: typeof state.testRunDurationMs === 'number' ? state.testRunDurationMs : 0,
    setupData: root.setup_data,
    checks: groupChecks(root.root_group),
  };
}
