/**
 * The pre-signed pools of a k6 bundle. load/build.ts replaces this module
 * per scenario with one whose function returns the pools signed at build
 * time; as written (type-checking, tests) there are none.
 */
import type { NostrEvent } from '../core/runtime.js';

export interface FixtureFile {
  createdAt: number;
  keyPackages: NostrEvent[];
  notes: NostrEvent[];
}

/** A function, not a constant: only the VU that fills the SharedArrays materializes the pools. */
export function bundledFixture(): FixtureFile | undefined {
  return undefined;
}
