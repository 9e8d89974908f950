/**
 * report.md: what a relay implementer reads in a PR or an issue. Failures
 * first, then every test by section, with the wire log of each non-passing one.
 */
import type { Outcome, Section, TestRecord } from './schema.js';
import { OUTCOMES } from './schema.js';
import { escapeHtml } from './html-kit.js';
import { mdCode, mdFence, mdLink, mdTable, mdText } from './md.js';
import type { ConformanceReport } from './schema.js';
import {
  anchorHref,
  decisiveEntry,
  decisiveText,
  formatDuration,
  groupBySection,
  needsDetails,
  plural,
  PROBLEM_OUTCOMES,
  readableUtc,
  relayIdentity,
  sourceLabel,
  truncate,
  wireLine,
  type LinkOptions,
} from './text.js';

/** Longest frame printed in full; the HTML report and report.json keep the rest. */
export const MD_FRAME_MAX = 400;
/** Most wire entries printed per test. */
export const MD_WIRE_MAX = 150;
/** Longest expected/observed text in a table cell (the details block has all of it). */
const CELL_MAX = 160;

export const OUTCOME_MARK: Record<Outcome, string> = {
  pass: '✅',
  fail: '❌',
  'non-strict': '⚠️',
  info: 'ℹ️',
  untested: '❔',
  skipped: '⏭️',
  error: '💥',
};

export const outcomeCell = (outcome: Outcome): string => `${OUTCOME_MARK[outcome]} ${outcome}`;

function cellText(text: string | undefined): string {
  if (text === undefined) return '';
  const cut = truncate(text, CELL_MAX);
  return mdText(cut.text) + (cut.omitted > 0 ? '…' : '');
}

function limitsLine(report: ConformanceReport): string {
  const limits = report.run.limits;
  if (!limits) return `none (source: ${report.run.limitsSource})`;
  const parts = Object.entries(limits).map(([key, value]) => `${key}=${String(value)}`);
  return `${parts.join(', ')} (from ${report.run.limitsSource})`;
}

function runTable(report: ConformanceReport): string {
  const { run, summary } = report;
  const rows: [string, string][] = [
    ['Relay', mdCode(report.relay.url)],
    ['NIP-11', mdText(relayIdentity(report.relay.nip11) ?? (report.relay.nip11 ? 'served, no name or software' : 'not served'))],
    ['Profile', mdText(report.profile)],
    ['Suite', mdText(`${report.suite.name} ${report.suite.version}`)],
    ['Started', `${mdText(readableUtc(run.startedAt))}, took ${formatDuration(run.durationMs)}`],
    ['Strict (SHOULD gates)', run.strict ? 'yes' : 'no'],
    ['Limits', mdText(limitsLine(report))],
    ['Timeouts', `reply ${run.timeoutMs} ms, quiet ${run.quietMs} ms`],
  ];
  if (run.only.length > 0) rows.push(['Only', run.only.map(mdCode).join(', ')]);
  if (run.exclude.length > 0) rows.push(['Excluded', run.exclude.map(mdCode).join(', ')]);
  if (run.expectFailFile !== undefined) rows.push(['Expected failures', mdCode(run.expectFailFile)]);
  rows.push(['Result', resultLine(report)]);
  if (summary.unexpectedPasses.length > 0) rows.push(['Unexpected passes', summary.unexpectedPasses.map(mdCode).join(', ')]);
  return mdTable(['Run', ''], rows);
}

function resultLine(report: ConformanceReport): string {
  const { exitCode, unexpectedFailures } = report.summary;
  if (exitCode === 0) return '**exit 0**: no unexpected MUST failure';
  if (exitCode === 2) return '**exit 2**: the profile was not checked (the relay claims no limits and MUSTs were left untested)';
  return `**exit ${exitCode}**: ${plural(unexpectedFailures, 'unexpected failure', 'unexpected failures')}`;
}

function summaryTable(report: ConformanceReport): string {
  const rows = OUTCOMES.map((o) => [outcomeCell(o), String(report.summary[o])]);
  rows.push(['**total**', `**${report.summary.total}**`]);
  return mdTable(['Outcome', 'Count'], rows, ['l', 'r']);
}

function failuresTable(report: ConformanceReport, links: LinkOptions): string {
  const problems = PROBLEM_OUTCOMES.flatMap((o) => report.tests.filter((t) => t.outcome === o));
  if (problems.length === 0) return 'None: no MUST or SHOULD was broken and every test ran.';
  const rows = problems.map((t) => [
    mdCode(t.id),
    outcomeCell(t.outcome) + (t.expectedFailure ? ' (expected)' : ''),
    t.level,
    mdLink(t.anchor, anchorHref(t.anchor, links)),
    cellText(t.expected ?? (t.outcome === 'error' ? undefined : t.message)),
    cellText(t.observed ?? (t.outcome === 'error' ? t.message : undefined)),
  ]);
  return mdTable(['Test', 'Outcome', 'Level', 'Requirement', 'Expected', 'Observed'], rows);
}

function wireBlock(test: TestRecord): string {
  if (test.wire.length === 0) return '_No frames were exchanged._';
  const shown = test.wire.slice(0, MD_WIRE_MAX);
  let cutFrames = 0;
  const lines = shown.map((entry) => {
    const cut = truncate(entry.frame, MD_FRAME_MAX);
    if (cut.omitted > 0) cutFrames += 1;
    const line = cut.omitted === 0 ? wireLine(entry) : wireLine(entry, `${cut.text} …[${cut.omitted} more characters]`);
    return entry.decisive ? `${line}  ◀ decisive${entry.quietAfterMs === undefined ? '' : ` (then nothing more within ${entry.quietAfterMs} ms)`}` : line;
  });
  const notes: string[] = [];
  if (cutFrames > 0) notes.push(`${plural(cutFrames, 'frame', 'frames')} cut at ${MD_FRAME_MAX} characters`);
  if (test.wire.length > shown.length) notes.push(`${plural(test.wire.length - shown.length, 'later entry', 'later entries')} left out`);
  const note = notes.length > 0 ? `\n\n_${notes.join('; ')}: the full log is in report.json and index.html._` : '';
  return `Wire log (${plural(test.wire.length, 'entry', 'entries')}):\n\n${mdFence(lines.join('\n'), 'text')}${note}`;
}

function detailsBlock(test: TestRecord, links: LinkOptions): string {
  const parts = [
    `**Requirement** (${mdLink(test.anchor, anchorHref(test.anchor, links))}, ${test.level}, ${sourceLabel(test)}): ${mdText(test.requirement)}`,
  ];
  if (test.message !== undefined) parts.push(`**Message:** ${mdText(test.message)}`);
  if (test.expected !== undefined) parts.push(`**Expected:** ${mdText(test.expected)}`);
  if (test.observed !== undefined) parts.push(`**Observed:** ${mdText(test.observed)}`);
  const decisive = decisiveEntry(test);
  if (decisive) {
    const cut = truncate(decisive.frame, MD_FRAME_MAX);
    // Fenced like the wire log: the frame is the relay's text, not markup.
    parts.push(`**Decisive frame** (marked ◀ in the wire log):\n\n${mdFence(decisiveText(decisive, cut.omitted === 0 ? cut.text : `${cut.text} …[${cut.omitted} more characters]`), 'text')}`);
  }
  if (test.waitedMs !== undefined) parts.push(`**Waited** ${test.waitedMs} ms for silence.`);
  if (test.expectedFailure) parts.push('_Listed in the expected-failures file._');
  parts.push(wireBlock(test));
  const summary = `<summary><code>${escapeHtml(test.id)}</code>: ${test.outcome} (${test.level})</summary>`;
  // Blank lines around the body let GitHub render Markdown inside <details>.
  return ['<details>', summary, '', parts.join('\n\n'), '', '</details>'].join('\n');
}

function sectionBlock(section: Section, tests: readonly TestRecord[], links: LinkOptions): string {
  const rows = tests.map((t) => [mdCode(t.id), outcomeCell(t.outcome), t.level, formatDuration(t.durationMs)]);
  const table = mdTable(['Test', 'Outcome', 'Level', 'Duration'], rows, ['l', 'l', 'l', 'r']);
  const details = tests.filter(needsDetails).map((t) => detailsBlock(t, links));
  return [`### ${mdText(section)}`, table, ...details].join('\n\n');
}

export function toMarkdown(report: ConformanceReport, links: LinkOptions = {}): string {
  const blocks = [
    `# kpsuite conformance report: ${mdCode(report.relay.url)}`,
    `Profile ${mdText(report.profile)}, ${mdText(report.suite.name)} ${mdText(report.suite.version)}, ${mdText(readableUtc(report.run.startedAt))}.`,
    runTable(report),
    '## Summary',
    summaryTable(report),
    '## Failures',
    failuresTable(report, links),
    '## Tests',
    ...groupBySection(report.tests).map(([section, tests]) => sectionBlock(section, tests, links)),
  ];
  return `${blocks.join('\n\n')}\n`;
}
