/**
 * report.json, version 1: what `kpsuite check` writes and every other report
 * (JUnit, Markdown, HTML, compare) is rendered from. Add fields; never change
 * the meaning of one without bumping `schema`.
 */
import type { RelayInformation } from '../protocol/messages.js';
import type { KeyPackageLimits, ProfileName } from '../protocol/profile.js';
import type { WireEntry } from '../client/relay-client.js';

/* The record of one test, shared by every report and by the suite that writes it. */
export type Level = 'MUST' | 'SHOULD' | 'MAY';

/**
 * pass; fail (a MUST broken); non-strict (a SHOULD broken); info (behaviour
 * the profile leaves open, recorded); untested (a precondition is missing);
 * skipped (excluded by the user); error (the suite could not run it).
 */
export type Outcome = 'pass' | 'fail' | 'non-strict' | 'info' | 'untested' | 'skipped' | 'error';

export const OUTCOMES: readonly Outcome[] = ['pass', 'fail', 'non-strict', 'info', 'untested', 'skipped', 'error'];

/** The sections of PROFILE.md and PROFILE-MARMOT.md, and the NIPs, used to group tests in reports (one JUnit testsuite each). */
export type Section =
  | 'Identity (NIP-42)'
  | 'Publishing'
  | 'REQ'
  | 'Kind 447 requests'
  | 'Hand-out'
  | 'Rate limits'
  | 'Deletion and expiry'
  | 'Robustness'
  | 'Marmot KeyPackages (kind 30443)'
  | 'Marmot group messages (kind 445)'
  | 'Marmot Welcomes (kind 1059)'
  | 'Marmot relay lists'
  | 'Marmot protected events'
  | 'Marmot coexistence'
  | 'Marmot advertising'
  | 'NIP-01'
  | 'NIP-11';

/**
 * The text a verdict rests on: a NIP (`{ nip: '01' }`), or a profile rule,
 * marked when it asks more than the NIP it builds on (`stricterThan: 'NIP-01'`).
 */
export type TestSource = { nip: string } | { profile: true; stricterThan?: string };

export interface TestRecord {
  id: string;
  anchor: string;
  section: Section;
  level: Level;
  requirement: string;
  /** Absent in reports written before kpsuite 0.2 (read them by the anchor). */
  source?: TestSource;
  outcome: Outcome;
  durationMs: number;
  /** One line a relay implementer reads first. */
  message?: string;
  expected?: string;
  observed?: string;
  /** How long the test waited for "nothing more arrives", when it did. */
  waitedMs?: number;
  /** Listed in the --expect-fail file. */
  expectedFailure?: boolean;
  wire: RecordedWireEntry[];
}

/**
 * A wire-log entry as report.json records it. A fail or non-strict verdict
 * marks the one frame it rests on (absent in older reports, and on every
 * other entry): the relay's answer that broke the rule, or, when the verdict
 * is that nothing arrived, the last frame before the wait.
 */
export interface RecordedWireEntry extends WireEntry {
  decisive?: true;
  /** With `decisive`: the verdict is that nothing more arrived within this many ms after the frame. */
  quietAfterMs?: number;
}

export const REPORT_SCHEMA = 'kpsuite-report/1';

export interface ConformanceReport {
  schema: typeof REPORT_SCHEMA;
  suite: { name: 'kpsuite'; version: string };
  profile: string;
  relay: {
    url: string;
    /** The NIP-11 document as fetched, or undefined when the relay serves none. */
    nip11: RelayInformation | undefined;
  };
  run: {
    startedAt: string;
    durationMs: number;
    strict: boolean;
    only: string[];
    exclude: string[];
    /** Where the KeyPackage limits came from. */
    limitsSource: 'nip11' | 'flags' | 'nip11+flags' | 'none';
    limits: KeyPackageLimits | undefined;
    timeoutMs: number;
    quietMs: number;
    expectFailFile: string | undefined;
    /** The gate's inputs (absent before kpsuite 0.2): whether the relay claims the profile, and --allow-untested. */
    profileClaim?: ProfileClaim;
    allowUntested?: boolean;
    /** Which profiles' tests ran, and why (absent before marmot-relay/1 was checked). */
    profiles?: ProfileSelection;
  };
  summary: Record<Outcome, number> & {
    total: number;
    /** MUST failures (and errors) not listed in the expected-failures file. */
    unexpectedFailures: number;
    /** Tests listed as expected failures that passed. */
    unexpectedPasses: string[];
    /** The process exit code this run gives (0 ok, 1 a MUST failed). */
    exitCode: 0 | 1 | 2;
    /** MUST tests that could not be checked, by reason (absent before kpsuite 0.2). */
    untestedMust?: UntestedMust;
    /** Anchors with a test that fails the run, expected failures left out (absent before kpsuite 0.2). */
    failingRequirements?: string[];
    /** False when the relay claims no profile and some MUST test was untested: the profile was not checked. */
    profileChecked?: boolean;
    /** Set when the relay stopped accepting connections during the run: the test that found out, and those running then. */
    relayLost?: { during: string; alsoRunning: string[]; message: string };
  };
  tests: TestRecord[];
}

/**
 * Whether the relay claims a profile, and how: NIP-11 `keypackages` or limits
 * given as flags (kp-relay), NIP-11 `marmot` (marmot-relay).
 */
export interface ProfileClaim {
  /** It claims at least one profile. */
  claimed: boolean;
  /** kp-relay: `nip11-keypackages`, `limit-flags`; marmot-relay: `nip11-marmot` (conformance/gate.ts claimedProfiles). */
  by: ('nip11-keypackages' | 'limit-flags' | 'nip11-marmot')[];
}

/**
 * The profiles whose tests ran (NIP tests always run): those asked for
 * (`option`), else those the relay claims in NIP-11 (`nip11`, with kp-relay
 * added when limits were given as flags), else all (`no-claim`).
 */
export interface ProfileSelection {
  checked: ProfileName[];
  by: 'option' | 'nip11' | 'no-claim';
}

export interface UntestedMust {
  count: number;
  /** Whether they fail the run (a claiming relay without --allow-untested). */
  gating: boolean;
  byReason: { reason: string; ids: string[] }[];
}
