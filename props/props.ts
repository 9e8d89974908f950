/**
 * `kpsuite props` without the command line: pick the target (any relay URL,
 * the embedded reference relay, or in process) and the profiles (those asked
 * for, else those the relay claims in NIP-11, as `kpsuite check` decides),
 * run each profile's property and write props.json / props.md.
 *
 * kp-relay: the legacy hand-out property (property.ts). marmot-relay: the
 * kind 30443 slot property (marmot-commands.ts); against a URL every sequence
 * gets fresh owner keys, and on the embedded relay every sequence gets a fresh
 * relay (in memory) with the run's keys, as its own test runs it.
 */
import { RelayClient } from '../client/relay-client.js';
import { fetchNip11, selectProfiles, settleLimits } from '../conformance/check.js';
import { profileClaim } from '../conformance/gate.js';
import { globMatch } from '../conformance/runner.js';
import type { RelayInformation } from '../protocol/messages.js';
import { PROFILES, type KeyPackageLimits, type ProfileName } from '../protocol/profile.js';
import type { FaultName } from '../reference-relay/faults.js';
import { startRelay } from '../reference-relay/server.js';
import { SUITE_NAME, VERSION } from '../package-info.js';
import { inProcessFactory } from './in-process-target.js';
import { INVARIANTS } from './invariants.js';
import { MARMOT_MAX_COMMANDS, MarmotPool, runMarmotProperty, type MarmotRelay } from './marmot-commands.js';
import { MARMOT_INVARIANTS } from './marmot-model.js';
import { DEFAULT_MAX_COMMANDS, ReplayPathError, runProperty, splitPath } from './property.js';
import { PROPS_SCHEMA, writePropsReport, type ProfileFailure, type ProfileRun, type PropsProfiles, type PropsReport } from './report.js';
import type { TargetFactory } from './target.js';
import { referenceRelayFactory, urlFactory } from './ws-target.js';

/**
 * Limits of the relays the suite starts itself: small, so short sequences
 * reach every limit and cross the window.
 */
export const PROPERTY_LIMITS: Readonly<KeyPackageLimits> = Object.freeze({
  max_per_query: 2,
  queries_per_window: 3,
  served_per_window: 5,
  window_seconds: 60,
});

export interface PropsOptions {
  /** Any relay (ws:// or wss://); undefined starts the reference relay here. */
  url?: string;
  /** Without url: drive the reference relay in process (no socket) instead of on a loopback port (kp-relay only). */
  inProcess?: boolean;
  /** The profiles to run; undefined: those the relay claims in NIP-11, or all when it claims none (kp-relay in process). */
  profiles?: readonly ProfileName[];
  /** Command sequences to generate, per profile. */
  runs: number;
  /** One seed for every profile of the run; a random one when undefined. */
  seed?: number;
  /** A failure's path, to replay it with its seed (one profile only). */
  path?: string;
  /** Overrides of the advertised (url) or suite (PROPERTY_LIMITS) limits. */
  limits?: Partial<KeyPackageLimits>;
  /** Fault switches of a relay started here (never with url). */
  faults?: readonly FaultName[];
  /** Base folder for the run folder; undefined writes nothing. */
  reportsDir?: string;
  timeoutMs?: number;
  /** Longest kp-relay sequence (marmot-relay: MARMOT_MAX_COMMANDS). */
  maxCommands?: number;
  /** Id globs of known failures (the --expect-fail file of check): a violated invariant whose anchor matches does not fail the run. */
  expectFail?: readonly string[];
  /** Told when a profile's property starts, with the profiles chosen, and when it is done (the CLI prints as it goes). */
  onProfileStart?: (profile: ProfileName, profiles: PropsProfiles) => void;
  onProfileDone?: (run: ProfileRun) => void;
}

export interface PropsResult {
  report: PropsReport;
  exitCode: 0 | 1 | 2;
  /** The shell command that replays the failure that decided the run (report.result.failure). */
  replay: string | undefined;
  dir: string | undefined;
  files: string[];
}

/** The options cannot be used or the relay cannot be reached: exit 2 before any sequence ran. */
export class PropsUsageError extends Error {}

const LIMIT_FLAGS: Record<keyof KeyPackageLimits, string> = {
  max_per_query: '--max-per-query',
  queries_per_window: '--queries-per-window',
  served_per_window: '--served-per-window',
  window_seconds: '--window-seconds',
};

/** The command line that replays a failure: its profile, the same target, limits and faults, plus seed and path. */
export function replayCommand(opts: PropsOptions, seed: number, path: string, profile: ProfileName = 'kp-relay'): string {
  const args = ['kpsuite', 'props', '--profile', profile];
  if (opts.url !== undefined) args.push('--url', opts.url);
  if (opts.url === undefined && opts.inProcess) args.push('--in-process');
  for (const f of opts.faults ?? []) args.push('--fault', f);
  // Limits decide kp-relay's verdicts only.
  for (const [key, flag] of profile === 'kp-relay' ? Object.entries(LIMIT_FLAGS) : []) {
    const value = opts.limits?.[key as keyof KeyPackageLimits];
    if (value !== undefined) args.push(flag, String(value));
  }
  args.push('--seed', String(seed), '--path', `'${path}'`);
  return args.join(' ');
}

async function preflight(url: string, timeoutMs: number): Promise<void> {
  let client: RelayClient;
  try {
    client = await RelayClient.connect(url, { timeoutMs });
  } catch (err) {
    throw new PropsUsageError(`cannot connect to ${url}: ${(err as Error).message || String(err)}`);
  }
  await client.close();
}

/** kp-relay's side of a target. */
interface KpSetup {
  factory: TargetFactory;
  limits: KeyPackageLimits;
  limitsSource: NonNullable<ProfileRun['limitsSource']>;
  quietMs: number;
}

/** marmot-relay's side of a target. */
interface MarmotSetup {
  relay: () => Promise<MarmotRelay>;
  /** Shared keys: only where every sequence gets a fresh relay. */
  pool: MarmotPool | undefined;
  isolation: NonNullable<ProfileRun['isolation']>;
}

interface Setup {
  target: PropsReport['run']['target'];
  url: string | undefined;
  description: string;
  nip11: RelayInformation | undefined;
  profiles: PropsProfiles;
  kp: KpSetup | undefined;
  marmot: MarmotSetup | undefined;
  close(): Promise<void>;
}

/** Profiles given, or as `kpsuite check` picks them: claimed in NIP-11 (or by limit flags), else all. */
function chooseProfiles(opts: PropsOptions, nip11: RelayInformation | undefined): PropsProfiles {
  const selection = selectProfiles(opts.profiles, profileClaim(nip11, opts.limits ?? {}));
  return { checked: selection.checked, by: selection.by };
}

function noProfile(): never {
  throw new PropsUsageError(`no profile to run; valid profiles: ${Object.keys(PROFILES).join(', ')}`);
}

async function setUp(opts: PropsOptions, timeoutMs: number): Promise<Setup> {
  const flags = opts.limits ?? {};
  const faults = opts.faults ?? [];
  if (opts.url !== undefined) {
    const url = opts.url;
    if (faults.length > 0) throw new PropsUsageError('faults switch the embedded reference relay; they cannot be used with a relay URL');
    await preflight(url, timeoutMs);
    const nip11 = await fetchNip11(url, timeoutMs);
    const profiles = chooseProfiles(opts, nip11);
    let kp: KpSetup | undefined;
    if (profiles.checked.includes('kp-relay')) {
      const { limits, source } = settleLimits(nip11, flags);
      if (limits === undefined || source === 'none') {
        const alone = profiles.checked.length > 1 ? ' (or run --profile marmot-relay alone)' : '';
        throw new PropsUsageError(
          `${url} advertises no complete NIP-11 "keypackages" limits, which the kp-relay property judges by; give them with --max-per-query, --queries-per-window, --served-per-window and --window-seconds${alone}`,
        );
      }
      kp = { factory: urlFactory({ url, limits, timeoutMs }), limits, limitsSource: source, quietMs: 50 };
    }
    // The relay keeps its state: each sequence gets fresh owner keys (no pool).
    const marmot: MarmotSetup | undefined = profiles.checked.includes('marmot-relay')
      ? { relay: async () => ({ url, close: async () => {} }), pool: undefined, isolation: 'fresh-keys' }
      : undefined;
    return { target: 'url', url, description: url, nip11, profiles, kp, marmot, close: async () => {} };
  }

  const limits = { ...PROPERTY_LIMITS, ...flags };
  const limitsSource = Object.keys(flags).length > 0 ? 'flags' : 'suite';
  if (opts.inProcess) {
    // No socket, no NIP-11: only kp-relay's property runs in process.
    if (opts.profiles?.includes('marmot-relay')) throw new PropsUsageError('the marmot-relay property runs over WebSocket only: drop --in-process (the embedded relay is used) or give --url');
    const profiles: PropsProfiles = opts.profiles === undefined ? { checked: ['kp-relay'], by: 'in-process' } : { checked: ['kp-relay'], by: 'option' };
    const factory = inProcessFactory({ limits, faults });
    return {
      target: 'in-process',
      url: undefined,
      description: factory.description,
      nip11: undefined,
      profiles,
      kp: { factory, limits, limitsSource, quietMs: 0 },
      marmot: undefined,
      close: () => factory.close(),
    };
  }

  // The embedded relay: its NIP-11 says which profiles it claims (both, unless that changes).
  const factory = await referenceRelayFactory({ limits, faults, timeoutMs });
  try {
    const nip11 = await fetchNip11(factory.url!, timeoutMs);
    const profiles = chooseProfiles(opts, nip11);
    const marmot: MarmotSetup | undefined = profiles.checked.includes('marmot-relay')
      ? {
          // Empty state per sequence, as props/test/marmot.test.ts runs it; the run's keys are shared.
          relay: async () => {
            const relay = await startRelay({ host: '127.0.0.1', port: 0, db: ':memory:', faults });
            return { url: relay.url, close: () => relay.close() };
          },
          pool: MarmotPool.fresh(),
          isolation: 'fresh-relay',
        }
      : undefined;
    const description = profiles.checked.includes('kp-relay')
      ? `${factory.description}${marmot ? '; marmot-relay: a fresh embedded relay per sequence' : ''}`
      : `embedded reference relay${faults.length > 0 ? ` with faults ${faults.join(', ')}` : ''}, a fresh one per sequence`;
    return {
      target: 'embedded',
      url: factory.url,
      description,
      nip11,
      profiles,
      kp: profiles.checked.includes('kp-relay') ? { factory, limits, limitsSource, quietMs: 20 } : undefined,
      marmot,
      close: () => factory.close(),
    };
  } catch (err) {
    await factory.close();
    throw err;
  }
}

/** Whether a violated anchor is listed as a known failure: `kp-x/*` lists every test of an anchor in check; here it lists the anchor's invariant. */
function isExpected(opts: PropsOptions, anchor: string): boolean {
  return (opts.expectFail ?? []).some((g) => globMatch(g, anchor) || globMatch(g, `${anchor}/props`));
}

function exitOf(failure: ProfileFailure | undefined, error: string | undefined): 0 | 1 | 2 {
  return failure && !failure.expected ? 1 : error !== undefined ? 2 : 0;
}

interface Common {
  opts: PropsOptions;
  seed: number;
}

async function runKpRelay(kp: KpSetup, { opts, seed }: Common): Promise<ProfileRun> {
  const maxCommands = opts.maxCommands ?? DEFAULT_MAX_COMMANDS;
  const outcome = await runProperty({
    exclude: [],
    factory: kp.factory,
    runs: opts.runs,
    maxCommands,
    quietMs: kp.quietMs,
    seed,
    ...(opts.path === undefined ? {} : { path: opts.path }),
  });
  const f = outcome.failure;
  const failure: ProfileFailure | undefined = f && {
    ...f,
    invariant: INVARIANTS[f.anchor],
    replay: replayCommand(opts, f.seed, f.path, 'kp-relay'),
    expected: isExpected(opts, f.anchor),
  };
  const error = outcome.error?.message;
  return {
    profile: 'kp-relay',
    version: PROFILES['kp-relay'].version,
    durationMs: outcome.durationMs,
    runs: opts.runs,
    seed: outcome.seed,
    maxCommands,
    limits: kp.limits,
    limitsSource: kp.limitsSource,
    result: { exitCode: exitOf(failure, error), numRuns: outcome.numRuns, failure, error },
    invariants: { ...INVARIANTS },
    stats: outcome.stats,
  };
}

async function runMarmotRelay(marmot: MarmotSetup, { opts, seed }: Common, timeoutMs: number): Promise<ProfileRun> {
  const outcome = await runMarmotProperty({
    relay: marmot.relay,
    runs: opts.runs,
    seed,
    maxCommands: MARMOT_MAX_COMMANDS,
    timeoutMs,
    ...(marmot.pool === undefined ? {} : { pool: marmot.pool }),
    ...(opts.path === undefined ? {} : { path: opts.path }),
  });
  const f = outcome.failure;
  const failure: ProfileFailure | undefined = f && {
    ...f,
    invariant: MARMOT_INVARIANTS[f.anchor],
    replay: replayCommand(opts, f.seed, f.path, 'marmot-relay'),
    expected: isExpected(opts, f.anchor),
  };
  const error = outcome.error?.message;
  return {
    profile: 'marmot-relay',
    version: PROFILES['marmot-relay'].version,
    durationMs: outcome.durationMs,
    runs: opts.runs,
    seed: outcome.seed,
    maxCommands: MARMOT_MAX_COMMANDS,
    isolation: marmot.isolation,
    result: { exitCode: exitOf(failure, error), numRuns: outcome.numRuns, failure, error },
    invariants: { ...MARMOT_INVARIANTS },
    stats: outcome.stats,
  };
}

/** A 32-bit seed, as fast-check picks one: the run's, shared by its profiles, so one `--seed` replays any of them. */
function newSeed(): number {
  return (Date.now() ^ Math.floor(Math.random() * 0x100000000)) | 0;
}

export async function runProps(opts: PropsOptions): Promise<PropsResult> {
  const timeoutMs = opts.timeoutMs ?? 5000;
  if (!Number.isInteger(opts.runs) || opts.runs < 1) throw new PropsUsageError(`runs must be a whole number of at least 1, got ${opts.runs}`);
  if (opts.path !== undefined && opts.seed === undefined) throw new PropsUsageError('a path replays only with the seed it came from: give --seed too');
  if (opts.profiles !== undefined && opts.profiles.length === 0) noProfile();
  if (opts.path !== undefined && opts.profiles !== undefined && opts.profiles.length > 1) {
    throw new PropsUsageError("a path replays one profile's sequence: give the one --profile the replay line names");
  }
  try {
    splitPath(opts.path);
  } catch (err) {
    if (err instanceof ReplayPathError) throw new PropsUsageError(err.message);
    throw err;
  }
  const seed = opts.seed ?? newSeed();
  const startedAt = new Date();
  const setup = await setUp(opts, timeoutMs);
  try {
    const { checked } = setup.profiles;
    if (checked.length === 0) noProfile();
    if (opts.path !== undefined && checked.length > 1) {
      throw new PropsUsageError(`a path replays one profile's sequence, and this relay would run ${checked.join(' and ')}: give the --profile the replay line names`);
    }
    const runs: ProfileRun[] = [];
    for (const profile of checked) {
      opts.onProfileStart?.(profile, setup.profiles);
      const run = profile === 'kp-relay' ? await runKpRelay(setup.kp!, { opts, seed }) : await runMarmotRelay(setup.marmot!, { opts, seed }, timeoutMs);
      if (opts.path !== undefined && run.result.numRuns === 0) {
        throw new PropsUsageError(`seed ${opts.seed} and path ${opts.path} lead to no sequence; give the seed and path a failing run printed, with its flags`);
      }
      runs.push(run);
      opts.onProfileDone?.(run);
    }
    // A violated invariant decides the run (exit 1) over a relay that could not be used (exit 2).
    const exitCode: 0 | 1 | 2 = runs.some((r) => r.result.exitCode === 1) ? 1 : runs.some((r) => r.result.exitCode === 2) ? 2 : 0;
    const failures = runs.flatMap((r) => (r.result.failure ? [r.result.failure] : []));
    const failure = failures.find((f) => !f.expected) ?? failures[0];
    const kp = runs.find((r) => r.profile === 'kp-relay');
    const report: PropsReport = {
      schema: PROPS_SCHEMA,
      suite: { name: SUITE_NAME, version: VERSION },
      profile: runs.map((r) => r.version).join(' + '),
      relay: { url: setup.url, description: setup.description, nip11: setup.nip11 },
      run: {
        startedAt: startedAt.toISOString(),
        durationMs: Date.now() - startedAt.getTime(),
        target: setup.target,
        runs: opts.runs,
        seed,
        path: opts.path,
        maxCommands: runs[0]!.maxCommands,
        ...(kp ? { limits: kp.limits, limitsSource: kp.limitsSource } : {}),
        faults: [...(opts.faults ?? [])],
        profiles: setup.profiles,
      },
      result: {
        exitCode,
        numRuns: runs.reduce((n, r) => n + r.result.numRuns, 0),
        failure,
        error: runs.find((r) => r.result.error !== undefined)?.result.error,
      },
      invariants: Object.assign({}, ...runs.map((r) => r.invariants)) as Record<string, string>,
      stats: Object.assign({}, ...runs.map((r) => r.stats)) as Record<string, number>,
      profiles: runs,
    };
    const written = opts.reportsDir === undefined ? undefined : writePropsReport(report, opts.reportsDir);
    return { report, exitCode, replay: failure?.replay, dir: written?.dir, files: written?.files ?? [] };
  } catch (err) {
    if (err instanceof ReplayPathError) throw new PropsUsageError(err.message);
    throw err;
  } finally {
    await setup.close();
  }
}
