/**
 * report.json, version 1: what `kpsuite check` writes and every other report
 * (JUnit, Markdown, HTML, compare) is rendered from. Add fields; never change
 * the meaning of one without bumping `schema`.
 */
import type { RelayInformation } from '../protocol/messages.js';
import type { KeyPackageLimits } from '../protocol/profile.js';
import type { Outcome, TestRecord } from '../conformance/types.js';

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
