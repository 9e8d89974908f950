/** Markdown building blocks that keep relay-controlled text from turning into markup. */
import { visible } from './text.js';

/** Inline text: HTML-escaped (GitHub renders raw HTML) and with emphasis/link/code syntax neutralized. */
export function mdText(text: string): string {
  return visible(text)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/([\\`*_[\]~])/g, '\\$1')
    .replace(/\r?\n/g, '<br>');
}

/** A code span that holds any text: the fence is longer than any backtick run inside. */
export function mdCode(text: string): string {
  const clean = visible(text).replace(/\r?\n/g, ' ');
  const longest = Math.max(0, ...(clean.match(/`+/g) ?? []).map((run) => run.length));
  const ticks = '`'.repeat(longest + 1);
  const pad = clean.startsWith('`') || clean.endsWith('`') ? ' ' : '';
  return `${ticks}${pad}${clean}${pad}${ticks}`;
}

/** A fenced block whose fence no line of `body` can close. */
export function mdFence(body: string, info = ''): string {
  const longest = Math.max(0, ...(body.match(/`+/g) ?? []).map((run) => run.length));
  const fence = '`'.repeat(Math.max(3, longest + 1));
  return `${fence}${info}\n${body}\n${fence}`;
}

/** A GFM table; pipes are escaped in every cell (GFM splits on them even inside code spans). */
export function mdTable(header: readonly string[], rows: readonly (readonly string[])[], align: readonly ('l' | 'r')[] = []): string {
  const cell = (s: string): string => s.replace(/\|/g, '\\|');
  const line = (cells: readonly string[]): string => `| ${cells.map(cell).join(' | ')} |`;
  const rule = header.map((_, i) => (align[i] === 'r' ? '---:' : '---'));
  return [line(header), `| ${rule.join(' | ')} |`, ...rows.map(line)].join('\n');
}

export function mdLink(text: string, href: string): string {
  return `[${mdText(text)}](${href.replace(/[()\s<>]/g, encodeURIComponent)})`;
}
