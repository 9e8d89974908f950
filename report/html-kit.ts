/**
 * The shell of the HTML reports: escaping, one stylesheet, and a page whose
 * Content-Security-Policy only lets the report's own script run, so even a
 * string that escaped escaping could not execute.
 */
import { createHash } from 'node:crypto';
import type { Outcome } from './schema.js';
import { visible } from './text.js';

/** Escapes for HTML text and quoted attribute values alike. */
export function escapeHtml(text: string): string {
  return visible(text)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/** Outcome colours, shared by the run report and the comparison. */
export const OUTCOME_COLOUR: Record<Outcome, string> = {
  pass: '#2e7d32',
  fail: '#c62828',
  'non-strict': '#ef6c00',
  info: '#1565c0',
  untested: '#757575',
  skipped: '#9e9e9e',
  error: '#6a1b9a',
};

export function badge(outcome: Outcome): string {
  const o = escapeHtml(outcome);
  return `<span class="badge o-${o}">${o}</span>`;
}

const BASE_CSS = `
:root { color-scheme: light; font-family: system-ui, -apple-system, "Segoe UI", sans-serif; font-size: 15px; color: #1b1b1b; }
body { margin: 0 auto; padding: 1rem 1.5rem 3rem; max-width: 1400px; }
h1 { font-size: 1.4rem; margin: .5rem 0; } h2 { font-size: 1.15rem; margin: 1.5rem 0 .5rem; }
code, pre, .mono { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: .85rem; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; margin: 0; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; vertical-align: top; padding: .3rem .5rem; border-bottom: 1px solid #e0e0e0; }
th { background: #f5f5f5; }
[hidden] { display: none !important; }
.badge { display: inline-block; white-space: nowrap; min-width: 5.5em; text-align: center; padding: .05rem .4rem; border-radius: .3rem; color: #fff; font-size: .8rem; font-weight: 600; }
.muted { color: #616161; }
${Object.entries(OUTCOME_COLOUR)
  .map(([outcome, colour]) => `.o-${outcome} { background: ${colour}; }`)
  .join('\n')}
`;

/** A complete self-contained page; `script` runs under a CSP hash, nothing else can. */
export function htmlPage(title: string, body: string, css: string, script = ''): string {
  const scriptHash = createHash('sha256').update(script).digest('base64');
  const csp = `default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-${scriptHash}'; img-src data:; base-uri 'none'; form-action 'none'`;
  return [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="${csp}">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeHtml(title)}</title>`,
    `<style>${BASE_CSS}${css}</style>`,
    '</head>',
    '<body>',
    body,
    script === '' ? '' : `<script>${script}</script>`,
    '</body>',
    '</html>',
    '',
  ].join('\n');
}
