/** What a conformance test declares; what a run records of it is report/schema.ts. */
import type { Level, Section } from '../report/schema.js';
import type { TestContext } from './context.js';

export interface ConformanceTest {
  /** Stable id: the anchor, a slash, and which side of the rule (e.g. `kp-handout-last-resort/req`). */
  id: string;
  /** PROFILE.md anchor (`kp-…`) or NIP section (`nip-01`, `nip-42`, …). */
  anchor: string;
  section: Section;
  level: Level;
  /** The normative sentence this test checks, quoted from PROFILE.md or the NIP. */
  requirement: string;
  /** Needs the relay's KeyPackage limits (from NIP-11 or flags); untested without them. */
  needsLimits?: boolean;
  run(t: TestContext): Promise<void>;
}
