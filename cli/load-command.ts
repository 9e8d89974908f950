/**
 * `kpsuite load <scenario>`: a load scenario against a relay (default: the
 * embedded reference relay), with the Node driver or k6. Exit 0 when no
 * threshold failed, 99 when one failed (as `k6 run`), 2 on usage errors, an
 * unreachable relay or a run that could not use the relay (not run: no AUTH,
 * refused connections, no limits for `rate`), 1 when the run itself broke
 * (setup failed, k6 crashed).
 *
 * `--instances N` splits the test into N instances (Node: one child process
 * per instance, `--instance i` of the built CLI; k6: one process per execution segment), each writing its
 * own summary, and merges them; `kpsuite load merge <summaries…>` merges
 * summaries from anywhere (load/core/merge.ts), with the same exit codes.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError, Option } from 'commander';
import { SCENARIO_NAMES, isScenarioName, type ScenarioName } from '../load/core/scenario.js';
import { DEFAULT_RELAY_URL, parseDuration, settingsFrom, SettingsError } from '../load/core/settings.js';
import { toText, type LoadSummary } from '../load/core/summary.js';
import { SCENARIOS } from '../load/scenarios/index.js';
import { EMPTY_FIXTURE, type Fixture } from '../load/core/fixture.js';
import { mergeSummaries, MergeUsageError, type MergeInput } from '../load/core/merge.js';
import { fixtureFor, readFixture } from '../load/node/fixture.js';
import { bundlePath, findK6, freePort, K6NotFoundError, runK6, segmentFlags, summaryFilesIn, variantFor, writeFixtureFile, type K6Binary } from '../load/node/k6-driver.js';
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
  /** Split the test into this many instances (default 1). */
  instances?: number;
  /** Run only this instance (from 1) of --instances, for a test split across hosts. */
  instance?: number;
  /** A fixture file to use instead of one made for the run (needed when instances run on several hosts). */
  fixture?: string;
}

export interface MergeCommandOptions {
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

function count(flag: string, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1 || n > max) throw new InvalidArgumentError(`${flag} must be a whole number from 1 to ${max}, got "${value}"`);
    return n;
  };
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
  const n = o.instances ?? 1;
  // contend races one owner unless told otherwise: a split needs one per instance at least.
  const owners: Record<string, string> = name === 'contend' && n > 1 && extra.OWNERS === undefined ? { OWNERS: String(n) } : {};
  if (owners.OWNERS !== undefined) io.stdout(`note: contend split into ${n} instances races ${n} owners, one each (--env OWNERS=${n})\n`);
  const knobs = { ...extra, ...owners, ...(o.rate !== undefined ? { RATE: String(o.rate) } : {}), ...durationKnob };
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

  if (o.instance !== undefined && o.instance > n) throw new LoadUsageError(`--instance ${o.instance} needs --instances ${o.instance} or more`);
  if (n > 1 && (extra.INSTANCE !== undefined || extra.INSTANCES !== undefined)) throw new LoadUsageError('--instances sets INSTANCE and INSTANCES itself; drop them from --env');
  if (o.fixture !== undefined && !existsSync(o.fixture)) throw new LoadUsageError(`--fixture ${o.fixture}: no such file`);
  // The instances this process runs, from 1: all of them, or the one --instance names.
  const mine = o.instance !== undefined ? [o.instance] : Array.from({ length: n }, (_, k) => k + 1);

  const tempDir = mkdtempSync(join(tmpdir(), 'kpsuite-load-'));
  let relay: RunningRelay | undefined;
  try {
    if (o.url === undefined) relay = await startRelay({ port: 0, db: join(tempDir, 'relay.sqlite') });
    const url = o.url ?? relay!.url;
    const label = o.url ?? `${url} (embedded reference relay)`;
    const env: Record<string, string> = { ...knobs, RELAY_URL: url };
    await reachable(url);
    const split = n === 1 ? '' : mine.length === 1 ? `, instance ${mine[0]} of ${n}` : `, ${n} instances`;
    io.stdout(`kpsuite load ${name}: ${label}, driver ${k6 ? `k6 ${k6.version} (${bundle})` : 'node'}${split}\n`);
    const runDir = o.reports ? createRunDir(o.out, relaySlug(label), new Date()) : undefined;
    const base = resolve(runDir ?? tempDir);
    // One fixture for all instances (each takes its share), sized for the whole test; a bundled one serves a few runs per relay only.
    const fixture: Fixture = o.fixture !== undefined ? readFixture(o.fixture) : await fixtureFor(name, settingsFrom({ ...env, ...(n > 1 ? { INSTANCES: String(n) } : {}) }));
    const instanceEnv = (i: number): Record<string, string> => (n > 1 ? { INSTANCE: String(i), INSTANCES: String(n) } : {});
    const dirOf = (i: number): string => {
      const dir = mine.length > 1 ? join(base, `instance-${i}`) : base;
      mkdirSync(dir, { recursive: true });
      return dir;
    };

    let summaries: MergeInput[];
    if (k6 !== undefined && bundle !== undefined) {
      const fixtureFile = o.fixture !== undefined ? resolve(o.fixture) : writeFixtureFile(tempDir, fixture);
      const ran = await runK6Instances(k6, bundle, name, { ...env, FIXTURE: fixtureFile }, n, mine, dirOf);
      if (runDir) io.stdout(`reports: ${runDir}\n`);
      const broken = ran.filter((r) => r.code !== 0 && r.code !== 99);
      for (const r of broken) io.stderr(`kpsuite load: k6 ${mine.length > 1 ? `instance ${r.i} ` : ''}exited with ${r.code} (not a threshold verdict: see ${r.log ?? 'its output above'})\n`);
      if (broken.length > 0) return 1;
      const missing = ran.filter((r) => r.summary === undefined);
      if (mine.length === 1) {
        // k6 can only exit 99 when nothing ran (its work threshold failed); the summary says whether the relay was unusable.
        const notRun = ran[0]?.summary?.summary.notRun;
        if (notRun !== undefined) {
          io.stderr(`kpsuite load: not run (the relay could not be used): ${notRun}\n`);
          return 2;
        }
        return ran[0]?.code ?? 1;
      }
      for (const r of missing) io.stderr(`kpsuite load: k6 instance ${r.i} wrote no summary into ${dirOf(r.i)} (see ${r.log ?? 'its output'})\n`);
      if (missing.length > 0) return 1;
      summaries = ran.map((r) => r.summary!);
    } else if (mine.length === 1) {
      const i = mine[0]!;
      const r = await runNode({ scenario: name, env: { ...env, ...instanceEnv(i) }, fixture, log: (line) => io.stderr(`  ${line}\n`) });
      const files = runDir !== undefined ? writeLoadSummary(dirOf(i), r.summary) : [];
      if (r.summary.notRun !== undefined) io.stderr(`kpsuite load: not run (the relay could not be used): ${r.summary.notRun}\n`);
      io.stdout(`\n${toText(r.summary)}`);
      for (const f of files) io.stdout(`report: ${f}\n`);
      return r.exitCode;
    } else {
      // One child process per instance (kpsuite load --instance i), so the instances use every core.
      const fixtureFile = o.fixture !== undefined ? resolve(o.fixture) : writeFixtureFile(tempDir, fixture);
      const ran = await runNodeInstances(name, url, knobs, fixtureFile, n, mine, dirOf, tempDir);
      if (runDir) io.stdout(`reports: ${runDir}\n`);
      const broken = ran.filter((r) => r.summary === undefined || (r.code !== 0 && r.code !== 99 && r.code !== 2));
      for (const r of broken) io.stderr(`kpsuite load: node instance ${r.i} exited with ${r.code}${r.summary === undefined ? ' and wrote no summary' : ''} (see ${r.log})\n`);
      if (broken.length > 0) return 1;
      summaries = ran.map((r) => r.summary!);
    }
    return reportMerge(summaries, runDir, io);
  } finally {
    await relay?.close();
    rmSync(tempDir, { recursive: true, force: true });
  }
}

interface K6Instance {
  i: number;
  code: number;
  log?: string;
  summary?: MergeInput;
}

/** One k6 per instance in `mine`, side by side, each on its execution segment with its own API port, output and summary folder. */
async function runK6Instances(k6: K6Binary, bundle: string, name: ScenarioName, env: Record<string, string>, n: number, mine: readonly number[], dirOf: (i: number) => string): Promise<K6Instance[]> {
  return Promise.all(
    mine.map(async (i) => {
      const dir = dirOf(i);
      const flags = n > 1 ? [...segmentFlags(i, n), '--address', `127.0.0.1:${await freePort()}`] : [];
      const log = mine.length > 1 ? join(dir, 'k6.log') : undefined;
      const code = await runK6(k6, bundle, { ...env, SUMMARY_DIR: dir }, { flags, ...(log !== undefined ? { log } : {}) });
      const file = summaryFilesIn(dir, name)[0];
      const summary = file === undefined ? undefined : readSummary(file);
      return { i, code, ...(log !== undefined ? { log } : {}), ...(summary !== undefined ? { summary: { source: file!, summary } } : {}) };
    }),
  );
}

/** The built CLI the instance processes run: beside this module in dist, or dist/ of the package when run from source (tests). */
const CLI = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? '../dist/cli/kpsuite.js' : './kpsuite.js', import.meta.url));

/** Load summaries (load-*.json) anywhere under `dir`. */
function summaryFilesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => /(^|\/)load-[^/]+\.json$/.test(f))
    .sort()
    .map((f) => join(dir, f));
}

/**
 * One `kpsuite load <scenario> --instance i --instances n` process per
 * instance in `mine` (process.execPath on the built CLI), side by side, on
 * the same relay, knobs and fixture file; each writes its output into
 * `node.log` and its summary into its own folder, which is copied into
 * dirOf(i) as the in-process instances wrote it.
 */
async function runNodeInstances(name: ScenarioName, url: string, knobs: Record<string, string>, fixtureFile: string, n: number, mine: readonly number[], dirOf: (i: number) => string, tempDir: string): Promise<K6Instance[]> {
  if (!existsSync(CLI)) throw new LoadUsageError(`${CLI} is missing: the instances run the built CLI; build it with npm run build`);
  return Promise.all(
    mine.map(async (i) => {
      const dir = dirOf(i);
      const out = join(tempDir, 'children', String(i));
      mkdirSync(out, { recursive: true });
      const log = join(dir, 'node.log');
      const args = [CLI, 'load', name, '--driver', 'node', '--url', url, '--instances', String(n), '--instance', String(i), '--fixture', fixtureFile, '--out', out, ...Object.entries(knobs).flatMap(([k, v]) => ['--env', `${k}=${v}`])];
      const fd = openSync(log, 'w');
      const code = await new Promise<number>((done, fail) => {
        const child = spawn(process.execPath, args, { stdio: ['ignore', fd, fd] });
        child.once('error', fail);
        child.once('exit', (c, signal) => done(c ?? (signal ? 130 : 1)));
      }).finally(() => closeSync(fd));
      const file = summaryFilesUnder(out)[0];
      const summary = file === undefined ? undefined : readSummary(file);
      if (summary === undefined) return { i, code, log };
      const source = writeLoadSummary(dir, summary)[0] ?? file!;
      return { i, code, log, summary: { source, summary } };
    }),
  );
}

/** A summary file, or undefined when it is missing or not JSON. */
function readSummary(path: string): LoadSummary | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as LoadSummary;
  } catch {
    return undefined;
  }
}

/** Merges, prints the verdict (not-run reason first), writes the run folder; resolves to the exit code. */
function reportMerge(inputs: readonly MergeInput[], runDir: string | undefined, io: Io): number {
  const { summary, exitCode } = mergeSummaries(inputs);
  if (summary.notRun !== undefined) io.stderr(`kpsuite load: not run: ${summary.notRun}\n`);
  io.stdout(`\n${toText(summary)}`);
  if (runDir) for (const f of writeLoadSummary(runDir, summary)) io.stdout(`report: ${f}\n`);
  return exitCode;
}

/**
 * `kpsuite load merge <summaries…>`: files, or folders whose load-*.json
 * are taken; resolves to the exit code (0, 99, 2). Throws MergeUsageError
 * (exit 2) for input that is no load summary or mixes scenarios.
 */
export function runMerge(paths: readonly string[], o: MergeCommandOptions, io: Io = PROCESS_IO): number {
  const files = paths.flatMap((p) => {
    if (!existsSync(p)) throw new MergeUsageError(`${p}: no such file or folder`);
    return statSync(p).isDirectory() ? readdirSync(p).filter((f) => /^load-.+\.json$/.test(f)).sort().map((f) => join(p, f)) : [p];
  });
  const inputs = files.map((source) => {
    const summary = readSummary(source);
    if (summary === undefined) throw new MergeUsageError(`${source} is not JSON`);
    return { source, summary };
  });
  const first = inputs[0]?.summary;
  const runDir = o.reports && first !== undefined ? createRunDir(o.out, relaySlug(first.relay?.url ?? 'relay'), new Date()) : undefined;
  return reportMerge(inputs, runDir, io);
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
    .option('--instances <n>', 'split the test into n instances, each on its share of the work and the fixture, then merge their summaries (node: one process per instance; k6: one k6 per execution segment)', count('--instances', 64))
    .option('--instance <i>', 'run only instance i (from 1) of --instances, for a test split across hosts; merge the summaries with kpsuite load merge', count('--instance', 64))
    .option('--fixture <file>', 'the fixture to use (node dist/load/node/fixture.js makes one) instead of one made for the run: the same file on every host')
    .option('--out <dir>', 'folder for report runs', DEFAULT_RUNS_DIR)
    .option('--no-reports', 'write no report files')
    .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2))
    .addCommand(mergeCommand())
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

function mergeCommand(): Command {
  return new Command('merge')
    .description("combine the summaries of a split test's instances (files, or folders of load-*.json) into one verdict: exit 0, 99 when a threshold or a cross-instance invariant fails, 2 when not run or the summaries do not cover the test")
    .argument('<summaries...>', 'load-<scenario>*.json files, or folders holding them')
    .option('--out <dir>', 'folder for report runs', DEFAULT_RUNS_DIR)
    .option('--no-reports', 'write no report files')
    .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2))
    .action((paths: string[], o: MergeCommandOptions) => {
      try {
        process.exit(runMerge(paths, o));
      } catch (err) {
        if (err instanceof MergeUsageError) {
          process.stderr.write(`kpsuite load merge: ${err.message}\n`);
          process.exit(2);
        }
        throw err;
      }
    });
}
