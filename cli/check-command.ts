/** `kpsuite check`: the conformance run, the README's main command. */
import { Command } from 'commander';
import { DEFAULT_RUNS_DIR } from '../report/write.js';
import { CheckUsageError, inProfiles, readExpectedFailures, type CheckResult } from '../conformance/check.js';
import { OUTCOMES, type ConformanceReport, type Outcome, type TestRecord } from '../report/schema.js';
import { decisiveEntry, decisiveText, sourceLabel, truncate } from '../report/text.js';
import { ALL_TESTS } from '../conformance/cases/index.js';
import { selectionProblem } from '../conformance/gate.js';
import { sourceOf } from '../conformance/requirements.js';
import { isSelected } from '../conformance/runner.js';
import type { ProfileName } from '../protocol/profile.js';
import { worstExitCode, type RelayRun } from '../report/matrix.js';
import { writeMatrix } from '../report/matrix-write.js';
import { checkRelays, jsonLine, relayUrls, type RunConsole, type RunSettings } from './check-many.js';
import { PROFILE_CHOICES, positiveInt, profileList, waitSeconds } from './options.js';

const LABEL: Record<Outcome, string> = {
  pass: 'PASS',
  fail: 'FAIL',
  'non-strict': 'NON-STRICT',
  info: 'INFO',
  untested: 'UNTESTED',
  skipped: 'SKIPPED',
  error: 'ERROR',
};

const COLOR: Partial<Record<Outcome, string>> = { pass: '32', fail: '31', error: '35', 'non-strict': '33', untested: '36' };

type Out = NodeJS.WriteStream;

function paint(outcome: Outcome, text: string, out: Out): string {
  const code = COLOR[outcome];
  return out.isTTY && code ? `\u001b[${code}m${text}\u001b[0m` : text;
}

const INDENT = '             ';

/** A console line is no place for a 4 KB frame: report.json and index.html keep all of it. */
const CONSOLE_FRAME_MAX = 300;

function truncateFrame(frame: string): string {
  const cut = truncate(frame, CONSOLE_FRAME_MAX);
  return cut.omitted === 0 ? cut.text : `${cut.text} …[${cut.omitted} more characters]`;
}

function progressLine(r: TestRecord, out: Out): void {
  if (r.outcome === 'skipped') return;
  const label = paint(r.outcome, LABEL[r.outcome].padEnd(10), out);
  const decisive = decisiveEntry(r);
  const details =
    r.outcome === 'pass'
      ? []
      : [
          r.message ?? '',
          ...(r.expected !== undefined ? [`Expected: ${r.expected}`] : []),
          ...(r.observed !== undefined ? [`Observed: ${r.observed}`] : []),
          ...(decisive ? [`decisive frame: ${decisiveText(decisive, truncateFrame(decisive.frame))}`] : []),
        ];
  const source = r.source && 'stricterThan' in r.source ? ` (${sourceLabel(r)})` : '';
  out.write(`  ${label} ${r.id} [${r.level}]${r.outcome === 'pass' ? '' : source} (${r.durationMs} ms)${details.map((d) => `\n${INDENT}${d}`).join('')}\n`);
}

/** `--list`: every selected test with its anchor, level and source; no connection. */
function listTests(only: string[], exclude: string[], profiles: readonly ProfileName[] | undefined): number {
  const problem = selectionProblem(ALL_TESTS, { only, exclude });
  if (problem !== undefined) {
    process.stderr.write(`kpsuite check: ${problem}\n`);
    return 2;
  }
  const tests = ALL_TESTS.filter((t) => isSelected(t, { only, exclude }) && (profiles === undefined || inProfiles(t, profiles)));
  if (tests.length === 0) {
    process.stderr.write(`kpsuite check: no test of profile(s) ${profiles?.join(', ')} is selected\n`);
    return 2;
  }
  const idWidth = Math.max(...tests.map((t) => t.id.length));
  const anchorWidth = Math.max(...tests.map((t) => t.anchor.length));
  for (const t of tests) {
    process.stdout.write(`${t.id.padEnd(idWidth)}  ${t.anchor.padEnd(anchorWidth)}  ${`[${t.level}]`.padEnd(8)}  ${sourceLabel({ anchor: t.anchor, source: sourceOf(t) })}\n`);
  }
  process.stdout.write(`${tests.length} tests, ${new Set(tests.map((t) => t.anchor)).size} requirements (anchors)\n`);
  return 0;
}

/** What the run ends with before the report paths: untested MUSTs by reason, then one line per failing requirement. */
function summaryLines(report: ConformanceReport, expectFail: string | undefined): string[] {
  const s = report.summary;
  const lines: string[] = [];
  const untested = s.untestedMust;
  if (untested && untested.count > 0) {
    const effect = untested.gating
      ? 'they fail the run: the relay claims the profile (--allow-untested to accept)'
      : report.run.profileClaim?.claimed
        ? 'accepted by --allow-untested'
        : 'the relay claims no profile, so the profile was not checked';
    lines.push(`${untested.count} MUST test(s) could not be checked, ${effect}:`);
    for (const g of untested.byReason) lines.push(`  ${g.ids.length} × ${g.reason}`);
  }
  if (s.profileChecked === false) {
    lines.push(
      `profile ${report.profile} NOT checked: the relay claims no profile in NIP-11 ("keypackages" for kp-relay, "marmot" for marmot-relay) and no limits were given.`,
      '  To check kp-relay, give its limits: --max-per-query 2 --queries-per-window 10 --served-per-window 50 --window-seconds 3600 (your values).',
    );
  }
  const expected = report.tests.filter((r) => r.expectedFailure).length;
  if (expected > 0) lines.push(`${expected} failure(s) listed in ${expectFail} (expected)`);
  if (s.unexpectedPasses.length > 0) lines.push(`listed as expected failures but passed: ${s.unexpectedPasses.join(', ')}`);
  const anchors = s.failingRequirements ?? [];
  if (anchors.length > 0) {
    lines.push('', 'failed requirements:');
    for (const anchor of anchors) {
      const stops = (r: TestRecord): boolean =>
        r.outcome === 'fail' || r.outcome === 'error' || (r.outcome === 'untested' && untested?.gating === true) || (r.outcome === 'non-strict' && report.run.strict);
      const tests = report.tests.filter((r) => r.anchor === anchor && !r.expectedFailure && stops(r));
      const first = tests[0] ?? report.tests.find((r) => r.anchor === anchor)!;
      const level = tests.some((r) => r.level === 'MUST') ? 'MUST' : first.level;
      lines.push(`  ${anchor} [${level}] ${sourceLabel(first)}: ${tests.map((r) => `${r.id} ${r.outcome}`).join(', ')}`);
    }
  }
  const tests = s.unexpectedFailures;
  if (report.summary.exitCode === 0) {
    lines.push(s.profileChecked === false ? 'result: no checked MUST failed; the profile was not checked (--allow-untested)' : 'result: every MUST passed');
  } else if (report.summary.exitCode === 2) {
    lines.push('result: the profile was not checked (exit 2): give the relay\'s limits as flags, or --allow-untested to accept a NIP-only run');
  } else {
    lines.push(`result: ${anchors.length} failing requirement(s) (${tests} test(s))`);
  }
  return lines;
}

/** `12 pass, 1 fail`: the outcomes that occurred. */
const countsText = (s: ConformanceReport['summary']): string =>
  OUTCOMES.filter((k) => s[k] > 0)
    .map((k) => `${s[k]} ${k}`)
    .join(', ');

/** What the run ends with, as one run has always printed it: counts, limits, a lost relay, the summary, the files. */
function printResult(result: CheckResult, expectFail: string | undefined, out: Out): void {
  const s = result.report.summary;
  out.write(`\n${s.total} tests in ${(result.report.run.durationMs / 1000).toFixed(1)} s: ${countsText(s)}\n`);
  if (result.report.run.limitsSource === 'none') {
    out.write('KeyPackage limits: none advertised (NIP-11 keypackages) or given; tests that need them are untested\n');
  }
  const lost = s.relayLost;
  if (lost) {
    const also = lost.alsoRunning.length > 0 ? ` (also running then: ${lost.alsoRunning.join(', ')})` : '';
    out.write(`the relay stopped accepting connections during ${lost.during}${also}: ${lost.message}; the tests it left are error\n`);
  }
  for (const line of summaryLines(result.report, expectFail)) out.write(`${line}\n`);
  for (const f of result.files) out.write(`report: ${f}\n`);
}

/** Several relays end with one line each, then the worst exit code, which the process exits with. */
function recap(runs: readonly RelayRun[], out: Out): void {
  out.write(`\n${runs.length} relays, checked one after another; exit ${worstExitCode(runs.map((r) => r.exitCode))} (the worst of theirs):\n`);
  for (const r of runs) out.write(`  exit ${r.exitCode}  ${r.url}  ${r.report ? countsText(r.report.summary) : r.error}\n`);
}

function list(value: string, previous: string[] = []): string[] {
  return [...previous, ...value.split(',').map((s) => s.trim()).filter(Boolean)];
}

/** Throws the usage error every run of this selection would throw (runCheck checks it again). */
function usableSelection(o: Pick<CheckCommandOptions, 'only' | 'exclude' | 'expectFail'>): void {
  const problem = selectionProblem(ALL_TESTS, { only: o.only, exclude: o.exclude });
  if (problem !== undefined) throw new CheckUsageError(problem);
  if (o.expectFail !== undefined) readExpectedFailures(o.expectFail);
}

/** URLs may hold commas, so --url is repeated, never split. */
const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

interface CheckCommandOptions {
  wait: number;
  url?: string[];
  urls?: string;
  profile?: ProfileName[];
  json: boolean;
  matrix: boolean;
  strict: boolean;
  allowUntested: boolean;
  list: boolean;
  only: string[];
  exclude: string[];
  expectFail?: string;
  timeout: number;
  quiet: number;
  concurrency: number;
  maxPerQuery?: number;
  queriesPerWindow?: number;
  servedPerWindow?: number;
  windowSeconds?: number;
  out: string;
  reports: boolean;
  deadline: number;
}

export function checkCommand(): Command {
  return new Command('check')
    .description('run the conformance suite against a relay (default: the embedded reference relay) and write reports')
    .option('--url <ws-url>', 'relay to check, ws:// or wss://; repeat it to check several in turn; without it the embedded reference relay is started on a free loopback port', collect)
    .option('--urls <file>', 'relays to check in turn, one URL a line (# comments and blank lines skipped), after any --url')
    .option('--profile <names>', `profiles to check: ${PROFILE_CHOICES} (comma-separated or repeated; default: those the relay claims in NIP-11, else all)`, profileList)
    .option('--json', 'print one JSON line a relay on stdout (url, exit code, counts by outcome, run folder) and the rest on stderr', false)
    .option('--matrix', 'write the relays × tests matrix even for one relay (several relays always get one)', false)
    .option('--strict', 'fail the run on a broken SHOULD too', false)
    .option('--allow-untested', 'a relay that claims the profile does not fail for MUST tests that could not be checked', false)
    .option('--list', 'print the test ids with anchor, level and source, and exit without connecting', false)
    .option('--only <globs>', 'run only tests whose id matches (comma-separated or repeated; * and ?)', list, [])
    .option('--exclude <globs>', 'skip tests whose id matches', list, [])
    .option('--expect-fail <file>', 'id globs (one a line) of known failures that do not fail the run')
    .option('--wait <seconds>', 'with --url: wait up to this long for the relay to accept connections before starting', waitSeconds, 0)
    .option('--timeout <ms>', 'how long to wait for any one reply', positiveInt('--timeout'), 5000)
    .option('--quiet <ms>', 'how long to wait when checking that nothing more arrives', positiveInt('--quiet'), 300)
    .option('--concurrency <n>', 'tests run at once (each uses fresh keys)', positiveInt('--concurrency'), 4)
    .option('--max-per-query <n>', 'override the relay-advertised limit', positiveInt('--max-per-query'))
    .option('--queries-per-window <n>', 'override the relay-advertised limit', positiveInt('--queries-per-window'))
    .option('--served-per-window <n>', 'override the relay-advertised limit', positiveInt('--served-per-window'))
    .option('--window-seconds <n>', 'override the relay-advertised limit', positiveInt('--window-seconds'))
    .option('--out <dir>', 'folder for report runs (a run folder per check and a latest pointer)', DEFAULT_RUNS_DIR)
    .option('--no-reports', 'write no report files')
    .option('--deadline <seconds>', "the whole run's deadline: tests unfinished by then are errors and the run ends", positiveInt('--deadline'), 300)
    .action(async (o: CheckCommandOptions) => {
      if (o.list) {
        process.exitCode = listTests(o.only, o.exclude, o.profile);
        return;
      }
      let urls: string[];
      try {
        urls = relayUrls(o.url ?? [], o.urls);
        if (o.matrix && !o.reports) throw new CheckUsageError('--matrix links into the run reports: it cannot go with --no-reports');
        // Once, before the first relay, rather than the same usage error from every run.
        if (urls.length > 1) usableSelection(o);
      } catch (err) {
        if (!(err instanceof CheckUsageError)) throw err;
        process.stderr.write(`kpsuite check: ${err.message}\n`);
        process.exit(2);
      }
      const settings: RunSettings = {
        strict: o.strict,
        allowUntested: o.allowUntested,
        only: o.only,
        exclude: o.exclude,
        expectFailFile: o.expectFail,
        timeoutMs: o.timeout,
        quietMs: o.quiet,
        concurrency: o.concurrency,
        limits: {
          ...(o.maxPerQuery ? { max_per_query: o.maxPerQuery } : {}),
          ...(o.queriesPerWindow ? { queries_per_window: o.queriesPerWindow } : {}),
          ...(o.servedPerWindow ? { served_per_window: o.servedPerWindow } : {}),
          ...(o.windowSeconds ? { window_seconds: o.windowSeconds } : {}),
        },
        reportsDir: o.reports ? o.out : undefined,
        deadlineSeconds: o.deadline,
        ...(o.profile !== undefined ? { profiles: o.profile } : {}),
      };
      // With --json stdout is for scripts: one line a relay, nothing else.
      const human: Out = o.json ? process.stderr : process.stdout;
      const io: RunConsole = {
        say: (text) => human.write(text),
        progress: (r) => progressLine(r, human),
        result: (result) => printResult(result, o.expectFail, human),
      };
      const targets = urls.length === 0 ? [undefined] : urls;
      const runs = await checkRelays(targets, settings, o.wait, io, (run) => {
        if (o.json) process.stdout.write(`${jsonLine(run)}\n`);
      });
      if (targets.length > 1) recap(runs, human);
      if (o.reports && (targets.length > 1 || o.matrix)) {
        const written = writeMatrix(runs, o.out);
        for (const f of written.files) human.write(`matrix: ${f}\n`);
      }
      // Everything is printed: exit now rather than wait for a handle a misbehaving relay keeps open.
      process.exit(worstExitCode(runs.map((r) => r.exitCode)));
    });
}
