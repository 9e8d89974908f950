/** What a conformance test declares and what a run records of it. */
import type { WireEntry } from '../client/relay-client.js';
import type { TestContext } from './context.js';

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

export interface ConformanceTest {
  /** Stable id: the anchor, a slash, and which side of the rule (e.g. `kp-handout-last-resort/req`). */
  id: string;
  /** PROFILE.md anchor (`kp-…`) or NIP section (`nip-01`, `nip-42`, …). */
  anchor: string;
  section: Section;
  level: Level;
  /** The normative sentence this test checks, quoted from PROFILE.md or the NIP. */
  requirement: string;
  /** Needs the relay's KeyPackage limits (from NIP-11 or flags); untested without them. */
  needsLimits?: boolean;
  run(t: TestContext): Promise<void>;
}

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
