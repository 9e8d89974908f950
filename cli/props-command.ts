/** `kpsuite props`: the property-based invariant suite (props/). */
import { Command, InvalidArgumentError } from 'commander';
import { DEFAULT_RUNS_DIR } from '../report/write.js';
import { readExpectedFailures } from '../conformance/check.js';
import { runProps, PropsUsageError } from '../props/props.js';
import type { FaultName } from '../reference-relay/faults.js';
import { faultName, positiveInt, waitSeconds } from './options.js';
import { waitForUrl } from './wait.js';

interface PropsCommandOptions {
  wait: number;
  expectFail?: string;
  url?: string;
  inProcess: boolean;
  runs: number;
  seed?: number;
  path?: string;
  maxPerQuery?: number;
  queriesPerWindow?: number;
  servedPerWindow?: number;
  windowSeconds?: number;
  fault: FaultName[];
  timeout: number;
  out: string;
  reports: boolean;
}

function seed(value: string): number {
  if (!/^-?\d+$/.test(value) || !Number.isSafeInteger(Number(value))) throw new InvalidArgumentError(`--seed must be an integer, got "${value}"`);
  return Number(value);
}

export function propsCommand(): Command {
  return new Command('props')
    .description('run random command sequences against a relay and check the profile invariants after every command (default: the embedded reference relay)')
    .option('--url <ws-url>', 'relay to check, ws:// or wss://; without it the embedded reference relay is started on a free loopback port')
    .option('--in-process', 'without --url: drive the reference relay in process, without a socket (fastest)', false)
    .option('--runs <n>', 'command sequences to generate', positiveInt('--runs'), 100)
    .option('--seed <n>', 'fast-check seed (printed by every run)', seed)
    .option('--path <path>', "replay a failure: the path printed with it (needs its --seed)")
    .option('--max-per-query <n>', 'override the advertised limit (or the embedded relay\'s)', positiveInt('--max-per-query'))
    .option('--queries-per-window <n>', 'override the advertised limit', positiveInt('--queries-per-window'))
    .option('--served-per-window <n>', 'override the advertised limit', positiveInt('--served-per-window'))
    .option('--window-seconds <n>', 'override the advertised limit', positiveInt('--window-seconds'))
    .option('--fault <name>', 'without --url: switch a fault on in the relay started here, to see the suite catch it (repeatable)', faultName, [])
    .option('--expect-fail <file>', 'id globs (one a line, as for check) of known failures: a violated invariant of a listed anchor does not fail the run')
    .option('--wait <seconds>', 'with --url: wait up to this long for the relay to accept connections before starting', waitSeconds, 0)
    .option('--timeout <ms>', 'how long to wait for any one reply', positiveInt('--timeout'), 5000)
    .option('--out <dir>', 'folder for report runs (props.json and props.md in <dir>/<relay>-props-<time>/)', DEFAULT_RUNS_DIR)
    .option('--no-reports', 'write no report files')
    .action(async (o: PropsCommandOptions) => {
      const usage = (text: string): never => {
        process.stderr.write(`kpsuite props: ${text}\n`);
        process.exit(2);
      };
      if (o.url !== undefined && !/^wss?:\/\//.test(o.url)) usage(`--url must start with ws:// or wss://, got "${o.url}"`);
      if (o.url !== undefined && o.inProcess) usage('--in-process and --url exclude each other');
      const limits = {
        ...(o.maxPerQuery ? { max_per_query: o.maxPerQuery } : {}),
        ...(o.queriesPerWindow ? { queries_per_window: o.queriesPerWindow } : {}),
        ...(o.servedPerWindow ? { served_per_window: o.servedPerWindow } : {}),
        ...(o.windowSeconds ? { window_seconds: o.windowSeconds } : {}),
      };
      const target = o.url ?? (o.inProcess ? 'reference relay in process' : 'embedded reference relay');
      await waitForUrl('props', o.url, o.wait);
      process.stdout.write(`kpsuite props: ${target}, ${o.path === undefined ? `${o.runs} sequences` : 'replaying one sequence'}\n`);
      try {
        const result = await runProps({
          url: o.url,
          inProcess: o.inProcess,
          runs: o.runs,
          seed: o.seed,
          path: o.path,
          limits,
          faults: o.fault,
          timeoutMs: o.timeout,
          expectFail: o.expectFail === undefined ? [] : readExpectedFailures(o.expectFail),
          reportsDir: o.reports ? o.out : undefined,
        });
        const { run, result: r } = result.report;
        const l = run.limits;
        process.stdout.write(
          `limits (${run.limitsSource}): max_per_query ${l.max_per_query}, queries_per_window ${l.queries_per_window}, served_per_window ${l.served_per_window}, window_seconds ${l.window_seconds}\n`,
        );
        if (r.failure) {
          const f = r.failure;
          process.stdout.write(`\nFAIL ${f.anchor}: ${f.invariant}\n  ${f.detail}\n`);
          process.stdout.write(`shrunk sequence (${f.commands.length} commands; sequence ${f.numRuns} of the run, ${f.numShrinks} shrink steps):\n`);
          f.commands.forEach((c, i) => process.stdout.write(`  ${i + 1}. ${c}\n`));
          process.stdout.write(`seed ${f.seed}, path ${f.path}\nreplay: ${result.replay}\n`);
          if (f.expected) process.stdout.write(`expected failure: ${f.anchor} is listed in ${o.expectFail}\n`);
        } else if (r.error) {
          process.stderr.write(`kpsuite props: the relay could not be used: ${r.error}\n`);
        } else if (o.path !== undefined) {
          process.stdout.write('PASS: the replayed sequence broke no invariant this time\n');
        } else {
          process.stdout.write(`PASS: ${r.numRuns} sequences in ${(run.durationMs / 1000).toFixed(1)} s, no invariant violated (seed ${run.seed})\n`);
        }
        for (const f of result.files) process.stdout.write(`report: ${f}\n`);
        // Everything is printed: exit now rather than wait for a lingering socket or timer.
        process.exit(result.exitCode);
      } catch (err) {
        if (err instanceof PropsUsageError) usage(err.message);
        throw err;
      }
    });
}
