/**
 * The property: any sequence of commands keeps every invariant, checked after
 * each command and at the end. fast-check generates and shrinks sequences;
 * a failure comes back with the violated anchor, the shrunk commands and the
 * seed and path that replay it.
 */
import fc from 'fast-check';
import { commandArbitrary, type CommandName } from './arbitraries.js';
import { finalAudit } from './audit.js';
import { ACTORS, type Cmd } from './commands.js';
import { InvariantViolation, type Anchor } from './invariants.js';
import { Model } from './model.js';
import type { TargetFactory } from './target.js';
import { World } from './world.js';

export interface PropertyOptions {
  factory: TargetFactory;
  runs: number;
  seed?: number;
  /** A failure's replay path: fast-check's counterexample path, `@`, the commands' replayPath. */
  path?: string;
  /** Longest command sequence generated. */
  maxCommands?: number;
  /** How long to wait for late frames before the final audit (network targets). */
  quietMs?: number;
  /** Commands left out, to aim a run at one rule. */
  exclude?: readonly CommandName[];
}

export interface PropertyFailure {
  anchor: Anchor;
  detail: string;
  /** The shrunk sequence, as run. */
  commands: string[];
  seed: number;
  path: string;
  /** Runs until the first failure, and shrink steps after it. */
  numRuns: number;
  numShrinks: number;
}

export interface PropertyOutcome {
  /** fast-check's verdict: some sequence broke an invariant. */
  failed: boolean;
  seed: number;
  /** Sequences run (up to and including the first failure). */
  numRuns: number;
  failure: PropertyFailure | undefined;
  /** The relay could not be used (connection, timeout): no verdict. */
  error: Error | undefined;
  durationMs: number;
  /** What the sequences exercised, summed over every run (shrinking included). */
  stats: Record<string, number>;
}

export const DEFAULT_MAX_COMMANDS = 16;

/** Rate verdicts a relay with its own clock can only give within one window. */
const WINDOW_BOUND: readonly Anchor[] = ['kp-rate-queries', 'kp-rate-served', 'kp-rate-refusal', 'kp-req-handout', 'kp-447-delivery'];

export class ReplayPathError extends Error {}

/**
 * fast-check's run of `property`: `runs` sequences, or with a path the one
 * sequence it names in the seed's tree (the replay of a printed failure).
 */
export async function checkOrReplay<T>(
  property: fc.IAsyncProperty<[T]>,
  opts: { runs: number; seed?: number; path?: string },
  fcPath: string | undefined,
): Promise<fc.RunDetails<[T]>> {
  try {
    return await fc.check(property, {
      numRuns: fcPath === undefined ? opts.runs : 1,
      ...(opts.seed === undefined ? {} : { seed: opts.seed }),
      ...(fcPath === undefined ? {} : { path: fcPath, endOnFailure: true }),
    });
  } catch (err) {
    // fast-check refuses a path that leads nowhere in this seed's tree.
    throw new ReplayPathError(`cannot replay seed ${opts.seed} path ${opts.path}: ${(err as Error).message}`);
  }
}

/** `3:1:0@AAB:1` → fast-check path and commands replay path. */
export function splitPath(path: string | undefined): { fcPath: string | undefined; replayPath: string | undefined } {
  if (path === undefined) return { fcPath: undefined, replayPath: undefined };
  const [fcPath, replayPath, extra] = path.split('@');
  if (extra !== undefined || !/^\d+(:\d+)*$/.test(fcPath ?? '') || (replayPath !== undefined && !/^[A-Za-z0-9+/]+:[A-Za-z0-9+/]*$/.test(replayPath))) {
    throw new ReplayPathError(`--path must look like 12:0:3@AB:C (fast-check path @ commands replay path), got "${path}"`);
  }
  return { fcPath, replayPath };
}

export async function runProperty(opts: PropertyOptions): Promise<PropertyOutcome> {
  const { factory } = opts;
  const { fcPath, replayPath } = splitPath(opts.path);
  let failure: { violation: InvariantViolation; commands: string[] } | undefined;
  let error: Error | undefined;
  const stats = new Map<string, number>();
  const commands = fc.commands([commandArbitrary({ limits: factory.limits, canMoveClock: factory.canMoveClock, exclude: opts.exclude ?? [] })], {
    maxCommands: opts.maxCommands ?? DEFAULT_MAX_COMMANDS,
    // Long sequences reach the rate limits and cross windows.
    size: 'max',
    ...(replayPath === undefined ? {} : { replayPath }),
  });

  const property = fc.asyncProperty(commands, async (cmds: Iterable<Cmd>) => {
    // A relay that stopped answering is not shrunk against: every later run passes at once.
    if (error) return;
    let world: World | undefined;
    try {
      const target = await factory.create();
      world = new World(target);
      const pubkeys = Array.from({ length: ACTORS }, (_, a) => target.events.keys(a).pubkey);
      const model = new Model(factory.limits, target.clock?.nowMs() ?? Date.now(), pubkeys);
      const real = world;
      await fc.asyncModelRun(() => ({ model, real }), cmds);
      await finalAudit(model, world, opts.quietMs ?? 0);
    } catch (err) {
      if (!(err instanceof InvariantViolation)) {
        error = err instanceof Error ? err : new Error(String(err));
        return;
      }
      const elapsedMs = Date.now() - (world?.startedMs ?? Date.now());
      if (!factory.canMoveClock && WINDOW_BOUND.includes(err.anchor) && elapsedMs >= factory.limits.window_seconds * 1000) {
        error = new Error(`a sequence outlasted the relay's ${factory.limits.window_seconds} s rate-limit window, so "${err.message}" cannot be judged`);
        return;
      }
      failure = { violation: err, commands: (world?.executed ?? []).map(String) };
      throw err;
    } finally {
      for (const [k, v] of world?.stats ?? []) stats.set(k, (stats.get(k) ?? 0) + v);
      await world?.close();
      await world?.target.close();
    }
  });

  const started = Date.now();
  const details = await checkOrReplay(property, opts, fcPath);
  const durationMs = Date.now() - started;
  const summary = Object.fromEntries([...stats].sort(([a], [b]) => a.localeCompare(b)));
  if (!details.failed || !failure) {
    // A failure without a violation is fast-check's own (e.g. a replay path that does not fit).
    const own = details.failed && !error ? new Error(`fast-check could not run the property: ${String(details.errorInstance)}`) : undefined;
    return { failed: details.failed, seed: details.seed, numRuns: details.numRuns, failure: undefined, error: error ?? own, durationMs, stats: summary };
  }

  const shown = String(details.counterexample?.[0] ?? '');
  const replay = /replayPath="([^"]*)"/.exec(shown)?.[1];
  const path = `${details.counterexamplePath ?? fcPath ?? '0'}${replay ? `@${replay}` : replayPath ? `@${replayPath}` : ''}`;
  return {
    failed: true,
    seed: details.seed,
    numRuns: details.numRuns,
    failure: {
      anchor: failure.violation.anchor,
      detail: failure.violation.detail,
      commands: failure.commands,
      seed: details.seed,
      path,
      numRuns: details.numRuns,
      numShrinks: details.numShrinks,
    },
    error,
    durationMs,
    stats: summary,
  };
}
