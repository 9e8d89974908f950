/**
 * `kpsuite load <scenario>`: a load scenario against a relay (default: the
 * embedded reference relay), with the Node driver or k6. Exit 0 when no
 * threshold failed, 99 when one failed (as `k6 run`), 2 on usage errors, an
 * unreachable relay or a run that could not use the relay (not run: no AUTH,
 * refused connections, no limits for `rate`), 1 when the run itself broke
 * (setup failed, k6 crashed).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { SCENARIO_NAMES, isScenarioName, type ScenarioName } from '../load/core/scenario.js';
import { DEFAULT_RELAY_URL, parseDuration, settingsFrom, SettingsError } from '../load/core/settings.js';
import { summaryFileNames, toText, type LoadSummary } from '../load/core/summary.js';
import { SCENARIOS } from '../load/scenarios/index.js';
import { EMPTY_FIXTURE } from '../load/core/fixture.js';
import { fixtureFor } from '../load/node/fixture.js';
import { bundlePath, findK6, K6NotFoundError, runK6, variantFor, writeFixtureFile } from '../load/node/k6-driver.js';
import { writeLoadSummary } from '../load/node/report.js';
import { createRunDir, DEFAULT_RUNS_DIR, relaySlug } from '../report/write.js';
import { LoadRunError, runNode } from '../load/node/run.js';
import { NodeRuntime } from '../load/node/runtime.js';
import { MetricStore } from '../load/node/metrics.js';
import { startRelay, type RunningRelay } from '../reference-relay/server.js';

export interface LoadCommandOptions {
  url?: string;
  driver: 'node' | 'k6';
  rate?: number;
  duration?: string;
  env: string[];
  k6: string;
  /** Folder holding <scenario>.js and compat/<scenario>.js (default: this package's load/dist). */
  bundles?: string;
  out: string;
  reports: boolean;
}

/** Scenarios whose arrival rate --rate sets and whose length --duration sets (contend and rate run fixed rounds). */
const RATE_SCENARIOS: readonly ScenarioName[] = ['publish', 'groups', 'soak'];

/** What a round-based scenario does instead of running for a duration, for the --duration refusal. */
const ROUNDS: Partial<Record<ScenarioName, string>> = {
  contend: 'ROUNDS rounds of racing (--env ROUNDS=n)',
  rate: 'a fixed number of queries per requester (--env REQUESTERS=n, EXTRA=n)',
};

/** Something the user must fix: exit 2. */
export class LoadUsageError extends Error {}

export interface Io {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

const PROCESS_IO: Io = { stdout: (t) => process.stdout.write(t), stderr: (t) => process.stderr.write(t) };

function positiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`--rate must be a number above 0 (per second), got "${value}"`);
  return n;
}

function k6Duration(value: string): string {
  try {
    parseDuration(value);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
  return value;
}

function keyValue(value: string, previous: string[]): string[] {
  if (!/^[A-Z][A-Z0-9_]*=/.test(value)) throw new InvalidArgumentError(`--env takes NAME=value with an upper-case NAME, got "${value}"`);
  return [...previous, value];
}

async function reachable(url: string): Promise<void> {
  const rt = new NodeRuntime(new MetricStore());
  try {
    const sock = await rt.connect(url, 5000);
    await sock.close();
  } catch (err) {
    throw new LoadUsageError((err as Error).message);
  }
}

/**
 * Runs one scenario and writes its reports; resolves to the exit code (0 or
 * 99, 1 when k6 broke). Throws LoadUsageError, SettingsError or
 * K6NotFoundError for exit 2 and LoadRunError for exit 1.
 */
export async function runLoad(name: ScenarioName, o: LoadCommandOptions, io: Io = PROCESS_IO): Promise<number> {
  if (o.url !== undefined && !/^wss?:\/\/\S+$/.test(o.url)) throw new LoadUsageError(`--url must start with ws:// or wss://, got "${o.url}"`);
  const rounds = ROUNDS[name];
  const extra = Object.fromEntries(o.env.map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
  // A round-based scenario ends when its rounds do: --duration only caps it (MAX_DURATION), and the run says so.
  const durationKnob: Record<string, string> = o.duration === undefined ? {} : rounds !== undefined ? { MAX_DURATION: o.duration } : { DURATION: o.duration };
  if (o.duration !== undefined && rounds !== undefined) {
    if (extra.MAX_DURATION !== undefined) throw new LoadUsageError(`--duration and --env MAX_DURATION both cap ${name}; give one`);
    io.stdout(`note: ${name} runs ${rounds} and ends when they are done; --duration ${o.duration} caps it (MAX_DURATION)\n`);
  }
  const knobs = { ...extra, ...(o.rate !== undefined ? { RATE: String(o.rate) } : {}), ...durationKnob };
  // Bad knobs and a missing k6 are usage errors, found before anything starts.
  SCENARIOS[name].plan(settingsFrom({ ...knobs, RELAY_URL: o.url ?? DEFAULT_RELAY_URL }), EMPTY_FIXTURE);
  const k6 = o.driver === 'k6' ? await findK6(o.k6) : undefined;
  const bundle = k6 === undefined ? undefined : bundlePath(name, variantFor(k6), o.bundles);
  if (bundle !== undefined && !existsSync(bundle)) {
    // The npm package ships the bundles; only a clone that was never built lacks them.
    const fix = o.bundles !== undefined ? 'give --bundles the folder holding <scenario>.js and compat/<scenario>.js' : 'in a clone, build them with npm run build; an installed kpsuite ships them, so reinstall it';
    throw new LoadUsageError(`${bundle} is missing: ${fix}`);
  }
  if (o.rate !== undefined && !RATE_SCENARIOS.includes(name)) io.stdout(`note: --rate does not apply to ${name}; ignored\n`);

  const tempDir = mkdtempSync(join(tmpdir(), 'kpsuite-load-'));
  let relay: RunningRelay | undefined;
  try {
    if (o.url === undefined) relay = await startRelay({ port: 0, db: join(tempDir, 'relay.sqlite') });
    const url = o.url ?? relay!.url;
    const label = o.url ?? `${url} (embedded reference relay)`;
    const env: Record<string, string> = { ...knobs, RELAY_URL: url };
    await reachable(url);
    io.stdout(`kpsuite load ${name}: ${label}, driver ${k6 ? `k6 ${k6.version} (${bundle})` : 'node'}\n`);
    const runDir = o.reports ? createRunDir(o.out, relaySlug(label), new Date()) : undefined;

    if (k6 !== undefined && bundle !== undefined) {
      // A fixture made for the run (genuine KeyPackages, pre-signed requests): a bundled one serves a few runs per relay only.
      const fixture = writeFixtureFile(tempDir, await fixtureFor(name, settingsFrom(env)));
      const summaryDir = resolve(runDir ?? tempDir);
      const code = await runK6(k6, bundle, { ...env, FIXTURE: fixture, SUMMARY_DIR: summaryDir });
      if (runDir) io.stdout(`reports: ${runDir}\n`);
      // k6 can only exit 99 when nothing ran (its work threshold failed); the summary says whether the relay was unusable.
      const notRun = code === 99 ? readNotRun(join(summaryDir, summaryFileNames(name).json)) : undefined;
      if (notRun !== undefined) {
        io.stderr(`kpsuite load: not run (the relay could not be used): ${notRun}\n`);
        return 2;
      }
      if (code === 0 || code === 99) return code;
      io.stderr(`kpsuite load: k6 exited with ${code} (not a threshold verdict: see its output above)\n`);
      return 1;
    }

    const result = await runNode({ scenario: name, env, log: (line) => io.stderr(`  ${line}\n`) });
    if (result.summary.notRun !== undefined) io.stderr(`kpsuite load: not run (the relay could not be used): ${result.summary.notRun}\n`);
    io.stdout(`\n${toText(result.summary)}`);
    if (runDir) for (const f of writeLoadSummary(runDir, result.summary)) io.stdout(`report: ${f}\n`);
    return result.exitCode;
  } finally {
    await relay?.close();
    rmSync(tempDir, { recursive: true, force: true });
  }
}

/** The not-run reason of a summary k6 wrote, if it wrote one and has one. */
function readNotRun(path: string): string | undefined {
  try {
    const s = JSON.parse(readFileSync(path, 'utf8')) as Partial<LoadSummary>;
    return typeof s.notRun === 'string' ? s.notRun : undefined;
  } catch {
    return undefined;
  }
}

export function loadCommand(): Command {
  return new Command('load')
    .description('run a load scenario against a relay (default: the embedded reference relay); exit 99 when a threshold fails, 2 when the relay could not be used')
    .argument('<scenario>', `one of ${SCENARIO_NAMES.join(', ')}`)
    .option('--url <ws-url>', 'relay to load, ws:// or wss://; without it the embedded reference relay is started on a free loopback port')
    .addOption(new Option('--driver <driver>', 'node (built in) or k6 (must be on PATH)').choices(['node', 'k6']).default('node'))
    .option('--rate <per-second>', 'arrival rate: publishing connections/s (publish) or invites/s (groups, soak)', positiveNumber)
    .option('--duration <d>', 'how long, as k6 writes it: 30s, 5m, 1h (publish, groups, soak; contend and rate run rounds, and --duration caps them)', k6Duration)
    .option('--env <NAME=value>', 'another scenario knob, as k6 -e takes it (repeatable; see load/README.md)', keyValue, [])
    .option('--k6 <path>', 'the k6 binary for --driver k6', 'k6')
    .option('--bundles <dir>', 'folder with the k6 bundles, <scenario>.js and compat/<scenario>.js (default: load/dist of this package)')
    .option('--out <dir>', 'folder for report runs', DEFAULT_RUNS_DIR)
    .option('--no-reports', 'write no report files')
    .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2))
    .action(async (scenario: string, o: LoadCommandOptions) => {
      if (!isScenarioName(scenario)) {
        process.stderr.write(`kpsuite load: unknown scenario "${scenario}"; choose one of ${SCENARIO_NAMES.join(', ')}\n`);
        process.exit(2);
      }
      try {
        // runLoad has printed everything: exit now rather than wait for a lingering socket or timer.
        process.exit(await runLoad(scenario, o));
      } catch (err) {
        if (err instanceof LoadUsageError || err instanceof SettingsError || err instanceof K6NotFoundError) {
          const hint = err instanceof K6NotFoundError ? ' (install k6: https://grafana.com/docs/k6/latest/set-up/install-k6/, or use --driver node)' : '';
          process.stderr.write(`kpsuite load: ${err.message}${hint}\n`);
          process.exit(2);
        }
        if (err instanceof LoadRunError) {
          process.stderr.write(`kpsuite load: ${err.message}\n`);
          process.exit(1);
        }
        throw err;
      }
    });
}
