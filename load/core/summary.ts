/**
 * One load run's result, the same whichever driver ran it, and its three
 * renderings: text for the terminal, Markdown for humans, JUnit for CI (one
 * testcase per threshold). Pure string work: it is bundled into k6 too.
 */
import type { MetricValues } from './scenario.js';
import type { MetricKind } from './runtime.js';
import { statValue, type ThresholdResult } from './thresholds.js';

export const LOAD_SUMMARY_SCHEMA = 'kpsuite-load/1';

export interface LoadSummary {
  schema: typeof LOAD_SUMMARY_SCHEMA;
  scenario: string;
  description: string;
  driver: 'node' | 'k6';
  relay: { url: string };
  startedAt: string;
  durationMs: number;
  settings: Record<string, string | number>;
  metrics: Record<string, { kind: MetricKind | 'unknown'; help: string; values: MetricValues }>;
  thresholds: ThresholdResult[];
  /** Every threshold held (k6's own verdict when the summary comes from k6). */
  passed: boolean;
  notes: string[];
}

/** The file names a run folder gets for one scenario. */
export function summaryFileNames(scenario: string): { json: string; junit: string; markdown: string } {
  return { json: `load-${scenario}.json`, junit: `load-${scenario}.junit.xml`, markdown: `load-${scenario}.md` };
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
      return `count=${fmt(values.count)} rate=${fmt(values.rate)}/s`;
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
const verdict = (ok: boolean | undefined): string => (ok === undefined ? '?' : ok ? '✓' : '✗');

export function toText(s: LoadSummary): string {
  const lines = [
    `kpsuite load ${s.scenario} (${s.driver}) against ${s.relay.url}: ${(s.durationMs / 1000).toFixed(1)} s`,
    '',
    'thresholds:',
    ...s.thresholds.map((t) => `  ${verdict(t.ok)} ${t.metric} ${t.expression}  (actual ${fmt(t.actual, isTime(t.metric))})`),
    '',
    'metrics:',
    ...Object.entries(s.metrics).map(([name, m]) => `  ${name.padEnd(34)} ${describeValues(m.kind, m.values, isTime(name))}`),
  ];
  if (s.notes.length > 0) lines.push('', 'notes:', ...s.notes.map((n) => `  - ${n}`));
  lines.push('', s.passed ? 'result: every threshold held' : 'result: THRESHOLDS FAILED', '');
  return lines.join('\n');
}

const cell = (text: string): string => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function toMarkdown(s: LoadSummary): string {
  const lines = [
    `# Load: ${s.scenario}`,
    '',
    s.description,
    '',
    `- relay: \`${s.relay.url}\``,
    `- driver: ${s.driver}`,
    `- started: ${s.startedAt}, ${(s.durationMs / 1000).toFixed(1)} s`,
    `- result: **${s.passed ? 'pass' : 'FAIL'}**`,
    `- settings: ${Object.entries(s.settings)
      .map(([k, v]) => `${k}=${v}`)
      .join(', ')}`,
    '',
    '## Thresholds',
    '',
    '| | metric | threshold | actual |',
    '| --- | --- | --- | --- |',
    ...s.thresholds.map((t) => `| ${verdict(t.ok)} | \`${t.metric}\` | \`${cell(t.expression)}\` | ${fmt(t.actual, isTime(t.metric))} |`),
    '',
    '## Metrics',
    '',
    '| metric | values | meaning |',
    '| --- | --- | --- |',
    ...Object.entries(s.metrics).map(([name, m]) => `| \`${name}\` | ${cell(describeValues(m.kind, m.values, isTime(name)))} | ${cell(m.help)} |`),
  ];
  if (s.notes.length > 0) lines.push('', '## Notes', '', ...s.notes.map((n) => `- ${n}`));
  lines.push('');
  return lines.join('\n');
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
    if (t.ok === undefined) return `${open}\n      <skipped message="${escapeXml(`no value to evaluate (${actual})`)}"/>\n    </testcase>`;
    return `${open}\n      <system-out>${escapeXml(actual)}</system-out>\n    </testcase>`;
  });
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="kpsuite load" tests="${s.thresholds.length}" failures="${failures}" skipped="${skipped}" time="${seconds}">`,
    `  <testsuite name="load ${escapeXml(s.scenario)}" tests="${s.thresholds.length}" failures="${failures}" skipped="${skipped}" errors="0" time="${seconds}" timestamp="${escapeXml(s.startedAt.slice(0, 19))}">`,
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
