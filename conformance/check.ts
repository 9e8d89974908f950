/**
 * `kpsuite check`: fetch the relay's NIP-11, settle the KeyPackage limits,
 * run the selected tests, judge the run (exit code) and write the reports.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closeText, ConnectionClosedError, NoChallengeError, RelayClient } from '../client/relay-client.js';
import type { RelayInformation } from '../protocol/messages.js';
import { PROFILE_NAMES, PROFILES, profileOfAnchor, type KeyPackageLimits, type ProfileName } from '../protocol/profile.js';
import { SUITE_NAME, VERSION } from '../package-info.js';
import { startRelay, type RunningRelay } from '../reference-relay/server.js';
import { REPORT_SCHEMA, type ConformanceReport, type ProfileClaim, type ProfileSelection } from '../report/schema.js';
import { writeRunReports } from '../report/write.js';
import type { RunOptions } from './context.js';
import { isSelected, runSuite, selectorMatches, type Selection } from './runner.js';
import { claimedProfiles, failingAnchors, gates, profileClaim, profilesChecked, selectionProblem, untestedMust } from './gate.js';
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
  /**
   * The profiles whose tests run (NIP tests always run): undefined checks the
   * profiles the relay claims in NIP-11, or all when it claims none
   * (selectProfiles); [] runs the NIP tests alone.
   */
  profiles?: readonly ProfileName[];
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

/**
 * The profiles a run checks, and why: those asked for; else those the relay
 * claims in NIP-11 (PROFILE-MARMOT.md, mr-advertise: `keypackages` for
 * kp-relay, `marmot` for marmot-relay), with kp-relay added when its limits
 * were given as flags; else, when NIP-11 claims none, all of them.
 */
export function selectProfiles(requested: readonly ProfileName[] | undefined, claim: ProfileClaim): ProfileSelection {
  if (requested !== undefined) return { checked: PROFILE_NAMES.filter((name) => requested.includes(name)), by: 'option' };
  if (claimedProfiles(claim, true).length === 0) return { checked: [...PROFILE_NAMES], by: 'no-claim' };
  return { checked: claimedProfiles(claim), by: 'nip11' };
}

/** Whether a test runs when `profiles` are checked: NIP tests always, profile tests of those profiles. */
export function inProfiles(test: Pick<ConformanceTest, 'anchor'>, profiles: readonly ProfileName[]): boolean {
  const profile = profileOfAnchor(test.anchor);
  return profile === undefined || profiles.includes(profile);
}

/** Why a selection runs nothing once the tests of the profiles not checked are left out, or undefined when it runs something. */
function profileSelectionProblem(tests: readonly ConformanceTest[], selection: Selection, profiles: ProfileSelection): string | undefined {
  if (tests.some((t) => inProfiles(t, profiles.checked) && isSelected(t, selection))) return undefined;
  return `the selection picks only tests of profiles this run does not check: it checks ${profileVersions(profiles.checked)} (${profileReason(profiles)}); name the profiles to check to run the others`;
}

/** Why these profiles, in words. */
function profileReason(profiles: ProfileSelection): string {
  return { option: 'as asked', nip11: 'the profiles the relay claims in NIP-11', 'no-claim': 'the relay claims none in NIP-11, so all' }[profiles.by];
}

/** `kp-relay/0.2 + marmot-relay/1`: the report's `profile` line for the profiles checked. */
function profileVersions(profiles: readonly ProfileName[]): string {
  return profiles.length === 0 ? 'none (NIP tests only)' : profiles.map((name) => PROFILES[name].version).join(' + ');
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
  const allTests = opts.tests ?? ALL_TESTS;
  const selection = { only: opts.only, exclude: opts.exclude };
  // Before connecting: a selection that matches nothing would be a green run that checked nothing.
  const problem = selectionProblem(allTests, selection) ?? (opts.profiles ? profileSelectionProblem(allTests, selection, { checked: [...opts.profiles], by: 'option' }) : undefined);
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
    const claim = profileClaim(nip11, opts.limits);
    const profiles = selectProfiles(opts.profiles, claim);
    // Tests of the profiles not checked do not run and are not recorded.
    const tests = allTests.filter((t) => inProfiles(t, profiles.checked));
    const left = profileSelectionProblem(allTests, selection, profiles);
    if (left !== undefined) throw new CheckUsageError(left);

    const startedAt = new Date();
    const { records, relayLost } = await runSuite(tests, runOptions, selection, opts.concurrency, opts.progress);
    const durationMs = Date.now() - startedAt.getTime();

    const gate = { strict: opts.strict, claimed: claimedProfiles(claim), allowUntested: opts.allowUntested ?? false };
    const listed = (r: TestRecord): boolean => expected.some((g) => selectorMatches(g, r));
    for (const r of records) if (listed(r) && gates(r, gate)) r.expectedFailure = true;
    const unexpectedPasses = records.filter((r) => listed(r) && r.outcome === 'pass').map((r) => r.id);
    const failing = records.filter((r) => gates(r, gate) && !r.expectedFailure);
    const unexpectedFailures = failing.length;
    const untested = untestedMust(records, gate);
    const profileChecked = profilesChecked(records, gate.claimed);
    // A relay that claims nothing (of a profile checked), with MUSTs left untested, was not checked against the profile:
    // the user must give its limits (as `props` asks), so that is exit 2, never a green 0.
    const exitCode: 0 | 1 | 2 = unexpectedFailures > 0 ? 1 : !profileChecked && !gate.allowUntested ? 2 : 0;

    const counts = countOutcomes(records);
    const report: ConformanceReport = {
      schema: REPORT_SCHEMA,
      suite: { name: SUITE_NAME, version: VERSION },
      profile: profileVersions(profiles.checked),
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
        profiles,
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
