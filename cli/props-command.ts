/** `kpsuite props`: the property-based invariant suite (props/). */
import { Command, InvalidArgumentError } from 'commander';
import { DEFAULT_RUNS_DIR } from '../report/write.js';
import { readExpectedFailures } from '../conformance/check.js';
import { runProps, PropsUsageError } from '../props/props.js';
import { ISOLATION_TEXT, type ProfileRun, type PropsProfiles } from '../props/report.js';
import { PROFILES, type ProfileName } from '../protocol/profile.js';
import type { FaultName } from '../reference-relay/faults.js';
import { faultName, positiveInt, PROFILE_CHOICES, profileList, waitSeconds } from './options.js';
import { waitForUrl } from './wait.js';

interface PropsCommandOptions {
  wait: number;
  expectFail?: string;
  url?: string;
  profile?: ProfileName[];
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

const WHY: Record<PropsProfiles['by'], string> = {
  option: 'as asked',
  nip11: 'the profiles the relay claims in NIP-11',
  'no-claim': 'the relay claims none in NIP-11, so all',
  'in-process': 'only kp-relay runs in process',
};

/** One profile's verdict as it finishes: its limits or isolation, then PASS, or FAIL with the shrunk sequence and the replay line. */
function printProfile(run: ProfileRun, replaying: boolean, expectFail: string | undefined): void {
  const out = (text: string): void => void process.stdout.write(text);
  const l = run.limits;
  if (l) out(`limits (${run.limitsSource}): max_per_query ${l.max_per_query}, queries_per_window ${l.queries_per_window}, served_per_window ${l.served_per_window}, window_seconds ${l.window_seconds}\n`);
  if (run.isolation) out(`sequences kept apart by ${ISOLATION_TEXT[run.isolation]}\n`);
  const r = run.result;
  if (r.failure) {
    const f = r.failure;
    out(`\nFAIL ${f.anchor}: ${f.invariant}\n  ${f.detail}\n`);
    out(`shrunk sequence (${f.commands.length} commands; sequence ${f.numRuns} of the run, ${f.numShrinks} shrink steps):\n`);
    f.commands.forEach((c, i) => out(`  ${i + 1}. ${c}\n`));
    out(`seed ${f.seed}, path ${f.path}\nreplay: ${f.replay}\n`);
    if (f.expected) out(`expected failure: ${f.anchor} is listed in ${expectFail}\n`);
  } else if (r.error !== undefined) {
    process.stderr.write(`kpsuite props: the relay could not be used (${run.version}): ${r.error}\n`);
  } else if (replaying) {
    out(`PASS ${run.version}: the replayed sequence broke no invariant this time\n`);
  } else {
    out(`PASS ${run.version}: ${r.numRuns} sequences in ${(run.durationMs / 1000).toFixed(1)} s, no invariant violated (seed ${run.seed})\n`);
  }
}

function seed(value: string): number {
  if (!/^-?\d+$/.test(value) || !Number.isSafeInteger(Number(value))) throw new InvalidArgumentError(`--seed must be an integer, got "${value}"`);
  return Number(value);
}

export function propsCommand(): Command {
  return new Command('props')
    .description('run random command sequences against a relay and check the profile invariants after every command (default: the embedded reference relay)')
    .option('--url <ws-url>', 'relay to check, ws:// or wss://; without it the embedded reference relay is started on a free loopback port')
    .option('--profile <names>', `property to run: ${PROFILE_CHOICES} (comma-separated or repeated; default: the profiles the relay claims in NIP-11, else all; in process kp-relay)`, profileList)
    .option('--in-process', 'without --url: drive the reference relay in process, without a socket (fastest; kp-relay only)', false)
    .option('--runs <n>', 'command sequences to generate, per profile', positiveInt('--runs'), 100)
    .option('--seed <n>', 'fast-check seed (printed by every run; one for every profile)', seed)
    .option('--path <path>', "replay a failure: the path printed with it (needs its --seed and, where the relay claims both profiles, its --profile)")
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
      process.stdout.write(`kpsuite props: ${target}, ${o.path === undefined ? `${o.runs} sequences per profile` : 'replaying one sequence'}\n`);
      const replaying = o.path !== undefined;
      try {
        const result = await runProps({
          url: o.url,
          ...(o.profile === undefined ? {} : { profiles: o.profile }),
          inProcess: o.inProcess,
          runs: o.runs,
          seed: o.seed,
          path: o.path,
          limits,
          faults: o.fault,
          timeoutMs: o.timeout,
          expectFail: o.expectFail === undefined ? [] : readExpectedFailures(o.expectFail),
          reportsDir: o.reports ? o.out : undefined,
          onProfileStart: (profile, profiles) => {
            if (profile === profiles.checked[0]) process.stdout.write(`profiles: ${profiles.checked.join(', ')} (${WHY[profiles.by]})\n`);
            process.stdout.write(`\n${PROFILES[profile].version}: ${replaying ? 'replaying one sequence' : `${o.runs} sequences`}\n`);
          },
          onProfileDone: (run) => printProfile(run, replaying, o.expectFail),
        });
        const { report } = result;
        if (report.profiles.length > 1) {
          process.stdout.write(`\nresult: exit ${result.exitCode}; ${report.profiles.map((p) => `${p.version} ${p.result.failure ? `FAIL ${p.result.failure.anchor}${p.result.failure.expected ? ' (expected)' : ''}` : p.result.error !== undefined ? 'ERROR' : 'PASS'}`).join(', ')}\n`);
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
