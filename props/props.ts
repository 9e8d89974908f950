/**
 * `kpsuite props` without the command line: pick the target (any relay URL,
 * the embedded reference relay, or in process), settle the limits, run the
 * property and write props.json / props.md.
 */
import { RelayClient } from '../client/relay-client.js';
import { fetchNip11, settleLimits } from '../conformance/check.js';
import { globMatch } from '../conformance/runner.js';
import type { RelayInformation } from '../protocol/messages.js';
import { PROFILE_VERSION, type KeyPackageLimits } from '../protocol/profile.js';
import type { FaultName } from '../reference-relay/faults.js';
import { SUITE_NAME, VERSION } from '../package-info.js';
import { inProcessFactory } from './in-process-target.js';
import { INVARIANTS } from './invariants.js';
import { DEFAULT_MAX_COMMANDS, ReplayPathError, runProperty, splitPath } from './property.js';
import { PROPS_SCHEMA, writePropsReport, type PropsReport } from './report.js';
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
  /** Without url: drive the reference relay in process (no socket) instead of on a loopback port. */
  inProcess?: boolean;
  /** Command sequences to generate. */
  runs: number;
  seed?: number;
  /** A failure's path, to replay it with its seed. */
  path?: string;
  /** Overrides of the advertised (url) or suite (PROPERTY_LIMITS) limits. */
  limits?: Partial<KeyPackageLimits>;
  /** Fault switches of a relay started here (never with url). */
  faults?: readonly FaultName[];
  /** Base folder for the run folder; undefined writes nothing. */
  reportsDir?: string;
  timeoutMs?: number;
  maxCommands?: number;
  /** Id globs of known failures (the --expect-fail file of check): a violated invariant whose anchor matches does not fail the run. */
  expectFail?: readonly string[];
}

export interface PropsResult {
  report: PropsReport;
  exitCode: 0 | 1 | 2;
  /** The shell command that replays the failure. */
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

/** The command line that replays a failure: the same target, limits and faults, plus seed and path. */
export function replayCommand(opts: PropsOptions, seed: number, path: string): string {
  const args = ['kpsuite', 'props'];
  if (opts.url !== undefined) args.push('--url', opts.url);
  if (opts.url === undefined && opts.inProcess) args.push('--in-process');
  for (const f of opts.faults ?? []) args.push('--fault', f);
  for (const [key, flag] of Object.entries(LIMIT_FLAGS)) {
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

interface Setup {
  factory: TargetFactory;
  target: PropsReport['run']['target'];
  limits: KeyPackageLimits;
  limitsSource: PropsReport['run']['limitsSource'];
  nip11: RelayInformation | undefined;
  quietMs: number;
}

async function setUp(opts: PropsOptions, timeoutMs: number): Promise<Setup> {
  const flags = opts.limits ?? {};
  if (opts.url !== undefined) {
    if ((opts.faults ?? []).length > 0) throw new PropsUsageError('faults switch the embedded reference relay; they cannot be used with a relay URL');
    await preflight(opts.url, timeoutMs);
    const nip11 = await fetchNip11(opts.url, timeoutMs);
    const { limits, source } = settleLimits(nip11, flags);
    if (limits === undefined || source === 'none') {
      throw new PropsUsageError(
        `${opts.url} advertises no complete NIP-11 "keypackages" limits; give them with --max-per-query, --queries-per-window, --served-per-window and --window-seconds`,
      );
    }
    return { factory: urlFactory({ url: opts.url, limits, timeoutMs }), target: 'url', limits, limitsSource: source, nip11, quietMs: 50 };
  }
  const limits = { ...PROPERTY_LIMITS, ...flags };
  const limitsSource = Object.keys(flags).length > 0 ? 'flags' : 'suite';
  const faults = opts.faults ?? [];
  if (opts.inProcess) return { factory: inProcessFactory({ limits, faults }), target: 'in-process', limits, limitsSource, nip11: undefined, quietMs: 0 };
  const factory = await referenceRelayFactory({ limits, faults, timeoutMs });
  return { factory, target: 'embedded', limits, limitsSource, nip11: await fetchNip11(factory.url!, timeoutMs), quietMs: 20 };
}

export async function runProps(opts: PropsOptions): Promise<PropsResult> {
  const timeoutMs = opts.timeoutMs ?? 5000;
  const maxCommands = opts.maxCommands ?? DEFAULT_MAX_COMMANDS;
  if (!Number.isInteger(opts.runs) || opts.runs < 1) throw new PropsUsageError(`runs must be a whole number of at least 1, got ${opts.runs}`);
  if (opts.path !== undefined && opts.seed === undefined) throw new PropsUsageError('a path replays only with the seed it came from: give --seed too');
  try {
    splitPath(opts.path);
  } catch (err) {
    if (err instanceof ReplayPathError) throw new PropsUsageError(err.message);
    throw err;
  }
  const startedAt = new Date();
  const setup = await setUp(opts, timeoutMs);
  try {
    const outcome = await runProperty({
      exclude: [],
      factory: setup.factory,
      runs: opts.runs,
      maxCommands,
      quietMs: setup.quietMs,
      ...(opts.seed === undefined ? {} : { seed: opts.seed }),
      ...(opts.path === undefined ? {} : { path: opts.path }),
    });
    if (opts.path !== undefined && outcome.numRuns === 0) {
      throw new PropsUsageError(`seed ${opts.seed} and path ${opts.path} lead to no sequence; give the seed and path a failing run printed, with its flags`);
    }
    // `kp-x/*` lists every test of an anchor in check; here it lists the anchor's invariant.
    const expected = outcome.failure !== undefined && (opts.expectFail ?? []).some((g) => globMatch(g, outcome.failure!.anchor) || globMatch(g, `${outcome.failure!.anchor}/props`));
    const exitCode: 0 | 1 | 2 = outcome.failure && !expected ? 1 : outcome.error ? 2 : 0;
    const replay = outcome.failure ? replayCommand(opts, outcome.failure.seed, outcome.failure.path) : undefined;
    const report: PropsReport = {
      schema: PROPS_SCHEMA,
      suite: { name: SUITE_NAME, version: VERSION },
      profile: PROFILE_VERSION,
      relay: { url: setup.factory.url, description: setup.factory.description, nip11: setup.nip11 },
      run: {
        startedAt: startedAt.toISOString(),
        durationMs: Date.now() - startedAt.getTime(),
        target: setup.target,
        runs: opts.runs,
        seed: outcome.seed,
        path: opts.path,
        maxCommands,
        limits: setup.limits,
        limitsSource: setup.limitsSource,
        faults: [...(opts.faults ?? [])],
      },
      result: {
        exitCode,
        numRuns: outcome.numRuns,
        failure: outcome.failure && { ...outcome.failure, invariant: INVARIANTS[outcome.failure.anchor], replay: replay!, expected },
        error: outcome.error?.message,
      },
      invariants: { ...INVARIANTS },
      stats: outcome.stats,
    };
    const written = opts.reportsDir === undefined ? undefined : writePropsReport(report, opts.reportsDir);
    return { report, exitCode, replay, dir: written?.dir, files: written?.files ?? [] };
  } catch (err) {
    if (err instanceof ReplayPathError) throw new PropsUsageError(err.message);
    throw err;
  } finally {
    await setup.factory.close();
  }
}
