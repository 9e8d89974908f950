/**
 * Reads the Prometheus text GET /metrics serves (metrics.ts), for the relay's
 * tests and the benchmarks that read a relay's figures.
 */

export interface MetricSample {
  name: string;
  /** The label set as written, braces included (`{le="0.01",path="req"}`), or ''. */
  labels: string;
  value: number;
}

/** Parses Prometheus text exposition into samples (comments skipped). */
export function parseMetrics(text: string): MetricSample[] {
  const samples: MetricSample[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (m === null) continue;
    const value = Number(m[3]);
    if (Number.isNaN(value)) continue;
    samples.push({ name: m[1] as string, labels: m[2] ?? '', value });
  }
  return samples;
}
