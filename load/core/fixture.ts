/**
 * Pre-signed events for the load roles. Signing costs ~25 ms per event
 * inside k6, so whatever can be reused is signed in Node: at build time into
 * the bundle, or fresh per run by `kpsuite load` (passed as -e FIXTURE=path).
 * Only material that survives reuse goes here: KeyPackages that are
 * published and never requested (re-publishing one gets `OK true
 * "duplicate:"`) and kind 1 notes. Anything a run consumes is signed per run.
 */
import type { NostrEvent } from './runtime.js';

export interface Fixture {
  /** When it was signed (epoch ms); old pools may trip a relay's created_at limits. */
  createdAt: number;
  /** KeyPackages of `owners` owners, consecutive by owner. */
  keyPackages: ArrayLike<NostrEvent>;
  notes: ArrayLike<NostrEvent>;
}

export const EMPTY_FIXTURE: Fixture = { createdAt: 0, keyPackages: [], notes: [] };

/** The i-th item of a pool, wrapping around; undefined for an empty pool. */
export function pick<T>(pool: ArrayLike<T>, i: number): T | undefined {
  return pool.length === 0 ? undefined : pool[((i % pool.length) + pool.length) % pool.length];
}

/** Pool sizes a scenario wants for its default rate and duration. */
export interface FixtureNeeds {
  keyPackages: number;
  notes: number;
}
