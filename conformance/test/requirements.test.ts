/**
 * Each verdict cites text that exists: a profile test's requirement is its
 * section of its own profile's file (PROFILE.md for `kp-…`, PROFILE-MARMOT.md
 * for `mr-…`), word for word (whitespace normalised), and no test is stricter
 * than the section it cites; a NIP test names its NIP.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ALL_TESTS } from '../cases/index.js';
import { nipOfAnchor, parseProfile, profileFileSections, profilePath, profileSections, quoteProblem, requirementOf, sourceOf, type ProfileSection } from '../requirements.js';
import { PROFILE_NAMES, PROFILES, profileOfAnchor } from '../../protocol/profile.js';
import { sourceLabel } from '../../report/text.js';

const profileTests = ALL_TESTS.filter((t) => nipOfAnchor(t.anchor) === undefined);
const RANK = { MAY: 0, SHOULD: 1, MUST: 2 } as const;

/** The section of `anchor` in its own profile's file, read from that file alone (none when no profile has its prefix). */
const ownSection = (anchor: string): ProfileSection | undefined => {
  const profile = profileOfAnchor(anchor);
  return profile === undefined ? undefined : profileFileSections(profile).get(anchor);
};

describe('requirement text comes from each profile\'s own file', () => {
  it('every profile anchor a test cites belongs to a profile and has a section in that profile\'s file', () => {
    expect(profileTests.length).toBeGreaterThan(0);
    const missing = profileTests.filter((t) => ownSection(t.anchor) === undefined);
    expect(missing.map((t) => `${t.id}: ${t.anchor} (${profileOfAnchor(t.anchor) === undefined ? 'no profile has this prefix' : `not in ${PROFILES[profileOfAnchor(t.anchor)!].file}`})`)).toEqual([]);
  });

  it('every profile has tests, and each file holds only its own anchors', () => {
    for (const name of PROFILE_NAMES) {
      expect(profileTests.some((t) => profileOfAnchor(t.anchor) === name), name).toBe(true);
      const foreign = [...profileFileSections(name).keys()].filter((a) => profileOfAnchor(a) !== name);
      expect(foreign, PROFILES[name].file).toEqual([]);
    }
  });

  it("every profile test's requirement is in its profile's file word for word, under its own anchor", () => {
    const wrong = profileTests.flatMap((t) => {
      const file = PROFILES[profileOfAnchor(t.anchor) ?? 'kp-relay'].file;
      const problem = quoteProblem(requirementOf(t), ownSection(t.anchor)?.text ?? '', file);
      return problem === undefined ? [] : [`${t.id}: ${problem}`];
    });
    expect(wrong).toEqual([]);
  });

  it('an mr- anchor\'s requirement is its section of PROFILE-MARMOT.md, a kp- anchor\'s its section of PROFILE.md', () => {
    const marmot = profileTests.filter((t) => t.anchor.startsWith('mr-'));
    expect(marmot.length).toBeGreaterThan(0);
    for (const t of profileTests) expect(requirementOf(t), t.id).toBe(ownSection(t.anchor)!.text);
    expect(profileSections().get('mr-kp-replace')?.text).toMatch(/serve at most one event per slot/);
    expect(profileSections().get('kp-del-owner')?.text).toBe(profileFileSections('kp-relay').get('kp-del-owner')?.text);
  });

  it('no test is stricter than the level of the section it cites, in its own profile\'s file', () => {
    const over = profileTests.filter((t) => {
      const level = ownSection(t.anchor)?.level;
      return level === undefined || !(level in RANK) || RANK[t.level] > RANK[level as keyof typeof RANK];
    });
    expect(over.map((t) => `${t.id} [${t.level}] cites ${t.anchor} [${ownSection(t.anchor)?.level}]`)).toEqual([]);
  });

  it('catches a quote that is not in PROFILE.md (the 0.1 wording of kp-auth-challenge)', () => {
    const section = profileSections().get('kp-auth-challenge')!.text;
    expect(quoteProblem('The relay MUST send ["AUTH", <challenge>] on every new connection, before any other message.', section)).toMatch(/not in PROFILE\.md/);
    expect(quoteProblem('The relay MUST send `["AUTH", <challenge>]` on a   connection no later than ... with a challenge string\nunique to that connection.', section)).toBeUndefined();
    expect(quoteProblem('unique to that connection. ... The relay MUST send', section)).toMatch(/after the previous fragment/);
    expect(quoteProblem('A relay MUST hand out kind 30443', profileSections().get('mr-kp-no-consume')!.text, 'PROFILE-MARMOT.md')).toMatch(/not in PROFILE-MARMOT\.md/);
  });

  it('parses a section up to the next anchor or heading, and the level from its heading', () => {
    const md = ['## 1. A', '<a id="kp-a"></a>', '### 1.1 `kp-a` — MUST', 'One line', 'wrapped.', '', 'Second.', '<a id="kp-b"></a>', '### 1.2 `kp-b` — SHOULD', 'B.', '## 2. Next', 'not B'].join('\n');
    const s = parseProfile(md);
    expect(s.get('kp-a')).toEqual({ level: 'MUST', text: 'One line wrapped.\n\nSecond.' });
    expect(s.get('kp-b')).toEqual({ level: 'SHOULD', text: 'B.' });
  });

  it('reads every profile file at the package root, the ones the npm package ships', () => {
    const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { files: string[] };
    for (const name of PROFILE_NAMES) expect(manifest.files).toContain(PROFILES[name].file);
    expect(readFileSync(profilePath(), 'utf8')).toMatch(/<a id="kp-handout-last-resort"><\/a>/);
    expect(readFileSync(profilePath('marmot-relay'), 'utf8')).toMatch(/<a id="mr-kp-replace"><\/a>/);
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
  it('kp-del-owner and mr-kp-delete (MUSTs where NIP-09 says SHOULD) read "profile: stricter than NIP-09"', () => {
    const tests = ALL_TESTS.filter((t) => t.anchor === 'kp-del-owner' || t.anchor === 'mr-kp-delete');
    expect(new Set(tests.map((t) => t.anchor)).size).toBe(2);
    for (const t of tests) expect(sourceLabel({ anchor: t.anchor, source: sourceOf(t) }), t.id).toBe('profile: stricter than NIP-09');
    expect(sourceLabel({ anchor: 'nip-01' })).toBe('NIP-01');
    expect(sourceLabel({ anchor: 'kp-handout-max' })).toBe('profile');
  });
});
