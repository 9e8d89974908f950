/**
 * Several runs side by side (the Autobahn matrix: tests × relays or runs),
 * and, as on wpt.fyi, what changed from the first run to the last: added,
 * removed, unchanged, improved, regressed, or otherwise changed.
 */
import { OUTCOMES, type Level, type Outcome, type Section, type TestRecord } from './schema.js';
import { badge, escapeHtml as e, htmlPage } from './html-kit.js';
import { outcomeCell } from './markdown.js';
import { mdCode, mdLink, mdTable, mdText } from './md.js';
import type { ConformanceReport } from './schema.js';
import { anchorHref, readableUtc, type LinkOptions } from './text.js';

export interface LabelledReport {
  label: string;
  report: ConformanceReport;
}

/** `changed`: a move with no verdict, e.g. into or out of skipped/untested, or fail↔error. */
export type Change = 'added' | 'removed' | 'unchanged' | 'improved' | 'regressed' | 'changed';

export interface DiffEntry {
  id: string;
  anchor: string;
  section: Section;
  level: Level;
  change: Change;
  /** Outcome in the first report; undefined when added. */
  from: Outcome | undefined;
  /** Outcome in the last report; undefined when removed. */
  to: Outcome | undefined;
  /** The last report's message for the test, or the first's when removed. */
  message?: string;
}

export interface Regression {
  id: string;
  anchor: string;
  section: Section;
  level: Level;
  from: Outcome;
  to: Outcome;
  /** The last report's message for the test. */
  message?: string;
}

export interface Comparison {
  /** The whole comparison: runs, changes, regressions, then the matrix. */
  markdown: string;
  /** The Markdown up to (not including) the matrix, for a terminal. */
  summary: string;
  html: string;
  /** Regressions from the first report to the last; empty with fewer than two reports. */
  regressions: Regression[];
  /** Every test classified from the first report to the last; empty with fewer than two. */
  diff: DiffEntry[];
}

/**
 * How bad an outcome is, for outcomes that judge the relay: info is what a MAY
 * yields, so it ranks with pass; error ranks with fail (the rule was not shown
 * to hold). skipped and untested judge nothing.
 */
const BADNESS: Partial<Record<Outcome, number>> = { pass: 0, info: 0, 'non-strict': 1, fail: 2, error: 2 };

export function classify(from: Outcome | undefined, to: Outcome | undefined): Change {
  if (from === undefined) return 'added';
  if (to === undefined) return 'removed';
  if (from === to) return 'unchanged';
  const before = BADNESS[from];
  const after = BADNESS[to];
  if (before === undefined || after === undefined || before === after) return 'changed';
  return after > before ? 'regressed' : 'improved';
}

/** Test ids of all reports, each once, in the order they first appear. */
export function unionIds(reports: readonly ConformanceReport[]): string[] {
  const ids = new Set<string>();
  for (const report of reports) for (const test of report.tests) ids.add(test.id);
  return [...ids];
}

const byId = (report: ConformanceReport): Map<string, TestRecord> => new Map(report.tests.map((t) => [t.id, t]));

export function diffReports(first: ConformanceReport, last: ConformanceReport): DiffEntry[] {
  const before = byId(first);
  const after = byId(last);
  return unionIds([first, last]).map((id) => {
    const a = before.get(id);
    const b = after.get(id);
    const test = (b ?? a)!;
    const message = b ? b.message : a?.message;
    return {
      id,
      anchor: test.anchor,
      section: test.section,
      level: test.level,
      change: classify(a?.outcome, b?.outcome),
      from: a?.outcome,
      to: b?.outcome,
      ...(message !== undefined ? { message } : {}),
    };
  });
}

export function defaultLabel(report: ConformanceReport): string {
  return `${report.relay.url} ${readableUtc(report.run.startedAt)}`;
}

/** Empty labels get the default; repeated ones a ` (2)`, so columns stay apart. */
function settleLabels(reports: readonly LabelledReport[]): LabelledReport[] {
  const seen = new Map<string, number>();
  return reports.map(({ label, report }) => {
    const base = label.trim() === '' ? defaultLabel(report) : label;
    const n = (seen.get(base) ?? 0) + 1;
    seen.set(base, n);
    return { label: n === 1 ? base : `${base} (${n})`, report };
  });
}

/** Regressions, improvements, other changes, added, removed: what a reader acts on first. */
const CHANGE_ORDER: readonly Change[] = ['regressed', 'improved', 'changed', 'added', 'removed', 'unchanged'];

function toRegression(d: DiffEntry): Regression {
  return {
    id: d.id,
    anchor: d.anchor,
    section: d.section,
    level: d.level,
    from: d.from!,
    to: d.to!,
    ...(d.message !== undefined ? { message: d.message } : {}),
  };
}

function changeCounts(diff: readonly DiffEntry[]): Record<Change, number> {
  const counts: Record<Change, number> = { added: 0, removed: 0, unchanged: 0, improved: 0, regressed: 0, changed: 0 };
  for (const d of diff) counts[d.change] += 1;
  return counts;
}

const countsLine = (diff: readonly DiffEntry[]): string => {
  const counts = changeCounts(diff);
  return CHANGE_ORDER.map((c) => `${counts[c]} ${c}`).join(', ');
};

// ---- Markdown ----

function mdRuns(runs: readonly LabelledReport[]): string {
  const header = ['#', 'Run', 'Relay', 'Started', 'Suite', ...OUTCOMES];
  const rows = runs.map(({ label, report }, i) => [
    String(i + 1),
    mdText(label),
    mdCode(report.relay.url),
    mdText(readableUtc(report.run.startedAt)),
    mdText(`${report.suite.version} (${report.profile}${report.run.strict ? ', strict' : ''})`),
    ...OUTCOMES.map((o) => String(report.summary[o])),
  ]);
  return mdTable(header, rows, ['r', 'l', 'l', 'l', 'l', ...OUTCOMES.map(() => 'r' as const)]);
}

function mdChangeTable(entries: readonly DiffEntry[], links: LinkOptions): string {
  const cell = (o: Outcome | undefined): string => (o === undefined ? '—' : outcomeCell(o));
  const rows = entries.map((d) => [
    mdCode(d.id),
    d.level,
    mdLink(d.anchor, anchorHref(d.anchor, links)),
    cell(d.from),
    cell(d.to),
    d.message === undefined ? '' : mdText(d.message),
  ]);
  return mdTable(['Test', 'Level', 'Requirement', 'Before', 'After', 'Message (latest)'], rows);
}

const CHANGE_TITLE: Record<Exclude<Change, 'unchanged'>, string> = {
  regressed: 'Regressions',
  improved: 'Improvements',
  changed: 'Other changes',
  added: 'Added tests',
  removed: 'Removed tests',
};

function mdDiff(runs: readonly LabelledReport[], diff: readonly DiffEntry[], links: LinkOptions): string[] {
  if (runs.length < 2) return ['_One report: nothing to compare it with._'];
  const blocks = [`## From ${mdText(runs[0]!.label)} to ${mdText(runs[runs.length - 1]!.label)}`, `${countsLine(diff)}.`];
  for (const change of CHANGE_ORDER) {
    if (change === 'unchanged') continue;
    const entries = diff.filter((d) => d.change === change);
    if (change !== 'regressed' && entries.length === 0) continue;
    blocks.push(`### ${CHANGE_TITLE[change]} (${entries.length})`);
    blocks.push(entries.length === 0 ? 'None.' : mdChangeTable(entries, links));
  }
  return blocks;
}

function mdMatrix(runs: readonly LabelledReport[], diff: readonly DiffEntry[]): string {
  const maps = runs.map(({ report }) => byId(report));
  const change = new Map(diff.map((d) => [d.id, d.change]));
  const withChange = runs.length >= 2;
  const rows = unionIds(runs.map((r) => r.report)).map((id) => {
    const cells = maps.map((m) => {
      const t = m.get(id);
      return t ? outcomeCell(t.outcome) : '—';
    });
    const level = maps.map((m) => m.get(id)?.level).find((l) => l !== undefined) ?? '';
    return [mdCode(id), level, ...cells, ...(withChange ? [change.get(id) ?? ''] : [])];
  });
  const header = ['Test', 'Level', ...runs.map((r, i) => `${i + 1}. ${mdText(r.label)}`), ...(withChange ? ['Change'] : [])];
  return mdTable(header, rows);
}

// ---- HTML ----

const CSS = `
.change-regressed td { background: #ffebee; } .change-improved td { background: #e8f5e9; }
.change-changed td, .change-added td, .change-removed td { background: #fffde7; }
table.matrix td.cell, table td:first-child code { white-space: nowrap; }
.counts { font-weight: 600; }
`;

function htmlRuns(runs: readonly LabelledReport[]): string {
  const head = `<tr><th>#</th><th>Run</th><th>Relay</th><th>Started</th><th>Suite</th>${OUTCOMES.map((o) => `<th>${badge(o)}</th>`).join('')}</tr>`;
  const rows = runs.map(
    ({ label, report }, i) =>
      `<tr><td>${i + 1}</td><td>${e(label)}</td><td><code>${e(report.relay.url)}</code></td><td>${e(readableUtc(report.run.startedAt))}</td>` +
      `<td>${e(`${report.suite.version} (${report.profile}${report.run.strict ? ', strict' : ''})`)}</td>` +
      OUTCOMES.map((o) => `<td>${e(String(report.summary[o]))}</td>`).join('') +
      '</tr>',
  );
  return `<table class="runs"><thead>${head}</thead><tbody>${rows.join('')}</tbody></table>`;
}

function htmlChangeTable(change: Change, entries: readonly DiffEntry[], links: LinkOptions): string {
  const cell = (o: Outcome | undefined): string => (o === undefined ? '—' : badge(o));
  const rows = entries.map(
    (d) =>
      `<tr class="change-${change}" data-change="${change}"><td><code>${e(d.id)}</code></td><td>${e(d.level)}</td>` +
      `<td><a href="${e(anchorHref(d.anchor, links))}">${e(d.anchor)}</a></td><td>${cell(d.from)}</td><td>${cell(d.to)}</td><td>${e(d.message ?? '')}</td></tr>`,
  );
  return `<table class="changes" id="${change}"><thead><tr><th>Test</th><th>Level</th><th>Requirement</th><th>Before</th><th>After</th><th>Message (latest)</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

function htmlDiff(runs: readonly LabelledReport[], diff: readonly DiffEntry[], links: LinkOptions): string {
  if (runs.length < 2) return '<p class="muted">One report: nothing to compare it with.</p>';
  const parts = [`<h2>From ${e(runs[0]!.label)} to ${e(runs[runs.length - 1]!.label)}</h2>`, `<p class="counts">${e(countsLine(diff))}</p>`];
  for (const change of CHANGE_ORDER) {
    if (change === 'unchanged') continue;
    const entries = diff.filter((d) => d.change === change);
    if (change !== 'regressed' && entries.length === 0) continue;
    parts.push(`<h3>${CHANGE_TITLE[change]} (${entries.length})</h3>`);
    parts.push(entries.length === 0 ? '<p>None.</p>' : htmlChangeTable(change, entries, links));
  }
  return parts.join('\n');
}

function htmlMatrix(runs: readonly LabelledReport[], diff: readonly DiffEntry[]): string {
  const maps = runs.map(({ report }) => byId(report));
  const change = new Map(diff.map((d) => [d.id, d.change]));
  const withChange = runs.length >= 2;
  const head = `<tr><th>Test</th>${runs.map((r, i) => `<th>${i + 1}. ${e(r.label)}</th>`).join('')}${withChange ? '<th>Change</th>' : ''}</tr>`;
  const rows = unionIds(runs.map((r) => r.report)).map((id) => {
    const c = change.get(id);
    const cells = maps.map((m) => {
      const t = m.get(id);
      return `<td class="cell">${t ? badge(t.outcome) : '—'}</td>`;
    });
    const attrs = c === undefined ? '' : ` class="change-${c}" data-change="${c}"`;
    return `<tr${attrs}><td><code>${e(id)}</code></td>${cells.join('')}${withChange ? `<td>${c ?? ''}</td>` : ''}</tr>`;
  });
  return `<table class="matrix"><thead>${head}</thead><tbody>${rows.join('\n')}</tbody></table>`;
}

export function compareReports(reports: LabelledReport[], links: LinkOptions = {}): Comparison {
  const runs = settleLabels(reports);
  const diff = runs.length >= 2 ? diffReports(runs[0]!.report, runs[runs.length - 1]!.report) : [];
  const regressions = diff.filter((d) => d.change === 'regressed').map(toRegression);
  const summaryBlocks = ['# kpsuite comparison', mdRuns(runs), ...mdDiff(runs, diff, links)];
  const summary = `${summaryBlocks.join('\n\n')}\n`;
  const markdown = `${summary}\n## Matrix\n\n${mdMatrix(runs, diff)}\n`;
  const body = [
    '<h1>kpsuite comparison</h1>',
    htmlRuns(runs),
    htmlDiff(runs, diff, links),
    '<h2>Matrix</h2>',
    htmlMatrix(runs, diff),
  ].join('\n');
  return { markdown, summary, html: htmlPage('kpsuite comparison', body, CSS), regressions, diff };
}
