/**
 * `kpsuite load merge`: the summaries of a split test's instances (from one
 * host or many, either driver) combined into one verdict.
 *
 * - Counters and Rates are summed exactly (a Counter's rate is over the
 *   merged duration); a Gauge keeps its largest final value, smallest min and
 *   largest max. A Trend's count, min, max and average are exact; its
 *   percentiles cannot be merged from summaries, so the merged value is the
 *   largest instance's (an upper bound: a mixture's quantile lies between its
 *   parts'), and every instance's is kept (`merged.percentiles`).
 * - Every instance's thresholds are judged again on the merged values.
 * - Invariants no instance can judge alone are judged from the ledgers
 *   (core/ledger.ts), as thresholds on `merge_*` metrics: the instances'
 *   segments do not overlap; no owner, requester, KeyPackage or pool range
 *   is claimed twice; no instance did nothing; no non-last KeyPackage is
 *   handed out more than once in all (within or across instances); nothing
 *   handed out that no instance published; and each owner whose last
 *   KeyPackage is known kept exactly that one.
 *
 * Not run (exit 2, reason first) when an instance was not run, a summary
 * does not say which instance it was, or the segments do not cover the test.
 */
import { parseSegment, instanceLabel, WHOLE, type Instance, type Ratio } from './instance.js';
import { factsOf, type Ledger } from './ledger.js';
import type { MetricKind } from './runtime.js';
import type { MetricValues } from './scenario.js';
import { LOAD_SUMMARY_SCHEMA, verdictLine, type LoadSummary } from './summary.js';
import { evaluateThreshold, hasSamples } from './thresholds.js';

/** The input cannot be merged at all (not load summaries, different scenarios): exit 2. */
export class MergeUsageError extends Error {}

export interface MergeInput {
  /** Where it came from (a file), for messages. */
  source: string;
  summary: LoadSummary;
}

export interface MergeResult {
  summary: LoadSummary;
  exitCode: 0 | 2 | 99;
}

type Metric = LoadSummary['metrics'][string];

const PERCENTILE = /^(med|p\(\d+(?:\.\d+)?\))$/;

function mergeValues(kind: MetricKind | 'unknown', parts: MetricValues[], seconds: number): MetricValues {
  const sampled = parts.filter((v) => hasSamples(v) && Object.keys(v).length > 0);
  if (sampled.length === 0) return {};
  const sum = (k: string): number => sampled.reduce((n, v) => n + (v[k] ?? 0), 0);
  const most = (k: string): number => Math.max(...sampled.map((v) => v[k] ?? Number.NEGATIVE_INFINITY));
  const least = (k: string): number => Math.min(...sampled.map((v) => v[k] ?? Number.POSITIVE_INFINITY));
  switch (kind) {
    case 'counter':
      return { count: sum('count'), rate: seconds > 0 ? sum('count') / seconds : 0 };
    case 'rate': {
      const [passes, fails] = [sum('passes'), sum('fails')];
      return { rate: passes + fails > 0 ? passes / (passes + fails) : 0, passes, fails };
    }
    case 'gauge':
      return { value: most('value'), min: least('min'), max: most('max') };
    default: {
      const count = sum('count');
      const out: MetricValues = { count, min: least('min'), max: most('max') };
      if (count > 0) out.avg = sampled.reduce((n, v) => n + (v.avg ?? 0) * (v.count ?? 0), 0) / count;
      for (const stat of Object.keys(sampled[0] ?? {})) if (PERCENTILE.test(stat)) out[stat] = most(stat);
      return out;
    }
  }
}

const toNumber = ([n, d]: Ratio): number => n / d;

/** Overlapping pairs of instances, and the parts of [0, 1) no instance covers. */
function coverage(instances: readonly Instance[]): { overlaps: [number, number][]; missing: string[] } {
  const spans = instances.map((inst, k) => ({ k, ...parseSegment(inst.segment) })).sort((x, y) => toNumber(x.from) - toNumber(y.from));
  const overlaps: [number, number][] = [];
  for (let i = 0; i < spans.length; i++) {
    for (let j = i + 1; j < spans.length; j++) {
      const [a, b] = [spans[i]!, spans[j]!];
      if (toNumber(b.from) < toNumber(a.to)) overlaps.push([a.k, b.k]);
    }
  }
  const missing: string[] = [];
  let reached: Ratio = [0, 1];
  for (const sp of spans) {
    if (toNumber(sp.from) > toNumber(reached)) missing.push(`${reached[0]}/${reached[1]}:${sp.from[0]}/${sp.from[1]}`);
    if (toNumber(sp.to) > toNumber(reached)) reached = sp.to;
  }
  if (toNumber(reached) < 1) missing.push(`${reached[0]}/${reached[1]}:1`);
  return { overlaps, missing };
}

interface CrossCheck {
  name: string;
  kind: MetricKind;
  help: string;
  expression: string;
  values: MetricValues;
}

const counted = (name: string, help: string, count: number): CrossCheck => ({ name, kind: 'counter', help, expression: 'count==0', values: { count } });

/** Claims (owners, requesters, KeyPackages, pool ranges) made by more than one instance. */
function sharedClaims(ledgers: readonly Ledger[]): string[] {
  const seen = new Map<string, Set<number>>();
  ledgers.forEach((ledger, k) => {
    for (const kind of ['owner', 'requester', 'kp', 'last']) {
      for (const f of factsOf(ledger, kind)) {
        const key = `${kind === 'last' ? 'kp' : kind} ${f.args.at(-1) ?? ''}`;
        seen.set(key, (seen.get(key) ?? new Set()).add(k));
      }
    }
  });
  const shared = [...seen].filter(([, who]) => who.size > 1).map(([key]) => key);
  // Pool ranges overlap only within one fixture.
  const ranges = ledgers.flatMap((ledger, k) => {
    const fixture = factsOf(ledger, 'fixture')[0]?.args[0] ?? '?';
    return factsOf(ledger, 'range').map((f) => ({ k, fixture, pool: f.args[0], start: Number(f.args[1]), end: Number(f.args[2]) }));
  });
  for (const [i, a] of ranges.entries()) {
    for (const b of ranges.slice(i + 1)) {
      if (a.k !== b.k && a.fixture === b.fixture && a.pool === b.pool && a.start < b.end && b.start < a.end) shared.push(`range ${a.pool} ${a.start}-${a.end} and ${b.start}-${b.end}`);
    }
  }
  return shared;
}

/** Hand-outs and inventories, across all instances: what contend's owners must satisfy together. */
function handoutChecks(ledgers: readonly Ledger[]): CrossCheck[] {
  const last = new Map<string, string>();
  const nonLast = new Set<string>();
  const handed = new Map<string, number>();
  const inventories = new Map<string, Set<string>>();
  const read = new Set<string>();
  for (const ledger of ledgers) {
    for (const f of factsOf(ledger, 'last')) last.set(f.args[0] ?? '', f.args[1] ?? '');
    for (const f of factsOf(ledger, 'kp')) nonLast.add(f.args[1] ?? '');
    for (const f of factsOf(ledger, 'handout')) handed.set(f.args[0] ?? '', (handed.get(f.args[0] ?? '') ?? 0) + f.count);
    for (const f of factsOf(ledger, 'inventory')) read.add(f.args[0] ?? '');
    for (const f of factsOf(ledger, 'left')) inventories.set(f.args[0] ?? '', (inventories.get(f.args[0] ?? '') ?? new Set()).add(f.args[1] ?? ''));
  }
  if (last.size === 0 && handed.size === 0) return [];
  const lastIds = new Set(last.values());
  let duplicates = 0;
  let foreign = 0;
  for (const [id, n] of handed) {
    if (nonLast.has(id)) duplicates += n - 1;
    else if (!lastIds.has(id)) foreign += n;
  }
  let passes = 0;
  let fails = 0;
  for (const [owner, id] of last) {
    const left = inventories.get(owner) ?? new Set<string>();
    if (read.has(owner) && left.size === 1 && left.has(id)) passes += 1;
    else fails += 1;
  }
  return [
    counted('merge_duplicate_handouts', 'extra hand-outs of non-last KeyPackages, across all instances (kp-handout-exactly-once)', duplicates),
    counted('merge_foreign_handouts', 'hand-outs of KeyPackages no instance published', foreign),
    { name: 'merge_owner_left_one', kind: 'rate', help: 'owners whose own query after the race found exactly their last KeyPackage (kp-handout-last-resort)', expression: 'rate==1', values: { rate: passes + fails > 0 ? passes / (passes + fails) : 0, passes, fails } },
  ];
}

/** Whether a summary did its scenario's work: some work threshold (count>0) held. */
const didWork = (s: LoadSummary): boolean => s.thresholds.some((t) => t.expression === 'count>0' && t.ok === true) || !s.thresholds.some((t) => t.expression === 'count>0');

export function mergeSummaries(inputs: readonly MergeInput[]): MergeResult {
  if (inputs.length === 0) throw new MergeUsageError('no summaries to merge');
  for (const { source, summary } of inputs) {
    if (summary?.schema !== LOAD_SUMMARY_SCHEMA) throw new MergeUsageError(`${source} is not a kpsuite load summary (schema ${LOAD_SUMMARY_SCHEMA})`);
  }
  const summaries = inputs.map((i) => i.summary);
  const first = summaries[0]!;
  const other = summaries.find((s) => s.scenario !== first.scenario);
  if (other !== undefined) throw new MergeUsageError(`the summaries are of different scenarios (${first.scenario}, ${other.scenario}): merge one test's instances`);

  const instances = summaries.map((s) => s.instance ?? (summaries.length === 1 ? WHOLE : undefined));
  const labels = instances.map((inst, k) => (inst === undefined ? `summary ${k + 1}` : instanceLabel(inst)));
  const reasons: string[] = [];
  summaries.forEach((s, k) => {
    if (s.notRun !== undefined) reasons.push(`${labels[k]} (${inputs[k]!.source}) was not run: ${s.notRun}`);
  });
  const unknown = instances.flatMap((inst, k) => (inst === undefined ? [inputs[k]!.source] : []));
  if (unknown.length > 0) reasons.push(`${unknown.join(', ')} do${unknown.length === 1 ? 'es' : ''} not say which instance of the test it was (k6 ran no iteration there and passed no setup data)`);
  const known = instances.filter((i): i is Instance => i !== undefined);
  const { overlaps, missing } = coverage(known);
  if (unknown.length === 0 && missing.length > 0) reasons.push(`the summaries do not cover the whole test: no instance ran segment${missing.length === 1 ? '' : 's'} ${missing.join(', ')}`);

  const starts = summaries.map((s) => Date.parse(s.startedAt));
  const start = Math.min(...starts);
  const durationMs = Math.max(...summaries.map((s, k) => starts[k]! + s.durationMs)) - start;
  const seconds = durationMs / 1000;

  const names = [...new Set(summaries.flatMap((s) => Object.keys(s.metrics)))];
  const metrics: Record<string, Metric> = {};
  const percentiles: Record<string, Record<string, (number | null)[]>> = {};
  for (const name of names) {
    const parts = summaries.map((s) => s.metrics[name]);
    const kind = parts.find((p) => p !== undefined)?.kind ?? 'unknown';
    metrics[name] = { kind, help: parts.find((p) => p !== undefined)?.help ?? '', values: mergeValues(kind, parts.map((p) => p?.values ?? {}), seconds) };
    if (kind !== 'trend') continue;
    // med is p(50): listed once.
    const stats = Object.keys(metrics[name].values).filter((st) => PERCENTILE.test(st) && !(st === 'med' && 'p(50)' in metrics[name]!.values));
    if (stats.length > 0) percentiles[name] = Object.fromEntries(stats.map((st) => [st, parts.map((p) => (p !== undefined && hasSamples(p.values) ? (p.values[st] ?? null) : null))]));
  }

  const ledgers = summaries.map((s) => s.ledger ?? {});
  const shared = sharedClaims(ledgers);
  const idle = summaries.filter((s) => s.notRun === undefined && !didWork(s)).length;
  const cross: CrossCheck[] = [
    counted('merge_overlapping_instances', 'pairs of instances whose execution segments overlap (the same share run twice)', overlaps.length),
    counted('merge_shared_claims', 'owners, requesters, KeyPackages or pool ranges of the fixture claimed by more than one instance', shared.length),
    counted('merge_idle_instances', 'instances that did none of their scenario’s work (count>0 failed)', idle),
    ...handoutChecks(ledgers),
  ];
  for (const c of cross) metrics[c.name] = { kind: c.kind, help: c.help, values: c.values };

  const pairs = new Map<string, { metric: string; expression: string }>();
  for (const s of summaries) for (const t of s.thresholds) pairs.set(`${t.metric} ${t.expression}`, { metric: t.metric, expression: t.expression });
  const thresholds = [
    ...[...pairs.values()].map(({ metric, expression }) => {
      const values = metrics[metric]?.values;
      return evaluateThreshold(metric, expression, values, values !== undefined && Object.keys(values).length > 0 && hasSamples(values));
    }),
    ...cross.map((c) => evaluateThreshold(c.name, c.expression, c.values, true)),
  ];
  const notRun = reasons.length > 0 ? reasons.join('; ') : undefined;
  const passed = thresholds.every((t) => t.ok !== false);
  const trendNote = Object.keys(percentiles).length > 0 ? ['trend percentiles are the largest instance’s (an upper bound of the merged one); every instance’s are in merged.percentiles and the Markdown report'] : [];
  const notes = [
    ...trendNote,
    ...overlaps.map(([a, b]) => `${labels[a]} and ${labels[b]} overlap: one share of the test ran twice`),
    ...shared.slice(0, 20).map((key) => `claimed by more than one instance: ${key}`),
    ...summaries.flatMap((s, k) => s.notes.map((n) => `${labels[k]}: ${n}`)),
  ];
  const dropped = summaries.reduce((n, s) => n + (s.droppedIterations ?? 0), 0);
  const summary: LoadSummary = {
    schema: LOAD_SUMMARY_SCHEMA,
    scenario: first.scenario,
    description: first.description,
    driver: first.driver,
    relay: { url: [...new Set(summaries.map((s) => s.relay.url))].join(', ') },
    startedAt: new Date(start).toISOString(),
    durationMs,
    settings: first.settings,
    metrics,
    thresholds,
    passed,
    ...(notRun !== undefined ? { notRun } : {}),
    ...(dropped > 0 ? { droppedIterations: dropped, vuShortages: summaries.flatMap((s, k) => (s.vuShortages ?? []).map((v) => `${labels[k]}: ${v}`)) } : {}),
    notes,
    merged: {
      instances: summaries.map((s, k) => ({ source: inputs[k]!.source, label: labels[k]!, segment: instances[k]?.segment ?? '?', driver: s.driver, durationMs: s.durationMs, verdict: s.notRun !== undefined ? `NOT RUN: ${s.notRun}` : verdictLine(s) })),
      percentiles,
    },
  };
  return { summary, exitCode: notRun !== undefined ? 2 : passed ? 0 : 99 };
}
