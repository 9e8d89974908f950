/**
 * Pre-made events for the load roles, made in Node: every KeyPackage is a
 * genuine MLS KeyPackage (ts-mls, which k6 cannot run), and signing costs
 * ~25 ms per event inside k6, so kind 447 requests whose requester and owner
 * are known ahead are signed here too; k6 signs only AUTH. A fixture reaches
 * k6 built into each bundle (load/build.ts) or as a file made for one run
 * (`kpsuite load --driver k6` passes -e FIXTURE=path); the Node driver makes
 * one per run (node/fixture.ts).
 *
 * A run publishes its owners' KeyPackages, which a relay then refuses as
 * "duplicate:" for good, and charges its requesters' rate limits. So a
 * fixture holds `sets` runs' worth of owners and requesters, and a run
 * claims the first set the relay has not seen (scenarios/common.ts claimSet).
 * A set is laid out in units (an owner with its racers, a requester with its
 * owners, a member): an instance of a split test takes its share of the
 * units of a set (shareOf, core/instance.ts), all instances one fixture.
 */
import { TAG } from '../../protocol/profile.js';
import { RelayUnusableError } from './scenario.js';
import { instanceLabel, unitRange, type Instance } from './instance.js';
import type { NostrEvent } from './runtime.js';

/** A pre-made identity: its keys (lowercase hex) and its events, [first, first + count) of the fixture's keyPackages (owners) or requests (requesters). */
export interface FixtureActor {
  secret: string;
  pubkey: string;
  first: number;
  count: number;
}

export interface Fixture {
  /** When it was made (epoch ms); old pools may trip a relay's created_at limits. */
  createdAt: number;
  /** Runs' worth of owners and requesters: each holds `sets` equal slices, one per run. */
  sets: number;
  owners: ArrayLike<FixtureActor>;
  /** By owner, oldest first per owner: publish takes them as one pool. */
  keyPackages: ArrayLike<NostrEvent>;
  requesters: ArrayLike<FixtureActor>;
  /** Signed kind 447s, by requester, in the order the requester sends them. */
  requests: ArrayLike<NostrEvent>;
  notes: ArrayLike<NostrEvent>;
}

/** The fixture as a file or a bundle holds it (plain JSON). */
export interface FixtureFile {
  createdAt: number;
  sets: number;
  owners: FixtureActor[];
  keyPackages: NostrEvent[];
  requesters: FixtureActor[];
  requests: NostrEvent[];
  notes: NostrEvent[];
}

export const EMPTY_FIXTURE: Fixture = { createdAt: 0, sets: 0, owners: [], keyPackages: [], requesters: [], requests: [], notes: [] };

export function toFixtureFile(f: Fixture): FixtureFile {
  const { createdAt, sets } = f;
  return { createdAt, sets, owners: Array.from(f.owners), keyPackages: Array.from(f.keyPackages), requesters: Array.from(f.requesters), requests: Array.from(f.requests), notes: Array.from(f.notes) };
}

/** The i-th item of a pool, wrapping around; undefined for an empty pool. */
export function pick<T>(pool: ArrayLike<T>, i: number): T | undefined {
  return pool.length === 0 ? undefined : pool[((i % pool.length) + pool.length) % pool.length];
}

/** The fixture holds less than these settings need: the run cannot start, reported as not run. */
export class FixtureTooSmallError extends RelayUnusableError {
  constructor(what: string) {
    super(`${what}: run it through kpsuite load (which makes a fixture for the run), or give FIXTURE= a file made for these settings (load/README.md)`);
  }
}

/** This instance's share of a split test is empty: nothing to run here, reported as not run. */
export class EmptyShareError extends RelayUnusableError {
  constructor(what: string, units: number, instance: Instance) {
    super(`${instanceLabel(instance)} gets none of the ${units} ${what}: give a multiple of the instance count (load/README.md, "Splitting a test")`);
  }
}

/** Set `set`'s slice of `actors`. */
export function setOf(actors: ArrayLike<FixtureActor>, sets: number, set: number): FixtureActor[] {
  const per = sets > 0 ? Math.floor(actors.length / sets) : 0;
  return Array.from({ length: per }, (_, i) => actors[set * per + i] as FixtureActor);
}

/** This instance's units of `units` (core/instance.ts); throws EmptyShareError when it gets none. */
export function shareOf(units: number, what: string, instance: Instance): [number, number] {
  const range = unitRange(units, instance);
  if (range[1] <= range[0]) throw new EmptyShareError(what, units, instance);
  return range;
}

/** Up to `n` of the owner's KeyPackages from its `from`-th on, oldest first. */
export function keyPackagesOf(f: Fixture, owner: FixtureActor, n = owner.count, from = 0): NostrEvent[] {
  return Array.from({ length: Math.max(0, Math.min(n, owner.count - from)) }, (_, i) => f.keyPackages[owner.first + from + i] as NostrEvent);
}

/** The requester's `k`-th pre-signed kind 447, when there is one and it names `owner`; undefined means sign it now. */
export function preSigned(f: Fixture, requester: FixtureActor, k: number, owner: string): NostrEvent | undefined {
  const request = k < requester.count ? f.requests[requester.first + k] : undefined;
  return request?.tags.some((t) => t[0] === TAG.pubkey && t[1] === owner) ? request : undefined;
}

/** What a run of a scenario publishes and signs, per set. */
export interface FixtureNeeds {
  /** Runs the fixture serves (default 1). */
  sets?: number;
  owners: number;
  keyPackagesPerOwner: number;
  /** One entry per requester: the owners (indexes within the set) of its kind 447s, in sending order. */
  requests: readonly (readonly number[])[];
  notes: number;
}
