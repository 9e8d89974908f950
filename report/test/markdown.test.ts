import { describe, expect, it } from 'vitest';
import { MD_FRAME_MAX, toMarkdown } from '../markdown.js';
import { mdCode, mdFence, mdTable, mdText } from '../md.js';
import { fixtureReport, HOSTILE, NIP11_NAME, record } from './fixture.js';

/** The Markdown with fenced blocks removed: what a renderer treats as markup. */
function outsideFences(md: string): string {
  return md.replace(/^(`{3,})[^\n]*\n[\s\S]*?\n\1$/gm, '');
}

describe('toMarkdown', () => {
  const md = toMarkdown(fixtureReport());

  it('opens with the relay, profile, suite version and date', () => {
    expect(md.split('\n')[0]).toBe('# kpsuite conformance report: `ws://127.0.0.1:7777`');
    expect(md).toContain('Profile kp-relay/0.1, kpsuite 0.1.0, 2026-11-22 22:45:12 UTC.');
  });

  it('counts every outcome in the summary table', () => {
    for (const [outcome, count] of [['pass', 2], ['fail', 1], ['non-strict', 1], ['info', 1], ['untested', 1], ['skipped', 1], ['error', 1]] as const) {
      expect(md).toMatch(new RegExp(`^\\| \\S+ ${outcome} \\| ${count} \\|$`, 'm'));
    }
    expect(md).toContain('| **total** | **8** |');
  });

  it('lists failures before all tests, with anchor links, expected and observed', () => {
    const failures = md.slice(md.indexOf('## Failures'), md.indexOf('## Tests'));
    expect(md.indexOf('## Failures')).toBeLessThan(md.indexOf('## Tests'));
    const rows = failures.split('\n').filter((l) => l.startsWith('| `'));
    expect(rows.map((r) => r.split(' | ')[0])).toEqual(['| `kp-req-scope/author`', '| `kp-447-delivery/ok`', '| `kp-rate-advertise/nip11`']);
    expect(rows[0]).toContain('[kp-req-scope](PROFILE.md#kp-req-scope)');
    expect(rows[0]).toContain('CLOSED "restricted: …"');
    expect(rows[0]).toContain('EVENT &lt;script&gt;alert(1)&lt;/script&gt;');
  });

  it('groups tests by section and gives every non-passing one a details block', () => {
    for (const section of ['Identity (NIP-42)', 'Publishing', 'REQ', 'Rate limits', 'NIP-11', 'Deletion and expiry', 'Kind 447 requests']) {
      expect(md).toContain(`### ${section}\n`);
    }
    const detailed = [...md.matchAll(/<summary><code>([^<]+)<\/code>/g)].map((m) => m[1]);
    expect(detailed).toEqual(['kp-req-scope/author', 'kp-rate-advertise/nip11', 'kp-rate-queries/window', 'nip-11/document', 'kp-447-delivery/ok']);
  });

  it('escapes relay strings outside code blocks', () => {
    const markup = outsideFences(md);
    expect(markup).not.toContain('<script');
    expect(markup).not.toContain('<img');
    expect(markup).toContain(mdText(NIP11_NAME));
    // Inside a fence the frame is shown as it came (code is not markup).
    expect(md).toContain(`"content":"${HOSTILE}"`);
  });

  it('cuts long frames with a note and fences frames that contain backticks', () => {
    // The frame is 3030 characters long.
    expect(md).toContain(`A …[${3030 - MD_FRAME_MAX} more characters]`);
    expect(md).toContain('_1 frame cut at 400 characters: the full log is in report.json and index.html._');
    expect(md).toContain('`````text\n');
    for (const c of ['\u0000', '\u001b']) expect(md).not.toContain(c);
    expect(md).toContain('esc\\u{001B}[31m rtl\\u{202E}');
  });

  it('says so when nothing failed', () => {
    expect(toMarkdown(fixtureReport([record('kp-a/x', 'pass')]))).toContain('None: no MUST or SHOULD was broken and every test ran.');
  });
});

describe('Markdown helpers', () => {
  it('code spans and fences outgrow the backtick runs they hold', () => {
    expect(mdCode('a`b')).toBe('``a`b``');
    expect(mdCode('`x`')).toBe('`` `x` ``');
    expect(mdFence('````', 'text')).toBe('`````text\n````\n`````');
  });

  it('tables escape pipes in every cell', () => {
    expect(mdTable(['a'], [['x|y']])).toBe('| a |\n| --- |\n| x\\|y |');
  });

  it('inline text cannot open links, emphasis or HTML', () => {
    expect(mdText('[x](javascript:1) *b* <i>&')).toBe('\\[x\\](javascript:1) \\*b\\* &lt;i&gt;&amp;');
  });
});
