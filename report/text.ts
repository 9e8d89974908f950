/**
 * Helpers shared by the report writers: grouping, durations, anchor links and
 * making relay-controlled strings visible and harmless before any escaping.
 */
import { existsSync } from 'node:fs';
import { relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { WireEntry } from '../client/relay-client.js';
import { OUTCOMES, type Outcome, type RecordedWireEntry, type Section, type TestRecord, type TestSource } from './schema.js';
import { PROFILES, profileOfAnchor } from '../protocol/profile.js';

/**
 * Characters a reader cannot see or that reorder text: C0/C1 controls (tab and
 * newline kept), lone surrogates, U+FFFE/U+FFFF and bidi overrides. A hostile
 * relay could hide part of a frame with them, so they are spelled out.
 */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const INVISIBLE = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** Replaces invisible or reordering characters by `\u{…}` so they show in every format. */
export function visible(text: string): string {
  return text.replace(INVISIBLE, (c) => `\\u{${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}}`);
}

/** Cuts `text` to `max` characters; `omitted` says how many were dropped. */
export function truncate(text: string, max: number): { text: string; omitted: number } {
  if (text.length <= max) return { text, omitted: 0 };
  return { text: text.slice(0, max), omitted: text.length - max };
}

/** Tests grouped by section, sections in the order they first appear (the suite's order). */
export function groupBySection(tests: readonly TestRecord[]): [Section, TestRecord[]][] {
  const groups = new Map<Section, TestRecord[]>();
  for (const test of tests) {
    const group = groups.get(test.section);
    if (group) group.push(test);
    else groups.set(test.section, [test]);
  }
  return [...groups];
}

export function countOutcomes(tests: readonly TestRecord[]): Record<Outcome, number> {
  const counts = Object.fromEntries(OUTCOMES.map((o) => [o, 0])) as Record<Outcome, number>;
  for (const test of tests) counts[test.outcome] += 1;
  return counts;
}

/** The outcomes a reader must look at, in the order reports list them. */
export const PROBLEM_OUTCOMES: readonly Outcome[] = ['fail', 'error', 'non-strict'];

/** Everything but a clean pass or a deliberate skip gets a details block. */
export function needsDetails(test: TestRecord): boolean {
  return test.outcome !== 'pass' && test.outcome !== 'skipped';
}

export const plural = (n: number, one: string, many: string): string => `${n} ${n === 1 ? one : many}`;

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(2)} s`;
  const minutes = Math.floor(ms / 60_000);
  return `${minutes} min ${Math.round((ms - minutes * 60_000) / 1000)} s`;
}

const DIRECTION: Record<WireEntry['dir'], string> = { sent: 'sent →', received: 'received ←', note: 'note' };

/** One wire-log line as plain text: `+12 ms  sent →  ["REQ",…]`. */
export function wireLine(entry: WireEntry, frame: string = entry.frame): string {
  return `+${Math.round(entry.t)} ms  ${DIRECTION[entry.dir]}  ${visible(frame)}`;
}

/** The wire-log entry a test's verdict rests on, when it marks one. */
export function decisiveEntry(test: Pick<TestRecord, 'wire'>): RecordedWireEntry | undefined {
  return test.wire.find((entry) => entry.decisive === true);
}

/** `received ←  ["EOSE","sub-1"] (then nothing more within 300 ms)`: the decisive frame as plain text. */
export function decisiveText(entry: RecordedWireEntry, frame: string = entry.frame): string {
  const quiet = entry.quietAfterMs === undefined ? '' : ` (then nothing more within ${entry.quietAfterMs} ms)`;
  return `${DIRECTION[entry.dir]}  ${visible(frame)}${quiet}`;
}

export function directionLabel(dir: WireEntry['dir']): string {
  return DIRECTION[dir];
}

export interface LinkOptions {
  /** Where PROFILE.md is, relative to the report (or a URL); default `PROFILE.md`. */
  profileUrl?: string;
}

/** PROFILE.md next to the package (source or dist layout), as a link relative to `fromDir`. */
export function profileLink(fromDir: string): string | undefined {
  for (const up of ['../PROFILE.md', '../../PROFILE.md']) {
    const path = fileURLToPath(new URL(up, import.meta.url));
    if (existsSync(path)) return relative(fromDir, path).split(sep).join('/');
  }
  return undefined;
}

/** `NIP-01`, `profile`, or `profile: stricter than NIP-01`; reports before 0.2 carry no source, so the anchor says it. */
export function sourceLabel(test: { anchor: string; source?: TestSource }): string {
  const source = test.source ?? (/^nip-([0-9A-Fa-f]{2})$/.test(test.anchor) ? { nip: test.anchor.slice(4) } : { profile: true as const });
  if ('nip' in source) return `NIP-${source.nip.toUpperCase()}`;
  return source.stricterThan ? `profile: stricter than ${source.stricterThan}` : 'profile';
}

/** `kp-…` anchors link into PROFILE.md; `nip-NN` to the NIP itself. */
export function anchorHref(anchor: string, options: LinkOptions = {}): string {
  const nip = /^nip-([0-9A-Fa-f]{2})$/.exec(anchor);
  if (nip) return `https://github.com/nostr-protocol/nips/blob/master/${nip[1]!.toUpperCase()}.md`;
  // options.profileUrl points at PROFILE.md; a sibling profile's anchors live in its own file next to it.
  const profile = profileOfAnchor(anchor);
  const file = profile === undefined ? PROFILES['kp-relay'].file : PROFILES[profile].file;
  const base = (options.profileUrl ?? PROFILES['kp-relay'].file).replace(/PROFILE\.md$/, file);
  return `${base}#${encodeURIComponent(anchor)}`;
}

/** `20261122T224512Z`: sortable, and safe in file names everywhere. */
export function compactUtc(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/[-:]/g, '');
}

/** `2026-11-22 22:45:12 UTC` from an ISO string; the string itself when it does not parse. */
export function readableUtc(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return `${date.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

/** NIP-11 name, software and version in one line, or undefined when the relay gave none. */
export function relayIdentity(nip11: { name?: unknown; software?: unknown; version?: unknown } | undefined): string | undefined {
  if (!nip11) return undefined;
  const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
  const software = [str(nip11.software), str(nip11.version)].filter((s) => s !== undefined).join(' ');
  const name = str(nip11.name);
  if (name && software) return `${name} (${software})`;
  return name ?? (software || undefined);
}
