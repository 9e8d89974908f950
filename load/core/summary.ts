/**
 * One load run's result, the same whichever driver ran it, and its three
 * renderings: text for the terminal, Markdown for humans, JUnit for CI (one
 * testcase per threshold). Pure string work: it is bundled into k6 too.
 */
import type { MetricValues } from './scenario.js';
import type { MetricKind } from './runtime.js';
import { instanceLabel, instanceTag, type Instance } from './instance.js';
import type { Ledger } from './ledger.js';
import { statValue, tally, type ThresholdResult } from './thresholds.js';

export const LOAD_SUMMARY_SCHEMA = 'kpsuite-load/1';

export interface LoadSummary {
  schema: typeof LOAD_SUMMARY_SCHEMA;
  scenario: string;
  description: string;
  driver: 'node' | 'k6';
  relay: { url: string };
  startedAt: string;
  /** Time the run worked: setup, roles and teardown (k6: its test run duration). */
  durationMs: number;
  /** Node driver: how durationMs splits. */
  phases?: { setupMs: number; rolesMs: number; teardownMs: number };
  settings: Record<string, string | number>;
  metrics: Record<string, { kind: MetricKind | 'unknown'; help: string; values: MetricValues }>;
  thresholds: ThresholdResult[];
  /**
   * No threshold failed, k6's way (a threshold without samples does not
   * fail); k6's own verdict when the summary comes from k6.
   */
  passed: boolean;
  /** Set when the relay could not be used, so the run has no verdict (kpsuite exits 2). */
  notRun?: string;
  /** Arrival-rate iterations not started because every VU was busy (k6's dropped_iterations). */
  droppedIterations?: number;
  /** Roles that ran short of VUs, where known (Node driver). */
  vuShortages?: string[];
  notes: string[];
  /** Which part of a split test this run was (core/instance.ts); absent for the whole test. */
  instance?: Instance;
  /** What `kpsuite load merge` re-judges across instances (core/ledger.ts). */
  ledger?: Ledger;
  /** Set on the summary `kpsuite load merge` writes: the instances it combined (core/merge.ts). */
  merged?: MergedFrom;
}

/** The instances a merged summary combines, and what could not be combined exactly. */
export interface MergedFrom {
  instances: { source: string; label: string; segment: string; driver: 'node' | 'k6'; durationMs: number; verdict: string }[];
  /** Trend percentiles per instance, in `instances` order (a merged percentile is only bounded by them). */
  percentiles: Record<string, Record<string, (number | null)[]>>;
}

/** One line: not run, or how many thresholds held, failed and had no samples. */
export function verdictLine(s: Pick<LoadSummary, 'notRun' | 'thresholds'>): string {
  if (s.notRun !== undefined) return `NOT RUN: ${s.notRun}`;
  const t = tally(s.thresholds);
  if (t.held === t.total) return `every threshold held (${t.total}/${t.total})`;
  const parts = [`${t.held}/${t.total} thresholds held`];
  if (t.failed > 0) parts.push(`${t.failed} FAILED`);
  if (t.noSamples > 0) parts.push(`${t.noSamples} without samples`);
  return parts.join(', ');
}

function header(s: LoadSummary): string {
  const p = s.phases;
  const split = p ? ` (setup ${(p.setupMs / 1000).toFixed(1)} s, roles ${(p.rolesMs / 1000).toFixed(1)} s, teardown ${(p.teardownMs / 1000).toFixed(1)} s)` : '';
  return `${(s.durationMs / 1000).toFixed(1)} s${split}`;
}

function executionLines(s: LoadSummary): string[] {
  const out: string[] = [];
  if (s.instance !== undefined && s.instance.source !== 'whole') out.push(`${instanceLabel(s.instance)} of a split test: \`kpsuite load merge\` judges the whole`);
  for (const i of s.merged?.instances ?? []) out.push(`merged ${i.label} (${i.driver}, ${(i.durationMs / 1000).toFixed(1)} s): ${i.verdict} [${i.source}]`);
  if ((s.droppedIterations ?? 0) > 0) out.push(`dropped_iterations: ${s.droppedIterations} (all VUs busy: the relay or this machine could not keep the rate)`);
  for (const v of s.vuShortages ?? []) out.push(`VU shortage: ${v}`);
  return out;
}

/** The file names a run folder gets for one scenario (tagged with the instance when the test is split). */
export function summaryFileNames(scenario: string, instance?: Instance): { json: string; junit: string; markdown: string } {
  const base = `load-${scenario}${instanceTag(instance)}`;
  return { json: `${base}.json`, junit: `${base}.junit.xml`, markdown: `${base}.md` };
}

function fmt(n: number | undefined, time = false): string {
  if (n === undefined || !Number.isFinite(n)) return '–';
  const text = Math.abs(n) >= 100 || Number.isInteger(n) ? String(Math.round(n * 100) / 100) : n.toFixed(2);
  return time ? `${text} ms` : text;
}

/** One line of a metric's values, in the order a reader wants them. */
export function describeValues(kind: MetricKind | 'unknown', values: MetricValues, time: boolean): string {
  switch (kind) {
    case 'counter':
      return `count=${fmt(values.count)}${values.rate === undefined ? '' : ` rate=${fmt(values.rate)}/s`}`;
    case 'rate':
      return `rate=${fmt((values.rate ?? 0) * 100)}% (${fmt(values.passes)} true, ${fmt(values.fails)} false)`;
    case 'gauge':
      return `value=${fmt(values.value)} min=${fmt(values.min)} max=${fmt(values.max)}`;
    default: {
      const p = (stat: string): string => fmt(statValue(values, stat), time);
      return `count=${fmt(values.count)} p(50)=${p('p(50)')} p(95)=${p('p(95)')} p(99)=${p('p(99)')} max=${p('max')}`;
    }
  }
}

const isTime = (name: string): boolean => name.endsWith('_ms');
const valuesText = (m: LoadSummary['metrics'][string], name: string): string => (Object.keys(m.values).length === 0 ? 'no samples' : describeValues(m.kind, m.values, isTime(name)));
const verdict = (t: ThresholdResult): string => (t.noSamples ? '–' : t.ok === undefined ? '?' : t.ok ? '✓' : '✗');
const actualText = (t: ThresholdResult): string => (t.noSamples ? 'no samples' : `actual ${fmt(t.actual, isTime(t.metric))}`);

export function toText(s: LoadSummary): string {
  const lines = [
    ...(s.notRun !== undefined ? [`NOT RUN: ${s.notRun}`, ''] : []),
    `kpsuite load ${s.scenario} (${s.driver}) against ${s.relay.url}: ${header(s)}`,
    ...executionLines(s),
    '',
    'thresholds:',
    ...s.thresholds.map((t) => `  ${verdict(t)} ${t.metric} ${t.expression}  (${actualText(t)})`),
    '',
    'metrics:',
    ...Object.entries(s.metrics).map(([name, m]) => `  ${name.padEnd(34)} ${valuesText(m, name)}`),
  ];
  if (s.notes.length > 0) lines.push('', 'notes:', ...s.notes.map((n) => `  - ${n}`));
  const result = s.notRun !== undefined ? 'NOT RUN (no verdict)' : s.passed ? verdictLine(s) : `THRESHOLDS FAILED: ${verdictLine(s)}`;
  lines.push('', `result: ${result}`, '');
  return lines.join('\n');
}

const cell = (text: string): string => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function toMarkdown(s: LoadSummary): string {
  const lines = [
    `# Load: ${s.scenario}`,
    '',
    ...(s.notRun !== undefined ? [`**Not run:** ${s.notRun}`, ''] : []),
    s.description,
    '',
    `- relay: \`${s.relay.url}\``,
    `- driver: ${s.driver}`,
    `- started: ${s.startedAt}, ${header(s)}`,
    `- result: **${s.notRun !== undefined ? 'not run' : s.passed ? 'pass' : 'FAIL'}** (${verdictLine(s)})`,
    ...executionLines(s).map((l) => `- ${l}`),
    `- settings: ${Object.entries(s.settings)
      .map(([k, v]) => `${k}=${v}`)
      .join(', ')}`,
    '',
    '## Thresholds',
    '',
    '| | metric | threshold | actual |',
    '| --- | --- | --- | --- |',
    ...s.thresholds.map((t) => `| ${verdict(t)} | \`${t.metric}\` | \`${cell(t.expression)}\` | ${t.noSamples ? 'no samples' : fmt(t.actual, isTime(t.metric))} |`),
    '',
    '## Metrics',
    '',
    '| metric | values | meaning |',
    '| --- | --- | --- |',
    ...Object.entries(s.metrics).map(([name, m]) => `| \`${name}\` | ${cell(valuesText(m, name))} | ${cell(m.help)} |`),
  ];
  lines.push(...percentileTable(s));
  if (s.notes.length > 0) lines.push('', '## Notes', '', ...s.notes.map((n) => `- ${n}`));
  lines.push('');
  return lines.join('\n');
}

/** A merged summary's trend percentiles, instance by instance (they cannot be merged exactly). */
function percentileTable(s: LoadSummary): string[] {
  const m = s.merged;
  if (m === undefined || Object.keys(m.percentiles).length === 0) return [];
  return [
    '',
    '## Percentiles per instance',
    '',
    'The merged value of a percentile is the largest instance’s: an upper bound of the true one (a mixture’s quantile lies between its parts’).',
    '',
    `| metric | stat | ${m.instances.map((i) => cell(i.label)).join(' | ')} |`,
    `| --- | --- | ${m.instances.map(() => '---').join(' | ')} |`,
    ...Object.entries(m.percentiles).flatMap(([metric, stats]) =>
      Object.entries(stats).map(([stat, xs]) => `| \`${metric}\` | ${stat} | ${xs.map((x) => fmt(x ?? undefined, isTime(metric))).join(' | ')} |`),
    ),
  ];
}

export function escapeXml(text: string): string {
  return (
    text
      // eslint-disable-next-line no-control-regex -- XML 1.0 forbids these characters outright
      .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F]/g, '')
      .replace(/&/g, '&amp;')
      .replace(/</g, '&lt;')
      .replace(/>/g, '&gt;')
      .replace(/"/g, '&quot;')
      .replace(/'/g, '&apos;')
  );
}

/** JUnit XML: one testsuite per scenario, one testcase per threshold. */
export function toJUnit(s: LoadSummary): string {
  const failures = s.thresholds.filter((t) => t.ok === false).length;
  const skipped = s.thresholds.filter((t) => t.ok === undefined).length;
  const seconds = (s.durationMs / 1000).toFixed(3);
  const cases = s.thresholds.map((t) => {
    const name = escapeXml(`${t.metric} ${t.expression}`);
    const open = `    <testcase classname="kpsuite.load.${escapeXml(s.scenario)}" name="${name}" time="0">`;
    const actual = `actual ${fmt(t.actual, isTime(t.metric))}`;
    if (t.ok === false) return `${open}\n      <failure message="${escapeXml(`${t.metric} ${t.expression} not met: ${actual}`)}" type="threshold"/>\n    </testcase>`;
    if (t.noSamples) return `${open}\n      <skipped message="no samples: the metric was never recorded, so this held nothing"/>\n    </testcase>`;
    if (t.ok === undefined) return `${open}\n      <skipped message="${escapeXml(`no value to evaluate (${actual})`)}"/>\n    </testcase>`;
    return `${open}\n      <system-out>${escapeXml(actual)}</system-out>\n    </testcase>`;
  });
  // A run that could not use the relay is an error, not a pass with skipped thresholds.
  if (s.notRun !== undefined) cases.unshift(`    <testcase classname="kpsuite.load.${escapeXml(s.scenario)}" name="run" time="${seconds}">\n      <error message="${escapeXml(`not run: ${s.notRun}`)}" type="not-run"/>\n    </testcase>`);
  const errors = s.notRun !== undefined ? 1 : 0;
  const tests = s.thresholds.length + errors;
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="kpsuite load" tests="${tests}" failures="${failures}" errors="${errors}" skipped="${skipped}" time="${seconds}">`,
    `  <testsuite name="load ${escapeXml(s.scenario)}" tests="${tests}" failures="${failures}" skipped="${skipped}" errors="${errors}" time="${seconds}" timestamp="${escapeXml(s.startedAt.slice(0, 19))}">`,
    '    <properties>',
    `      <property name="relay" value="${escapeXml(s.relay.url)}"/>`,
    `      <property name="driver" value="${s.driver}"/>`,
    '    </properties>',
    ...cases,
    '  </testsuite>',
    '</testsuites>',
    '',
  ].join('\n');
}

export function toJson(s: LoadSummary): string {
  return `${JSON.stringify(s, null, 2)}\n`;
}
