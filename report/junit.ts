/**
 * JUnit XML (the h2spec / CI dialect): one <testsuite> per section, one
 * <testcase> per test. CI systems read failures, errors and skips from it.
 */
import type { WireEntry } from '../client/relay-client.js';
import type { Section, TestRecord } from './schema.js';
import type { ConformanceReport } from './schema.js';
import { anchorHref, decisiveEntry, decisiveText, groupBySection, plural, sourceLabel, truncate, visible, wireLine } from './text.js';

/** Escapes for an XML 1.0 text node or attribute; invalid characters are spelled out first. */
export function escapeXml(text: string, attribute = false): string {
  const escaped = visible(text)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;')
    // XML normalizes a raw CR away, and attribute whitespace to spaces: keep them as references.
    .replace(/\r/g, '&#13;');
  return attribute ? escaped.replace(/\n/g, '&#10;').replace(/\t/g, '&#9;') : escaped;
}

type Verdict =
  | { kind: 'pass'; note?: string }
  | { kind: 'failure' | 'error'; message: string; body: string }
  | { kind: 'skipped'; message: string; note?: string };

/** What CI should make of one record. */
export function verdictOf(test: TestRecord, report: ConformanceReport): Verdict {
  const body = detailText(test);
  const message = test.message ?? `${test.level} requirement not met`;
  // Listed in --expect-fail: reported like pytest's xfail, so CI stays green as the exit code does.
  if (test.expectedFailure) return { kind: 'skipped', message: `expected failure (${test.outcome}): ${message}`, note: body };
  switch (test.outcome) {
    case 'pass':
      return report.summary.unexpectedPasses.includes(test.id)
        ? { kind: 'pass', note: 'listed in the expected-failures file but passed: remove it from the list' }
        : { kind: 'pass' };
    case 'fail':
      return { kind: 'failure', message, body };
    case 'non-strict':
      if (report.run.strict) return { kind: 'failure', message, body };
      return { kind: 'pass', note: `non-strict: a SHOULD is not met (a failure with --strict)\n${body}` };
    case 'error':
      return { kind: 'error', message, body };
    case 'info':
      return { kind: 'pass', note: `info: ${message}\n${body}` };
    case 'untested':
      return { kind: 'skipped', message: `untested: ${test.message ?? 'a precondition is missing'}` };
    case 'skipped':
      return { kind: 'skipped', message: test.message ?? 'excluded by --only/--exclude' };
  }
}

/** Requirement, expected/observed and the whole wire log, as the text of a failure. */
export function detailText(test: TestRecord): string {
  const lines = [`Requirement (${test.level}, ${sourceLabel(test)}, ${anchorHref(test.anchor)}): ${test.requirement}`];
  if (test.message !== undefined) lines.push(`Message: ${test.message}`);
  if (test.expected !== undefined) lines.push(`Expected: ${test.expected}`);
  if (test.observed !== undefined) lines.push(`Observed: ${test.observed}`);
  const decisive = decisiveEntry(test);
  if (decisive) lines.push(`Decisive frame: ${decisiveText(decisive, truncate(decisive.frame, JUNIT_FRAME_MAX).text)}`);
  if (test.waitedMs !== undefined) lines.push(`Waited ${test.waitedMs} ms for silence`);
  lines.push(`Wire log (${plural(test.wire.length, 'entry', 'entries')}):`);
  for (const entry of test.wire) lines.push(`  ${junitWireLine(entry)}`);
  return lines.join('\n');
}

/** CI viewers choke on megabyte logs; report.json keeps every frame whole. */
export const JUNIT_FRAME_MAX = 4000;

function junitWireLine(entry: WireEntry): string {
  const cut = truncate(entry.frame, JUNIT_FRAME_MAX);
  return wireLine(entry, cut.omitted === 0 ? cut.text : `${cut.text} …[${cut.omitted} more characters, see report.json]`);
}

const seconds = (ms: number): string => (ms / 1000).toFixed(3);

function testcase(test: TestRecord, report: ConformanceReport): string {
  const open = `    <testcase classname="${escapeXml(test.section, true)}" name="${escapeXml(test.id, true)}" time="${seconds(test.durationMs)}"`;
  const v = verdictOf(test, report);
  const inner: string[] = [];
  if (v.kind === 'failure' || v.kind === 'error') {
    inner.push(`      <${v.kind} message="${escapeXml(v.message, true)}" type="${escapeXml(test.anchor, true)}">${escapeXml(v.body)}</${v.kind}>`);
  }
  if (v.kind === 'skipped') inner.push(`      <skipped message="${escapeXml(v.message, true)}"/>`);
  if ((v.kind === 'pass' || v.kind === 'skipped') && v.note !== undefined) inner.push(`      <system-out>${escapeXml(v.note)}</system-out>`);
  return inner.length === 0 ? `${open}/>` : [`${open}>`, ...inner, '    </testcase>'].join('\n');
}

interface Counts {
  tests: number;
  failures: number;
  errors: number;
  skipped: number;
  ms: number;
}

function countsOf(tests: readonly TestRecord[], report: ConformanceReport): Counts {
  const counts: Counts = { tests: tests.length, failures: 0, errors: 0, skipped: 0, ms: 0 };
  for (const test of tests) {
    const kind = verdictOf(test, report).kind;
    if (kind === 'failure') counts.failures += 1;
    if (kind === 'error') counts.errors += 1;
    if (kind === 'skipped') counts.skipped += 1;
    counts.ms += test.durationMs;
  }
  return counts;
}

const countAttributes = (c: Counts): string =>
  `tests="${c.tests}" failures="${c.failures}" errors="${c.errors}" skipped="${c.skipped}" time="${seconds(c.ms)}"`;

function properties(report: ConformanceReport): string {
  const props: [string, string][] = [
    ['relay', report.relay.url],
    ['profile', report.profile],
    ['suite', `${report.suite.name} ${report.suite.version}`],
    ['strict', String(report.run.strict)],
  ];
  const rows = props.map(([name, value]) => `      <property name="${name}" value="${escapeXml(value, true)}"/>`);
  return ['    <properties>', ...rows, '    </properties>'].join('\n');
}

function testsuite(section: Section, tests: readonly TestRecord[], report: ConformanceReport): string {
  // The JUnit schema's timestamp has no zone; startedAt is UTC.
  const timestamp = report.run.startedAt.slice(0, 19);
  return [
    `  <testsuite name="${escapeXml(section, true)}" ${countAttributes(countsOf(tests, report))} timestamp="${escapeXml(timestamp, true)}">`,
    properties(report),
    ...tests.map((test) => testcase(test, report)),
    '  </testsuite>',
  ].join('\n');
}

export function toJUnit(report: ConformanceReport): string {
  const name = `kpsuite ${report.profile} ${report.relay.url}`;
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="${escapeXml(name, true)}" ${countAttributes(countsOf(report.tests, report))}>`,
    ...groupBySection(report.tests).map(([section, tests]) => testsuite(section, tests, report)),
    '</testsuites>',
    '',
  ].join('\n');
}
