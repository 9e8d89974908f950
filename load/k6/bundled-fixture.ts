/**
 * The pre-made pools of a k6 bundle. load/build.ts replaces this module
 * per scenario with one whose function returns the pools made at build
 * time; as written (type-checking, tests) there are none.
 */
import type { FixtureFile } from '../core/fixture.js';

/** A function, not a constant: only the VU that fills the SharedArrays materializes the pools. */
export function bundledFixture(): FixtureFile | undefined {
  return undefined;
}
