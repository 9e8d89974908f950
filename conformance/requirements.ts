/**
 * The text behind each verdict. A profile anchor's requirement is read from
 * PROFILE.md (shipped at the package root) when the suite loads, never retyped
 * in a test; a NIP test quotes its NIP. Each test's source says which of the
 * two backs it, and whether the profile is stricter than the NIP.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../package-info.js';
import type { TestRecord, TestSource } from '../report/schema.js';
import type { ConformanceTest } from './types.js';

export function profilePath(): string {
  return join(packageRoot(), 'PROFILE.md');
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
 * Sections of PROFILE.md by anchor: everything under `<a id="anchor"></a>` and
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

let profile: Map<string, ProfileSection> | undefined;

/** PROFILE.md's sections, read once. */
export function profileSections(): Map<string, ProfileSection> {
  profile ??= parseProfile(readFileSync(profilePath(), 'utf8'));
  return profile;
}

/**
 * Why `quote` is not PROFILE.md's text word for word (whitespace normalised;
 * ` ... ` marks an elision between fragments that must appear in order), or
 * undefined when it is.
 */
export function quoteProblem(quote: string, section: string): string | undefined {
  const text = normalizeWhitespace(section);
  let from = 0;
  for (const fragment of quote.split(/\s*(?:\.\.\.|…)\s*/).map(normalizeWhitespace).filter((f) => f !== '')) {
    const at = text.indexOf(fragment, from);
    if (at < 0) return `not in PROFILE.md${from > 0 ? ' (after the previous fragment)' : ''}: "${fragment}"`;
    from = at + fragment.length;
  }
  return undefined;
}

/** `nip-01` → `01`; undefined for a profile anchor. */
export function nipOfAnchor(anchor: string): string | undefined {
  return /^nip-([0-9A-Fa-f]{2})$/.exec(anchor)?.[1];
}

/** The test's declared source, or the one its anchor implies (`nip-NN` → that NIP, `kp-…` → the profile). */
export function sourceOf(test: Pick<ConformanceTest, 'anchor' | 'source'>): TestSource {
  if (test.source) return test.source;
  const nip = nipOfAnchor(test.anchor);
  return nip !== undefined ? { nip } : { profile: true };
}

/**
 * The requirement a test checks: for a profile anchor its PROFILE.md section
 * (a quote the test gives must be in it: see conformance/test/requirements.test.ts),
 * for a NIP anchor the sentence the test quotes.
 */
export function requirementOf(test: Pick<ConformanceTest, 'id' | 'anchor' | 'requirement'>): string {
  if (test.requirement !== undefined) return test.requirement;
  if (nipOfAnchor(test.anchor) === undefined) {
    const section = profileSections().get(test.anchor);
    if (section) return section.text;
  }
  throw new Error(`${test.id}: no requirement text (no PROFILE.md section for ${test.anchor} and none quoted)`);
}

/** The declaration half of a TestRecord. */
export function recordBase(test: ConformanceTest): Pick<TestRecord, 'id' | 'anchor' | 'section' | 'level' | 'requirement' | 'source'> {
  return { id: test.id, anchor: test.anchor, section: test.section, level: test.level, requirement: requirementOf(test), source: sourceOf(test) };
}
