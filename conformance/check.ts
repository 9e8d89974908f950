/**
 * `kpsuite check`: fetch the relay's NIP-11, settle the KeyPackage limits,
 * run the selected tests, judge the run (exit code) and write the reports.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closeText, ConnectionClosedError, NoChallengeError, RelayClient } from '../client/relay-client.js';
import type { RelayInformation } from '../protocol/messages.js';
import { PROFILE_VERSION, type KeyPackageLimits } from '../protocol/profile.js';
import { SUITE_NAME, VERSION } from '../package-info.js';
import { startRelay, type RunningRelay } from '../reference-relay/server.js';
import { REPORT_SCHEMA, type ConformanceReport } from '../report/schema.js';
import { writeRunReports } from '../report/write.js';
import type { RunOptions } from './context.js';
import { runSuite, selectorMatches } from './runner.js';
import { failingAnchors, gates, profileClaim, selectionProblem, untestedMust } from './gate.js';
import { ALL_TESTS } from './cases/index.js';
import { countOutcomes } from '../report/text.js';
import type { TestRecord } from '../report/schema.js';
import type { ConformanceTest } from './types.js';

export interface CheckOptions {
  /** The relay to check; undefined starts the embedded reference relay. */
  url: string | undefined;
  strict: boolean;
  /** Untested MUSTs do not fail a relay that claims the profile (conformance/gate.ts). */
  allowUntested?: boolean;
  only: string[];
  exclude: string[];
  expectFailFile: string | undefined;
  timeoutMs: number;
  quietMs: number;
  concurrency: number;
  /** Overrides of the limits the relay advertises. */
  limits: Partial<KeyPackageLimits>;
  /** Base folder for report runs; undefined writes none. */
  reportsDir: string | undefined;
  /** One line per finished test. */
  progress: (record: TestRecord) => void;
  tests?: readonly ConformanceTest[];
  /** The whole run's deadline (--deadline): tests unfinished by then are errors. Undefined: none. */
  deadlineSeconds?: number;
}

/** The relay cannot be reached or the options cannot be used: exit 2. */
export class CheckUsageError extends Error {}

export interface CheckResult {
  report: ConformanceReport;
  exitCode: 0 | 1 | 2;
  reportDir: string | undefined;
  files: string[];
}

export function httpUrlOf(wsUrl: string): string {
  const u = new URL(wsUrl);
  u.protocol = u.protocol === 'wss:' ? 'https:' : 'http:';
  return u.toString();
}

export async function fetchNip11(wsUrl: string, timeoutMs: number): Promise<RelayInformation | undefined> {
  try {
    const res = await fetch(httpUrlOf(wsUrl), {
      headers: { Accept: 'application/nostr+json' },
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (!res.ok) return undefined;
    return (await res.json()) as RelayInformation;
  } catch {
    return undefined;
  }
}

const LIMIT_KEYS = ['max_per_query', 'queries_per_window', 'served_per_window', 'window_seconds'] as const;

/** NIP-11 `keypackages` overridden field by field by flags; complete or undefined. */
export function settleLimits(
  nip11: RelayInformation | undefined,
  flags: Partial<KeyPackageLimits>,
): { limits: KeyPackageLimits | undefined; source: ConformanceReport['run']['limitsSource'] } {
  const advertised = nip11?.keypackages;
  const merged: Partial<KeyPackageLimits> = {};
  for (const key of LIMIT_KEYS) {
    const value = flags[key] ?? advertised?.[key];
    if (typeof value === 'number' && Number.isInteger(value) && value > 0) merged[key] = value;
  }
  const complete = LIMIT_KEYS.every((k) => merged[k] !== undefined);
  const fromFlags = LIMIT_KEYS.some((k) => flags[k] !== undefined);
  const fromNip11 = advertised !== undefined && LIMIT_KEYS.some((k) => flags[k] === undefined && advertised[k] !== undefined);
  const source = fromFlags && fromNip11 ? 'nip11+flags' : fromFlags ? 'flags' : fromNip11 ? 'nip11' : 'none';
  return { limits: complete ? (merged as KeyPackageLimits) : undefined, source: complete ? source : 'none' };
}

/** Id globs, one a line; `#` starts a comment. */
export function readExpectedFailures(path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new CheckUsageError(`cannot read the expected-failures file ${path}: ${(err as Error).message}`);
  }
  return text
    .split('\n')
    .map((line) => line.replace(/#.*/, '').trim())
    .filter((line) => line !== '');
}

/**
 * What every run needs to know of the relay before its tests: that it can be
 * reached (else CheckUsageError), its NIP-11 document, its KeyPackage limits
 * (flags override), and whether it sends a NIP-42 challenge on connect.
 */
export async function prepareRun(
  url: string,
  opts: Pick<CheckOptions, 'timeoutMs' | 'quietMs' | 'limits'>,
): Promise<{ runOptions: RunOptions; limitsSource: ConformanceReport['run']['limitsSource'] }> {
  const sendsChallenge = await preflight(url, opts.timeoutMs);
  const nip11 = await fetchNip11(url, opts.timeoutMs);
  const { limits, source } = settleLimits(nip11, opts.limits);
  return { runOptions: { url, limits, nip11, timeoutMs: opts.timeoutMs, quietMs: opts.quietMs, sendsChallenge }, limitsSource: source };
}

export async function runCheck(opts: CheckOptions): Promise<CheckResult> {
  let embedded: RunningRelay | undefined;
  let tempDir: string | undefined;
  const expected = opts.expectFailFile ? readExpectedFailures(opts.expectFailFile) : [];
  // Before connecting: a selection that matches nothing would be a green run that checked nothing.
  const problem = selectionProblem(opts.tests ?? ALL_TESTS, { only: opts.only, exclude: opts.exclude });
  if (problem !== undefined) throw new CheckUsageError(problem);
  const deadline = opts.deadlineSeconds === undefined ? undefined : { at: Date.now() + opts.deadlineSeconds * 1000, seconds: opts.deadlineSeconds };
  try {
    if (opts.url === undefined) {
      tempDir = mkdtempSync(join(tmpdir(), 'kpsuite-check-'));
      embedded = await startRelay({ port: 0, db: join(tempDir, 'relay.sqlite') });
    }
    const url = opts.url ?? embedded!.url;
    const { runOptions, limitsSource: source } = await prepareRun(url, opts);
    if (deadline) runOptions.deadline = deadline;
    const { nip11, limits } = runOptions;

    const startedAt = new Date();
    const { records, relayLost } = await runSuite(opts.tests ?? ALL_TESTS, runOptions, { only: opts.only, exclude: opts.exclude }, opts.concurrency, opts.progress);
    const durationMs = Date.now() - startedAt.getTime();

    const claim = profileClaim(nip11, opts.limits);
    const gate = { strict: opts.strict, claimed: claim.claimed, allowUntested: opts.allowUntested ?? false };
    const listed = (r: TestRecord): boolean => expected.some((g) => selectorMatches(g, r));
    for (const r of records) if (listed(r) && gates(r, gate)) r.expectedFailure = true;
    const unexpectedPasses = records.filter((r) => listed(r) && r.outcome === 'pass').map((r) => r.id);
    const failing = records.filter((r) => gates(r, gate) && !r.expectedFailure);
    const unexpectedFailures = failing.length;
    const untested = untestedMust(records, gate);
    const profileChecked = claim.claimed || untested.count === 0;
    // A relay that claims nothing, with MUSTs left untested, was not checked against the profile:
    // the user must give its limits (as `props` asks), so that is exit 2, never a green 0.
    const exitCode: 0 | 1 | 2 = unexpectedFailures > 0 ? 1 : !profileChecked && !gate.allowUntested ? 2 : 0;

    const counts = countOutcomes(records);
    const report: ConformanceReport = {
      schema: REPORT_SCHEMA,
      suite: { name: SUITE_NAME, version: VERSION },
      profile: PROFILE_VERSION,
      relay: { url: opts.url ?? `${url} (embedded reference relay)`, nip11 },
      run: {
        startedAt: startedAt.toISOString(),
        durationMs,
        strict: opts.strict,
        only: opts.only,
        exclude: opts.exclude,
        limitsSource: source,
        limits,
        timeoutMs: opts.timeoutMs,
        quietMs: opts.quietMs,
        expectFailFile: opts.expectFailFile,
        profileClaim: claim,
        allowUntested: gate.allowUntested,
      },
      summary: {
        ...counts,
        total: records.length,
        unexpectedFailures,
        unexpectedPasses,
        exitCode,
        untestedMust: untested,
        failingRequirements: failingAnchors(failing),
        profileChecked,
        ...(relayLost ? { relayLost } : {}),
      },
      tests: records,
    };
    const written = opts.reportsDir === undefined ? undefined : writeRunReports(report, opts.reportsDir);
    return { report, exitCode, reportDir: written?.dir, files: written?.files ?? [] };
  } finally {
    await embedded?.close();
    if (tempDir) rmSync(tempDir, { recursive: true, force: true });
  }
}

/**
 * Fails fast, with exit 2, when the relay cannot be reached at all; otherwise
 * says whether it sends a NIP-42 challenge on connect.
 */
async function preflight(url: string, timeoutMs: number): Promise<boolean> {
  let client: RelayClient;
  try {
    client = await RelayClient.connect(url, { timeoutMs });
  } catch (err) {
    throw new CheckUsageError(`cannot connect to ${url}: ${(err as Error).message || String(err)}`);
  }
  try {
    await client.waitForChallenge(timeoutMs);
    return true;
  } catch (err) {
    if (err instanceof NoChallengeError) return false;
    // A relay that hangs up on a client that has sent nothing cannot be checked.
    if (err instanceof ConnectionClosedError) throw new CheckUsageError(`${url} closed the connection (${closeText(err.code, err.reason)}) right after it opened, before the client sent anything`);
    throw err;
  } finally {
    await client.close();
  }
}
