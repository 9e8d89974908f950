/**
 * In-memory metric sinks with k6's aggregation: Counter (count, rate/s),
 * Rate (share of true), Trend (min/med/max/percentiles with k6's linear
 * interpolation), Gauge (last value, min, max). Empty sinks aggregate to
 * zeros, as k6's do when thresholds are evaluated at the end of a run.
 */
import type { MetricKind, MetricSpec } from '../core/runtime.js';
import type { MetricValues } from '../core/scenario.js';

/** k6's percentile: linear interpolation between the closest ranks. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const pos = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  const a = sorted[lo] ?? 0;
  const b = sorted[hi] ?? a;
  return a + (b - a) * (pos - lo);
}

class Sink {
  private sum = 0;
  private trues = 0;
  private n = 0;
  private last = 0;
  private min = Number.POSITIVE_INFINITY;
  private max = Number.NEGATIVE_INFINITY;
  private readonly samples: number[] = [];

  constructor(readonly kind: MetricKind) {}

  get count(): number {
    return this.n;
  }

  add(value: number): void {
    this.n += 1;
    this.sum += value;
    if (value !== 0) this.trues += 1;
    this.last = value;
    this.min = Math.min(this.min, value);
    this.max = Math.max(this.max, value);
    if (this.kind === 'trend') this.samples.push(value);
  }

  values(elapsedSeconds: number): MetricValues {
    const seen = this.n > 0;
    switch (this.kind) {
      case 'counter':
        return { count: this.sum, rate: elapsedSeconds > 0 ? this.sum / elapsedSeconds : 0 };
      case 'rate':
        return { rate: seen ? this.trues / this.n : 0, passes: this.trues, fails: this.n - this.trues };
      case 'gauge':
        return { value: this.last, min: seen ? this.min : 0, max: seen ? this.max : 0 };
      case 'trend': {
        const sorted = [...this.samples].sort((a, b) => a - b);
        const p = (q: number): number => percentile(sorted, q);
        return {
          count: this.n,
          avg: seen ? this.sum / this.n : 0,
          min: seen ? this.min : 0,
          med: p(50),
          max: seen ? this.max : 0,
          'p(50)': p(50),
          'p(90)': p(90),
          'p(95)': p(95),
          'p(99)': p(99),
        };
      }
    }
  }
}

export class MetricStore {
  private readonly sinks = new Map<string, Sink>();

  constructor(specs: readonly MetricSpec[] = []) {
    for (const spec of specs) this.define(spec);
  }

  /** Declares a metric (k6 declares them one by one, in the init context). */
  define(spec: Pick<MetricSpec, 'name' | 'kind'>): void {
    if (!this.sinks.has(spec.name)) this.sinks.set(spec.name, new Sink(spec.kind));
  }

  names(): string[] {
    return [...this.sinks.keys()];
  }

  kindOf(name: string): MetricKind | undefined {
    return this.sinks.get(name)?.kind;
  }

  add(name: string, value: number | boolean): void {
    const sink = this.sinks.get(name);
    // A scenario that records an undeclared metric is a bug k6 would also reject.
    if (sink === undefined) throw new Error(`metric ${name} is not declared by the scenario`);
    sink.add(typeof value === 'boolean' ? (value ? 1 : 0) : value);
  }

  /** How many samples a metric got (0 for an unknown one): k6 skips thresholds on a metric without any. */
  samples(name: string): number {
    return this.sinks.get(name)?.count ?? 0;
  }

  valuesOf(name: string, elapsedSeconds: number): MetricValues | undefined {
    return this.sinks.get(name)?.values(elapsedSeconds);
  }
}
