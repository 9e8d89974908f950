/**
 * Each verdict cites text that exists: a profile test's requirement is its
 * PROFILE.md section, word for word (whitespace normalised), and no test is
 * stricter than the section it cites; a NIP test names its NIP.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ALL_TESTS } from '../cases/index.js';
import { nipOfAnchor, parseProfile, profilePath, profileSections, quoteProblem, requirementOf, sourceOf } from '../requirements.js';
import { sourceLabel } from '../../report/text.js';

const profileTests = ALL_TESTS.filter((t) => nipOfAnchor(t.anchor) === undefined);
const RANK = { MAY: 0, SHOULD: 1, MUST: 2 } as const;

describe('requirement text comes from PROFILE.md', () => {
  it('every profile anchor a test cites has a section in PROFILE.md', () => {
    const sections = profileSections();
    expect(profileTests.length).toBeGreaterThan(0);
    expect(profileTests.filter((t) => !sections.has(t.anchor)).map((t) => `${t.id}: ${t.anchor}`)).toEqual([]);
  });

  it("every profile test's requirement is in PROFILE.md word for word, under its own anchor", () => {
    const sections = profileSections();
    const wrong = profileTests.flatMap((t) => {
      const problem = quoteProblem(requirementOf(t), sections.get(t.anchor)?.text ?? '');
      return problem === undefined ? [] : [`${t.id}: ${problem}`];
    });
    expect(wrong).toEqual([]);
  });

  it('no test is stricter than the level of the PROFILE.md section it cites', () => {
    const sections = profileSections();
    const over = profileTests.filter((t) => {
      const level = sections.get(t.anchor)?.level;
      return level === undefined || !(level in RANK) || RANK[t.level] > RANK[level as keyof typeof RANK];
    });
    expect(over.map((t) => `${t.id} [${t.level}] cites ${t.anchor} [${sections.get(t.anchor)?.level}]`)).toEqual([]);
  });

  it('catches a quote that is not in PROFILE.md (the 0.1 wording of kp-auth-challenge)', () => {
    const section = profileSections().get('kp-auth-challenge')!.text;
    expect(quoteProblem('The relay MUST send ["AUTH", <challenge>] on every new connection, before any other message.', section)).toMatch(/not in PROFILE\.md/);
    expect(quoteProblem('The relay MUST send `["AUTH", <challenge>]` on a   connection no later than ... with a challenge string\nunique to that connection.', section)).toBeUndefined();
    expect(quoteProblem('unique to that connection. ... The relay MUST send', section)).toMatch(/after the previous fragment/);
  });

  it('parses a section up to the next anchor or heading, and the level from its heading', () => {
    const md = ['## 1. A', '<a id="kp-a"></a>', '### 1.1 `kp-a` — MUST', 'One line', 'wrapped.', '', 'Second.', '<a id="kp-b"></a>', '### 1.2 `kp-b` — SHOULD', 'B.', '## 2. Next', 'not B'].join('\n');
    const s = parseProfile(md);
    expect(s.get('kp-a')).toEqual({ level: 'MUST', text: 'One line wrapped.\n\nSecond.' });
    expect(s.get('kp-b')).toEqual({ level: 'SHOULD', text: 'B.' });
  });

  it('reads the PROFILE.md at the package root, the one the npm package ships', () => {
    const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { files: string[] };
    expect(manifest.files).toContain('PROFILE.md');
    expect(readFileSync(profilePath(), 'utf8')).toMatch(/<a id="kp-handout-last-resort"><\/a>/);
  });
});

describe('each test names its source', () => {
  it('NIP anchors cite their NIP; profile rules marked stricter name a NIP', () => {
    for (const t of ALL_TESTS) {
      const source = sourceOf(t);
      if (nipOfAnchor(t.anchor) !== undefined) expect(source, t.id).toEqual({ nip: nipOfAnchor(t.anchor) });
      else {
        expect('profile' in source, t.id).toBe(true);
        if ('stricterThan' in source) expect(source.stricterThan, t.id).toMatch(/^NIP-[0-9A-F]{2}$/);
      }
    }
  });
});

describe('a profile rule stricter than its NIP is marked in output and reports', () => {
  it('kp-del-owner (a MUST where NIP-09 says SHOULD) reads "profile: stricter than NIP-09"', () => {
    const tests = ALL_TESTS.filter((t) => t.anchor === 'kp-del-owner');
    expect(tests.length).toBeGreaterThan(0);
    for (const t of tests) expect(sourceLabel({ anchor: t.anchor, source: sourceOf(t) }), t.id).toBe('profile: stricter than NIP-09');
    expect(sourceLabel({ anchor: 'nip-01' })).toBe('NIP-01');
    expect(sourceLabel({ anchor: 'kp-handout-max' })).toBe('profile');
  });
});
