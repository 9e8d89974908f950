/**
 * index.html: one static, self-contained page per run. A summary bar, filter
 * buttons, and every test grouped by section; a row opens to its requirement,
 * expected vs observed and the full wire log. Everything the relay controls
 * (frames, NIP-11 fields, messages) goes through escapeHtml.
 */
import { OUTCOMES, type RecordedWireEntry, type Section, type TestRecord } from './schema.js';
import { badge, escapeHtml, htmlPage } from './html-kit.js';
import type { ConformanceReport } from './schema.js';
import { anchorHref, decisiveEntry, decisiveText, directionLabel, formatDuration, groupBySection, readableUtc, relayIdentity, sourceLabel, type LinkOptions } from './text.js';

const CSS = `
#summary .relay { font-size: 1.05rem; margin: .2rem 0; } #summary .result { margin: .2rem 0 .5rem; }
header dl { display: grid; grid-template-columns: max-content 1fr; gap: .1rem 1rem; margin: .5rem 0; font-size: .9rem; }
header dt { color: #616161; } header dd { margin: 0; }
#summary { margin: 1rem 0; }
#summary .counts { display: flex; flex-wrap: wrap; gap: .4rem 1rem; margin-bottom: .4rem; }
#summary .bar { display: flex; height: 1.1rem; border-radius: .3rem; overflow: hidden; background: #eee; }
#summary .seg { display: block; min-width: 2px; }
.result { font-weight: 600; } .result.exit-1 { color: #c62828; } .result.exit-0 { color: #2e7d32; }
.filters { display: flex; flex-wrap: wrap; gap: .4rem; margin: .8rem 0; }
.filters button { font: inherit; font-size: .85rem; padding: .2rem .7rem; border: 1px solid #bdbdbd; border-radius: 1rem; background: #fff; cursor: pointer; }
.filters button[aria-pressed="true"] { background: #263238; color: #fff; border-color: #263238; }
tbody.section th { background: #eceff1; font-size: .95rem; }
tr.test > td:nth-child(2) { width: 100%; }
tr.test summary { cursor: pointer; }
tr.test summary .msg { color: #616161; margin-left: .5rem; }
.detail { margin: .6rem 0 .4rem; }
.facts { display: grid; grid-template-columns: max-content 1fr; gap: .3rem 1rem; margin: 0 0 .6rem; }
.facts dt { font-weight: 600; } .facts dd { margin: 0; }
.versus { display: grid; grid-template-columns: 1fr 1fr; gap: .6rem; margin-bottom: .6rem; }
.versus > div { background: #fafafa; border: 1px solid #e0e0e0; border-radius: .3rem; padding: .4rem .6rem; }
.versus h4 { margin: 0 0 .3rem; font-size: .85rem; }
table.wire-log { width: 100%; table-layout: fixed; font-size: .8rem; }
table.wire-log col.t { width: 6em; } table.wire-log col.dir { width: 7.5em; }
table.wire-log td { padding: .15rem .4rem; }
table.wire-log td.frame code { white-space: pre-wrap; overflow-wrap: anywhere; }
tr.wire.sent td.dir { color: #1565c0; } tr.wire.received td.dir { color: #2e7d32; } tr.wire.note td { color: #757575; font-style: italic; }
tr.wire.decisive td { background: #fff3e0; } tr.wire.decisive td.t { box-shadow: inset 4px 0 #ef6c00; }
tr.wire .mark { display: block; font-weight: 600; color: #e65100; font-style: normal; }
.decisive-frame code { white-space: pre-wrap; overflow-wrap: anywhere; }
`;

/** Filters toggle outcomes in and out of view; none pressed shows all. A #test-… hash opens that row. */
const SCRIPT = `
(() => {
  const active = new Set();
  const buttons = [...document.querySelectorAll('button.filter')];
  const apply = () => {
    for (const row of document.querySelectorAll('tr.test')) row.hidden = active.size > 0 && !active.has(row.dataset.outcome);
    for (const body of document.querySelectorAll('tbody.section')) body.hidden = !body.querySelector('tr.test:not([hidden])');
    for (const b of buttons) b.setAttribute('aria-pressed', String(b.dataset.filter === 'all' ? active.size === 0 : active.has(b.dataset.filter)));
  };
  for (const b of buttons) {
    b.addEventListener('click', () => {
      const f = b.dataset.filter;
      if (f === 'all') active.clear();
      else if (active.has(f)) active.delete(f);
      else active.add(f);
      apply();
    });
  }
  // An opened row shows the frame its verdict rests on without scrolling through the whole log.
  for (const d of document.querySelectorAll('tr.test details')) {
    d.addEventListener('toggle', () => {
      const frame = d.open && d.querySelector('tr.wire.decisive');
      if (frame) frame.scrollIntoView({ block: 'nearest' });
    });
  }
  const target = location.hash.length > 1 ? document.getElementById(decodeURIComponent(location.hash.slice(1))) : null;
  const details = target && target.querySelector('details');
  if (details) details.open = true;
  apply();
})();
`;

const e = escapeHtml;

function header(report: ConformanceReport): string {
  const { run, summary } = report;
  const facts: [string, string][] = [
    ['Profile', e(report.profile)],
    ['Suite', e(`${report.suite.name} ${report.suite.version}`)],
    ['Started', `${e(readableUtc(run.startedAt))}, took ${formatDuration(run.durationMs)}`],
    ['Strict', run.strict ? 'yes: SHOULD failures gate the run' : 'no'],
    ['Limits', e(run.limits ? Object.entries(run.limits).map(([k, v]) => `${k}=${String(v)}`).join(', ') : 'none') + ` <span class="muted">(${e(run.limitsSource)})</span>`],
  ];
  const description = report.relay.nip11?.description;
  if (typeof description === 'string' && description !== '') facts.push(['NIP-11 description', e(description)]);
  if (run.only.length > 0) facts.push(['Only', e(run.only.join(', '))]);
  if (run.exclude.length > 0) facts.push(['Excluded', e(run.exclude.join(', '))]);
  if (run.expectFailFile !== undefined) facts.push(['Expected failures', `<code>${e(run.expectFailFile)}</code>`]);
  if (summary.unexpectedPasses.length > 0) facts.push(['Unexpected passes', e(summary.unexpectedPasses.join(', '))]);
  return [
    '<header>',
    '<h1>kpsuite conformance report</h1>',
    `<dl>${facts.map(([k, v]) => `<dt>${e(k)}</dt><dd>${v}</dd>`).join('')}</dl>`,
    '</header>',
  ].join('\n');
}

/** A count as digits only, whatever a hand-edited report.json holds. */
const n = (value: number): string => String(Number(value) || 0);

/** Which relay (URL and NIP-11 identity) and what the run means for CI. */
function relayAndResult(report: ConformanceReport): string {
  const identity = relayIdentity(report.relay.nip11);
  const nip11 = identity ? `<span class="nip11">${e(identity)}</span>` : '<span class="muted">(no NIP-11 name or software)</span>';
  const { exitCode, unexpectedFailures } = report.summary;
  const result =
    exitCode === 0
      ? 'exit 0: no unexpected MUST failure'
      : exitCode === 2
        ? 'exit 2: the profile was not checked (the relay claims no limits and MUSTs were left untested)'
        : `exit ${n(exitCode)}: ${n(unexpectedFailures)} unexpected failure(s)`;
  return `<p class="relay"><code>${e(report.relay.url)}</code> ${nip11}</p>\n<p class="result exit-${n(exitCode)}">${result}</p>`;
}

function summaryBar(report: ConformanceReport): string {
  const present = OUTCOMES.filter((o) => report.summary[o] > 0);
  const counts = present.map((o) => `<span class="count" data-outcome="${o}">${badge(o)} ${n(report.summary[o])}</span>`);
  counts.push(`<span class="count total">total ${n(report.summary.total)}</span>`);
  const segments = present.map((o) => `<span class="seg o-${o}" style="flex-grow: ${n(report.summary[o])}" title="${o}: ${n(report.summary[o])}"></span>`);
  const label = present.map((o) => `${o} ${n(report.summary[o])}`).join(', ');
  return [
    '<section id="summary" aria-label="Summary">',
    relayAndResult(report),
    `<div class="counts">${counts.join('')}</div>`,
    `<div class="bar" role="img" aria-label="${e(label)}">${segments.join('')}</div>`,
    '</section>',
  ].join('\n');
}

function filters(report: ConformanceReport): string {
  const buttons = OUTCOMES.filter((o) => report.summary[o] > 0).map(
    (o) => `<button type="button" class="filter" data-filter="${o}" aria-pressed="false">${o} (${n(report.summary[o])})</button>`,
  );
  return `<nav class="filters" aria-label="Filter by outcome"><button type="button" class="filter" data-filter="all" aria-pressed="true">all</button>${buttons.join('')}</nav>`;
}

function wireRow(entry: RecordedWireEntry): string {
  const decisive = entry.decisive === true;
  const mark = decisive ? '<span class="mark">decisive</span>' : '';
  const quiet = decisive && entry.quietAfterMs !== undefined ? `<span class="mark">then nothing more within ${n(entry.quietAfterMs)} ms</span>` : '';
  return `<tr class="wire ${e(entry.dir)}${decisive ? ' decisive' : ''}"><td class="t">+${Math.round(entry.t)} ms</td><td class="dir">${e(directionLabel(entry.dir))}${mark}</td><td class="frame"><code>${e(entry.frame)}</code>${quiet}</td></tr>`;
}

export function wireLog(wire: readonly RecordedWireEntry[]): string {
  if (wire.length === 0) return '<p class="wire-log empty muted">No frames were exchanged.</p>';
  return [
    '<table class="wire-log"><colgroup><col class="t"><col class="dir"><col class="frame"></colgroup>',
    '<thead><tr><th>time</th><th>direction</th><th>frame</th></tr></thead><tbody>',
    ...wire.map(wireRow),
    '</tbody></table>',
  ].join('\n');
}

function versus(test: TestRecord): string {
  if (test.expected === undefined && test.observed === undefined) return '';
  const side = (title: string, text: string | undefined): string =>
    `<div class="${title.toLowerCase()}"><h4>${title}</h4><pre>${text === undefined ? '<span class="muted">—</span>' : e(text)}</pre></div>`;
  return `<div class="versus">${side('Expected', test.expected)}${side('Observed', test.observed)}</div>`;
}

function detail(test: TestRecord, links: LinkOptions): string {
  const facts: [string, string][] = [
    ['Requirement', `<a href="${e(anchorHref(test.anchor, links))}">${e(test.anchor)}</a> (${e(test.level)}, ${e(sourceLabel(test))}): ${e(test.requirement)}`],
  ];
  if (test.message !== undefined) facts.push(['Message', e(test.message)]);
  const decisive = decisiveEntry(test);
  if (decisive) facts.push(['Decisive frame', `<span class="decisive-frame"><code>${e(decisiveText(decisive))}</code></span>`]);
  if (test.waitedMs !== undefined) facts.push(['Waited', `${n(test.waitedMs)} ms for silence`]);
  if (test.expectedFailure) facts.push(['Expected failure', 'listed in the expected-failures file']);
  facts.push(['Duration', formatDuration(test.durationMs)]);
  return [
    '<div class="detail">',
    `<dl class="facts">${facts.map(([k, v]) => `<dt>${k}</dt><dd>${v}</dd>`).join('')}</dl>`,
    versus(test),
    wireLog(test.wire),
    '</div>',
  ].join('\n');
}

function testRow(test: TestRecord, links: LinkOptions): string {
  const message = test.message === undefined ? '' : `<span class="msg">${e(test.message)}</span>`;
  const expected = test.expectedFailure ? ' <span class="muted">(expected)</span>' : '';
  return [
    `<tr class="test" id="test-${e(test.id)}" data-outcome="${e(test.outcome)}">`,
    `<td>${badge(test.outcome)}${expected}</td>`,
    `<td><details><summary><code>${e(test.id)}</code>${message}</summary>`,
    detail(test, links),
    '</details></td>',
    `<td>${e(test.level)}</td>`,
    `<td class="mono">${formatDuration(test.durationMs)}</td>`,
    '</tr>',
  ].join('\n');
}

function sectionBody(section: Section, tests: readonly TestRecord[], links: LinkOptions): string {
  return [
    `<tbody class="section" data-section="${e(section)}">`,
    `<tr><th colspan="4">${e(section)} <span class="muted">(${tests.length})</span></th></tr>`,
    ...tests.map((t) => testRow(t, links)),
    '</tbody>',
  ].join('\n');
}

export function toHtml(report: ConformanceReport, links: LinkOptions = {}): string {
  const table = [
    '<table class="tests">',
    '<thead><tr><th>Outcome</th><th>Test</th><th>Level</th><th>Duration</th></tr></thead>',
    ...groupBySection(report.tests).map(([section, tests]) => sectionBody(section, tests, links)),
    '</table>',
  ].join('\n');
  const body = [header(report), summaryBar(report), filters(report), table].join('\n');
  return htmlPage(`kpsuite: ${report.relay.url}`, body, CSS, SCRIPT);
}
