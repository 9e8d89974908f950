import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { escapeHtml } from '../html-kit.js';
import { toHtml } from '../html.js';
import { groupBySection } from '../text.js';
import { fixtureReport, HOSTILE, NIP11_NAME, NIP11_SOFTWARE } from './fixture.js';

describe('toHtml', () => {
  const html = toHtml(fixtureReport());

  it('is one self-contained page: no external scripts, styles, images or fonts', () => {
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html).not.toMatch(/<(link|img|iframe|object|embed|video|audio|source)\b|<script\s+src|@import|url\(/i);
    expect(html.match(/<script>/g)).toHaveLength(1);
    expect(html.match(/<style>/g)).toHaveLength(1);
  });

  it('lets only its own script run (CSP hash of the inline script)', () => {
    const script = /<script>([\s\S]*)<\/script>/.exec(html)![1]!;
    const hash = createHash('sha256').update(script).digest('base64');
    expect(html).toContain(`script-src 'sha256-${hash}'`);
    expect(html).toContain("default-src 'none'");
  });

  it('escapes every relay-controlled string: frames, NIP-11 fields, messages', () => {
    expect(html).not.toContain(HOSTILE);
    expect(html).not.toContain(NIP11_NAME);
    expect(html).not.toContain('<img');
    expect(html).not.toContain('<b>bold</b>');
    expect(html).toContain(escapeHtml(HOSTILE));
    expect(html).toContain(escapeHtml(NIP11_NAME));
    expect(html).toContain(escapeHtml(NIP11_SOFTWARE));
    expect(html).toContain('nul\\u{0000} esc\\u{001B}[31m rtl\\u{202E}');
    for (const c of ['\u0000', '\u001b', '\u202e']) expect(html).not.toContain(c);
  });

  it('has the summary, one row per test with its outcome, and a wire log per detailed test', () => {
    expect(html).toContain('id="summary"');
    const rows = [...html.matchAll(/<tr class="test" id="test-([^"]+)" data-outcome="([^"]+)">/g)].map((m) => [m[1], m[2]]);
    expect(rows).toEqual(groupBySection(fixtureReport().tests).flatMap(([, tests]) => tests.map((t) => [t.id, t.outcome])));
    expect(html.match(/class="wire-log"/g)?.length).toBe(fixtureReport().tests.filter((t) => t.wire.length > 0).length);
    expect(html.match(/class="seg o-/g)).toHaveLength(7);
    expect(html).toContain('<span class="seg o-pass" style="flex-grow: 2" title="pass: 2">');
  });

  it('keeps the whole wire log and links requirements', () => {
    expect(html).toContain('A'.repeat(3000));
    expect(html).toContain('<a href="PROFILE.md#kp-req-scope">kp-req-scope</a>');
    expect(html).toContain('<a href="https://github.com/nostr-protocol/nips/blob/master/11.md">nip-11</a>');
    expect(toHtml(fixtureReport(), { profileUrl: '../../../PROFILE.md' })).toContain('href="../../../PROFILE.md#kp-req-scope"');
  });

  it('puts expected and observed side by side and shows waitedMs', () => {
    expect(html).toContain('<div class="expected"><h4>Expected</h4><pre>CLOSED &quot;restricted: …&quot;</pre></div>');
    expect(html).toContain(`<div class="observed"><h4>Observed</h4><pre>EVENT ${escapeHtml(HOSTILE)}</pre></div>`);
    expect(html).toContain('<dt>Waited</dt><dd>300 ms for silence</dd>');
  });
});

describe('escapeHtml', () => {
  it('escapes markup and quotes, and spells out invisible characters', () => {
    expect(escapeHtml(`<a href="x" onclick='y'>&</a>`)).toBe('&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;&lt;/a&gt;');
    expect(escapeHtml('a\u0000b\u200Fc\u2066d')).toBe('a\\u{0000}b\u200Fc\\u{2066}d');
  });
});
