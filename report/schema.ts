/**
 * report.json, version 1: what `kpsuite check` writes and every other report
 * (JUnit, Markdown, HTML, compare) is rendered from. Add fields; never change
 * the meaning of one without bumping `schema`.
 */
import type { RelayInformation } from '../protocol/messages.js';
import type { KeyPackageLimits } from '../protocol/profile.js';
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

/** PROFILE.md sections and the NIPs, used to group tests in reports (one JUnit testsuite each). */
export type Section =
  | 'Identity (NIP-42)'
  | 'Publishing'
  | 'REQ'
  | 'Kind 447 requests'
  | 'Hand-out'
  | 'Rate limits'
  | 'Deletion and expiry'
  | 'Robustness'
  | 'NIP-01'
  | 'NIP-11';

export interface TestRecord {
  id: string;
  anchor: string;
  section: Section;
  level: Level;
  requirement: string;
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
  wire: WireEntry[];
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
  };
  summary: Record<Outcome, number> & {
    total: number;
    /** MUST failures (and errors) not listed in the expected-failures file. */
    unexpectedFailures: number;
    /** Tests listed as expected failures that passed. */
    unexpectedPasses: string[];
    /** The process exit code this run gives (0 ok, 1 a MUST failed). */
    exitCode: 0 | 1;
  };
  tests: TestRecord[];
}
