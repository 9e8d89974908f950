/**
 * The text behind each verdict. A profile anchor's requirement is read from
 * its profile's file (PROFILE.md for `kp-…`, PROFILE-MARMOT.md for `mr-…`,
 * shipped at the package root) when the suite loads, never retyped in a test;
 * a NIP test quotes its NIP. Each test's source says which of the two backs
 * it, and whether the profile is stricter than the NIP.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../package-info.js';
import { PROFILE_NAMES, PROFILES, profileOfAnchor, type ProfileName } from '../protocol/profile.js';
import type { TestRecord, TestSource } from '../report/schema.js';
import type { ConformanceTest } from './types.js';

/** The file of a profile at the package root (PROFILE.md for kp-relay). */
export function profilePath(profile: ProfileName = 'kp-relay'): string {
  return join(packageRoot(), PROFILES[profile].file);
}

/** The file an anchor's requirement is read from (`PROFILE-MARMOT.md` for `mr-…`), or undefined for a NIP anchor. */
export function profileFileOf(anchor: string): string | undefined {
  const profile = profileOfAnchor(anchor);
  return profile === undefined ? undefined : PROFILES[profile].file;
}

/** Collapses runs of whitespace, so quotes compare word for word whatever the line breaks. */
export function normalizeWhitespace(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

export interface ProfileSection {
  /** The heading's level keyword (`MUST`, `SHOULD`, …). */
  level: string | undefined;
  /** The section's text, paragraphs separated by a blank line, whitespace normalised inside each. */
  text: string;
}

/**
 * Sections of a profile file by anchor: everything under `<a id="anchor"></a>` and
 * its heading, up to the next anchor or heading.
 */
export function parseProfile(markdown: string): Map<string, ProfileSection> {
  const sections = new Map<string, ProfileSection>();
  let current: { anchor: string; level: string | undefined; lines: string[] } | undefined;
  const finish = (): void => {
    if (!current) return;
    const paragraphs = current.lines
      .filter((l) => !/^```/.test(l.trim())) // fence markers are layout, not words
      .join('\n')
      .split(/\n\s*\n/)
      .map(normalizeWhitespace)
      .filter((p) => p !== '');
    sections.set(current.anchor, { level: current.level, text: paragraphs.join('\n\n') });
    current = undefined;
  };
  let expectHeading = false;
  for (const line of markdown.split('\n')) {
    const anchor = /^<a id="([^"]+)"><\/a>\s*$/.exec(line.trim());
    if (anchor) {
      finish();
      current = { anchor: anchor[1]!, level: undefined, lines: [] };
      expectHeading = true;
      continue;
    }
    if (/^#{1,6}\s/.test(line)) {
      if (current && expectHeading) {
        current.level = /—\s*([A-Z]+)\s*$/.exec(line)?.[1];
        expectHeading = false;
        continue;
      }
      finish();
      continue;
    }
    expectHeading = false;
    current?.lines.push(line);
  }
  finish();
  return sections;
}

const byProfile = new Map<ProfileName, Map<string, ProfileSection>>();
let merged: Map<string, ProfileSection> | undefined;

/** One profile file's sections, every anchor in it (its own or not), read once. */
export function profileFileSections(profile: ProfileName): Map<string, ProfileSection> {
  let sections = byProfile.get(profile);
  if (sections === undefined) {
    sections = parseProfile(readFileSync(profilePath(profile), 'utf8'));
    byProfile.set(profile, sections);
  }
  return sections;
}

/**
 * The sections of every profile file (PROFILES), read once: an anchor's
 * section comes from the file of the profile its prefix names, so an `mr-`
 * anchor's requirement is its section of PROFILE-MARMOT.md.
 */
export function profileSections(): Map<string, ProfileSection> {
  if (merged === undefined) {
    merged = new Map();
    for (const name of PROFILE_NAMES) {
      for (const [anchor, section] of profileFileSections(name)) if (profileOfAnchor(anchor) === name) merged.set(anchor, section);
    }
  }
  return merged;
}

/**
 * Why `quote` is not the profile's text word for word (whitespace normalised;
 * ` ... ` marks an elision between fragments that must appear in order), or
 * undefined when it is. `file` names the profile file in the answer.
 */
export function quoteProblem(quote: string, section: string, file: string = PROFILES['kp-relay'].file): string | undefined {
  const text = normalizeWhitespace(section);
  let from = 0;
  for (const fragment of quote.split(/\s*(?:\.\.\.|…)\s*/).map(normalizeWhitespace).filter((f) => f !== '')) {
    const at = text.indexOf(fragment, from);
    if (at < 0) return `not in ${file}${from > 0 ? ' (after the previous fragment)' : ''}: "${fragment}"`;
    from = at + fragment.length;
  }
  return undefined;
}

/** `nip-01` → `01`; undefined for a profile anchor. */
export function nipOfAnchor(anchor: string): string | undefined {
  return /^nip-([0-9A-Fa-f]{2})$/.exec(anchor)?.[1];
}

/** The test's declared source, or the one its anchor implies (`nip-NN` → that NIP, `kp-…`, `mr-…` → the profile). */
export function sourceOf(test: Pick<ConformanceTest, 'anchor' | 'source'>): TestSource {
  if (test.source) return test.source;
  const nip = nipOfAnchor(test.anchor);
  return nip !== undefined ? { nip } : { profile: true };
}

/**
 * The requirement a test checks: for a profile anchor its section of its
 * profile's file (a quote the test gives must be in it: see
 * conformance/test/requirements.test.ts), for a NIP anchor the sentence the test quotes.
 */
export function requirementOf(test: Pick<ConformanceTest, 'id' | 'anchor' | 'requirement'>): string {
  if (test.requirement !== undefined) return test.requirement;
  if (nipOfAnchor(test.anchor) === undefined) {
    const section = profileSections().get(test.anchor);
    if (section) return section.text;
  }
  throw new Error(`${test.id}: no requirement text (no ${profileFileOf(test.anchor) ?? 'profile'} section for ${test.anchor} and none quoted)`);
}

/** The declaration half of a TestRecord. */
export function recordBase(test: ConformanceTest): Pick<TestRecord, 'id' | 'anchor' | 'section' | 'level' | 'requirement' | 'source'> {
  return { id: test.id, anchor: test.anchor, section: test.section, level: test.level, requirement: requirementOf(test), source: sourceOf(test) };
}
