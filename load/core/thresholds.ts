/**
 * k6 threshold expressions (`count==0`, `rate==1`, `p(99)<2000`, `value<256`)
 * evaluated over aggregated metric values. The Node driver decides its exit
 * code with this; the k6 summary uses it where k6's data omits verdicts.
 */
import type { MetricValues } from './scenario.js';

export interface ThresholdResult {
  metric: string;
  expression: string;
  /** undefined when the value the expression needs is not available. */
  ok: boolean | undefined;
  actual: number | undefined;
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

export function evaluateThreshold(metric: string, expression: string, values: MetricValues | undefined): ThresholdResult {
  const parsed = parseThreshold(expression);
  const actual = parsed ? statValue(values, parsed.stat) : undefined;
  const ok = parsed && actual !== undefined ? compare(actual, parsed.op, parsed.bound) : undefined;
  return { metric, expression, ok, actual };
}

export function evaluateAll(thresholds: Record<string, string[]>, valuesOf: (metric: string) => MetricValues | undefined): ThresholdResult[] {
  return Object.entries(thresholds).flatMap(([metric, expressions]) => expressions.map((e) => evaluateThreshold(metric, e, valuesOf(metric))));
}
