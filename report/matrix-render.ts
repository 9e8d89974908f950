/**
 * matrix.md and matrix.html: the relays with their results, then one row per
 * test and one column per relay, each cell a link to the test's row (and wire
 * log) in that relay's own report. Relay-controlled text (URLs, NIP-11 names)
 * goes through the same escaping as the run reports.
 */
import { OUTCOMES } from './schema.js';
import { badge, escapeHtml as e, htmlPage } from './html-kit.js';
import { outcomeCell } from './markdown.js';
import { mdCode, mdLink, mdTable, mdText } from './md.js';
import type { Matrix, MatrixCell, MatrixRelay, MatrixRow } from './matrix.js';
import { readableUtc } from './text.js';

const RESULT: Record<MatrixRelay['exitCode'], string> = {
  0: 'no test stopped the run',
  1: 'a test stopped the run',
  2: 'the profile was not checked',
};

/** `exit 1: a test stopped the run`, or why the relay has no report. */
export function relayResult(relay: MatrixRelay): string {
  return `exit ${relay.exitCode}: ${relay.error ?? RESULT[relay.exitCode]}`;
}

const overall = (m: Matrix): string => `exit ${m.exitCode}, the worst of ${m.relays.length} relay(s)`;

/** Rows with the section each starts, so both formats can put a heading above a new section. */
function sectioned(rows: readonly MatrixRow[]): { row: MatrixRow; opens: boolean }[] {
  return rows.map((row, i) => ({ row, opens: i === 0 || rows[i - 1]!.section !== row.section }));
}

// ---- Markdown ----

function mdCell(cell: MatrixCell | null): string {
  if (cell === null) return '—';
  const text = `${outcomeCell(cell.outcome)}${cell.expectedFailure ? ' (expected)' : ''}`;
  return cell.href === undefined ? mdText(text) : mdLink(text, cell.href);
}

export function toMatrixMarkdown(m: Matrix): string {
  const relays = mdTable(
    ['#', 'Relay', 'Result', ...OUTCOMES, 'Report'],
    m.relays.map((r, i) => [
      String(i + 1),
      mdCode(r.url) + (r.identity ? ` ${mdText(r.identity)}` : ''),
      mdText(relayResult(r)),
      ...OUTCOMES.map((o) => String(r.counts[o])),
      r.report === undefined ? '—' : mdLink('index.html', r.report),
    ]),
  );
  const rows = sectioned(m.rows).flatMap(({ row, opens }) => [
    ...(opens ? [[`**${mdText(row.section)}**`, '', ...m.relays.map(() => '')]] : []),
    [mdCode(row.id), row.level, ...row.cells.map(mdCell)],
  ]);
  const matrix = mdTable(['Test', 'Level', ...m.relays.map((_, i) => String(i + 1))], rows);
  return `# kpsuite matrix\n\n${mdText(readableUtc(m.createdAt))}: ${overall(m)}.\n\n${relays}\n\n## Tests × relays\n\n${matrix}\n`;
}

// ---- HTML ----

const CSS = `
.result { font-weight: 600; } .exit-0 { color: #2e7d32; } .exit-1, .exit-2 { color: #c62828; }
table.matrix td.cell { white-space: nowrap; text-align: center; }
table.matrix td.cell a.badge { text-decoration: none; }
table.matrix td.cell a.badge:hover { outline: 2px solid #263238; }
table.matrix th.relay { white-space: nowrap; font-weight: normal; }
tbody.section th { background: #eceff1; font-size: .95rem; }
`;

function htmlRelays(m: Matrix): string {
  const head = `<tr><th>#</th><th>Relay</th><th>Result</th>${OUTCOMES.map((o) => `<th>${badge(o)}</th>`).join('')}<th>Report</th></tr>`;
  const rows = m.relays.map(
    (r, i) =>
      `<tr data-relay="${i}"><td>${i + 1}</td><td><code>${e(r.url)}</code>${r.identity ? ` <span class="muted">${e(r.identity)}</span>` : ''}</td>` +
      `<td class="result exit-${r.exitCode}">${e(relayResult(r))}</td>` +
      OUTCOMES.map((o) => `<td>${r.counts[o]}</td>`).join('') +
      `<td>${r.report === undefined ? '—' : `<a href="${e(r.report)}">index.html</a>`}</td></tr>`,
  );
  return `<table class="relays"><thead>${head}</thead><tbody>${rows.join('\n')}</tbody></table>`;
}

function htmlCell(cell: MatrixCell | null, relay: number): string {
  if (cell === null) return `<td class="cell missing" data-relay="${relay}">—</td>`;
  const o = e(cell.outcome);
  const label = `${o}${cell.expectedFailure ? ' (expected)' : ''}`;
  const inner = cell.href === undefined ? `<span class="badge o-${o}">${label}</span>` : `<a class="badge o-${o}" href="${e(cell.href)}">${label}</a>`;
  return `<td class="cell" data-relay="${relay}" data-outcome="${o}">${inner}</td>`;
}

function htmlMatrix(m: Matrix): string {
  const columns = m.relays.map((r, i) => `<th class="relay" title="${e(r.url)}">${i + 1}. <code>${e(r.url)}</code></th>`).join('');
  const width = m.relays.length + 2;
  const bodies: string[] = [];
  for (const { row, opens } of sectioned(m.rows)) {
    if (opens) bodies.push(`${bodies.length > 0 ? '</tbody>' : ''}<tbody class="section"><tr><th colspan="${width}">${e(row.section)}</th></tr>`);
    bodies.push(`<tr class="test" data-test="${e(row.id)}"><td><code>${e(row.id)}</code></td><td>${e(row.level)}</td>${row.cells.map(htmlCell).join('')}</tr>`);
  }
  if (bodies.length > 0) bodies.push('</tbody>');
  return `<table class="matrix"><thead><tr><th>Test</th><th>Level</th>${columns}</tr></thead>\n${bodies.join('\n')}\n</table>`;
}

export function toMatrixHtml(m: Matrix): string {
  const body = [
    '<h1>kpsuite matrix</h1>',
    `<p class="result exit-${m.exitCode}">${e(readableUtc(m.createdAt))}: ${e(overall(m))}</p>`,
    htmlRelays(m),
    '<h2>Tests × relays</h2>',
    m.rows.length === 0 ? '<p class="muted">No relay could be checked: no tests to show.</p>' : htmlMatrix(m),
  ].join('\n');
  return htmlPage('kpsuite matrix', body, CSS);
}
