/**
 * k6 threshold expressions (`count==0`, `rate==1`, `p(99)<2000`, `value<256`)
 * evaluated over aggregated metric values. The Node driver decides its exit
 * code with this; the k6 summary uses it where k6's data omits verdicts.
 */
import type { MetricValues } from './scenario.js';

export interface ThresholdResult {
  metric: string;
  expression: string;
  /** undefined when the metric has no samples or the value the expression needs is not available. */
  ok: boolean | undefined;
  actual: number | undefined;
  /**
   * The metric got no sample: k6 skips such a threshold (it passes, exit 0),
   * so it held nothing; summaries show "no samples", never ✓.
   */
  noSamples?: true;
}

/**
 * Whether aggregated values come from at least one sample. k6's summary
 * omits metrics that never got one (undefined values); a Trend or Rate that
 * is present shows its sample count. A present Counter or Gauge cannot
 * tell, and counts as sampled (a 0 added is a sample).
 */
export function hasSamples(values: MetricValues | undefined): boolean {
  if (values === undefined) return false;
  if (values.passes !== undefined || values.fails !== undefined) return (values.passes ?? 0) + (values.fails ?? 0) > 0;
  if (values.med !== undefined || values['p(50)'] !== undefined) return (values.count ?? 1) > 0;
  return true;
}

const EXPRESSION = /^\s*(count|rate|value|avg|min|max|med|p\(\d+(?:\.\d+)?\))\s*(<=|>=|===|==|!=|<|>)\s*(-?\d+(?:\.\d+)?)\s*$/;

export function parseThreshold(expression: string): { stat: string; op: string; bound: number } | undefined {
  const m = EXPRESSION.exec(expression);
  if (!m) return undefined;
  const stat = (m[1] ?? '').replace(/^p\((\d+(?:\.\d+)?)\)$/, (_, p: string) => `p(${Number(p)})`);
  return { stat, op: m[2] ?? '==', bound: Number(m[3]) };
}

function compare(a: number, op: string, b: number): boolean {
  switch (op) {
    case '<':
      return a < b;
    case '<=':
      return a <= b;
    case '>':
      return a > b;
    case '>=':
      return a >= b;
    case '!=':
      return a !== b;
    default:
      return a === b;
  }
}

/** The value a statistic names; `med` and `p(50)` are the same number. */
export function statValue(values: MetricValues | undefined, stat: string): number | undefined {
  if (values === undefined) return undefined;
  const direct = values[stat];
  if (direct !== undefined) return direct;
  if (stat === 'med') return values['p(50)'];
  if (stat === 'p(50)') return values.med;
  return undefined;
}

export function evaluateThreshold(metric: string, expression: string, values: MetricValues | undefined, sampled = hasSamples(values)): ThresholdResult {
  if (!sampled) return { metric, expression, ok: undefined, actual: undefined, noSamples: true };
  const parsed = parseThreshold(expression);
  const actual = parsed ? statValue(values, parsed.stat) : undefined;
  const ok = parsed && actual !== undefined ? compare(actual, parsed.op, parsed.bound) : undefined;
  return { metric, expression, ok, actual };
}

export function evaluateAll(thresholds: Record<string, string[]>, valuesOf: (metric: string) => MetricValues | undefined, sampled?: (metric: string) => boolean): ThresholdResult[] {
  return Object.entries(thresholds).flatMap(([metric, expressions]) => expressions.map((e) => evaluateThreshold(metric, e, valuesOf(metric), sampled?.(metric))));
}

/** Thresholds tallied for a one-line verdict: held (✓), failed (✗), without samples. */
export function tally(results: readonly Pick<ThresholdResult, 'ok' | 'noSamples'>[]): { held: number; failed: number; noSamples: number; total: number } {
  return {
    held: results.filter((t) => t.ok === true).length,
    failed: results.filter((t) => t.ok === false).length,
    noSamples: results.filter((t) => t.noSamples === true).length,
    total: results.length,
  };
}
