/** What a conformance test declares; what a run records of it is report/schema.ts. */
import type { Level, Section, TestSource } from '../report/schema.js';
import type { TestContext } from './context.js';

export interface ConformanceTest {
  /** Stable id: the anchor, a slash, and which side of the rule (e.g. `kp-handout-last-resort/req`). */
  id: string;
  /** Profile anchor (`kp-…` in PROFILE.md, `mr-…` in PROFILE-MARMOT.md) or NIP section (`nip-01`, `nip-42`, …). */
  anchor: string;
  section: Section;
  level: Level;
  /**
   * The normative sentence this test checks. NIP anchors quote the NIP. Profile
   * anchors leave it out: it is read from their profile's file (conformance/requirements.ts);
   * a quote given anyway must be there word for word (a test checks).
   */
  requirement?: string;
  /** The text that backs the verdict; default from the anchor (`nip-NN` → that NIP, `kp-…` → the profile). */
  source?: TestSource;
  /** Needs the relay's KeyPackage limits (from NIP-11 or flags); untested without them. */
  needsLimits?: boolean;
  run(t: TestContext): Promise<void>;
}
