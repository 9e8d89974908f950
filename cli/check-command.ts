/** `kpsuite check`: the conformance run, the README's main command. */
import { Command } from 'commander';
import { DEFAULT_RUNS_DIR } from '../report/write.js';
import { CheckUsageError, runCheck } from '../conformance/check.js';
import { OUTCOMES, type Outcome, type TestRecord } from '../report/schema.js';
import { positiveInt, waitSeconds } from './options.js';
import { waitForUrl } from './wait.js';

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

function paint(outcome: Outcome, text: string): string {
  const code = COLOR[outcome];
  return process.stdout.isTTY && code ? `\u001b[${code}m${text}\u001b[0m` : text;
}

function progressLine(r: TestRecord): void {
  if (r.outcome === 'skipped') return;
  const label = paint(r.outcome, LABEL[r.outcome].padEnd(10));
  const why = r.outcome === 'pass' ? '' : `\n             ${r.message ?? ''}`;
  process.stdout.write(`  ${label} ${r.id} [${r.level}] (${r.durationMs} ms)${why}\n`);
}

function list(value: string, previous: string[] = []): string[] {
  return [...previous, ...value.split(',').map((s) => s.trim()).filter(Boolean)];
}

interface CheckCommandOptions {
  wait: number;
  url?: string;
  strict: boolean;
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
}

export function checkCommand(): Command {
  return new Command('check')
    .description('run the conformance suite against a relay (default: the embedded reference relay) and write reports')
    .option('--url <ws-url>', 'relay to check, ws:// or wss://; without it the embedded reference relay is started on a free loopback port')
    .option('--strict', 'fail the run on a broken SHOULD too', false)
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
    .action(async (o: CheckCommandOptions) => {
      if (o.url !== undefined && !/^wss?:\/\//.test(o.url)) {
        process.stderr.write(`kpsuite check: --url must start with ws:// or wss://, got "${o.url}"\n`);
        process.exit(2);
      }
      const limits = {
        ...(o.maxPerQuery ? { max_per_query: o.maxPerQuery } : {}),
        ...(o.queriesPerWindow ? { queries_per_window: o.queriesPerWindow } : {}),
        ...(o.servedPerWindow ? { served_per_window: o.servedPerWindow } : {}),
        ...(o.windowSeconds ? { window_seconds: o.windowSeconds } : {}),
      };
      process.stdout.write(`kpsuite check: ${o.url ?? 'embedded reference relay'}\n`);
      await waitForUrl('check', o.url, o.wait);
      try {
        const result = await runCheck({
          url: o.url,
          strict: o.strict,
          only: o.only,
          exclude: o.exclude,
          expectFailFile: o.expectFail,
          timeoutMs: o.timeout,
          quietMs: o.quiet,
          concurrency: o.concurrency,
          limits,
          reportsDir: o.reports ? o.out : undefined,
          progress: progressLine,
        });
        const s = result.report.summary;
        const counts = OUTCOMES.filter((k) => s[k] > 0)
          .map((k) => `${s[k]} ${k}`)
          .join(', ');
        process.stdout.write(`\n${s.total} tests in ${(result.report.run.durationMs / 1000).toFixed(1)} s: ${counts}\n`);
        if (result.report.run.limitsSource === 'none') {
          process.stdout.write('KeyPackage limits: none advertised (NIP-11 keypackages) or given; tests that need them are untested\n');
        }
        const expected = result.report.tests.filter((r) => r.expectedFailure).length;
        if (expected > 0) process.stdout.write(`${expected} failure(s) listed in ${o.expectFail} (expected)\n`);
        if (s.unexpectedPasses.length > 0) process.stdout.write(`listed as expected failures but passed: ${s.unexpectedPasses.join(', ')}\n`);
        process.stdout.write(result.exitCode === 0 ? 'result: every MUST passed\n' : `result: ${s.unexpectedFailures} failing requirement(s)\n`);
        for (const f of result.files) process.stdout.write(`report: ${f}\n`);
        process.exitCode = result.exitCode;
      } catch (err) {
        if (err instanceof CheckUsageError) {
          process.stderr.write(`kpsuite check: ${err.message}\n`);
          process.exit(2);
        }
        throw err;
      }
    });
}
