/** PROFILE-MARMOT.md §6 `mr-coexist`: kp-relay's consumption, rationing and rate limits never touch kind 30443. */
import type { ConformanceTest } from '../../types.js';
import type { TestContext } from '../../context.js';
import { DEFAULT_KEYPACKAGE_LIMITS, KIND } from '../../../protocol/profile.js';
import { exactly, fetchOn, inSection } from './steps.js';
import { servedOf, slots } from './keypackages.js';

/** More charged queries than this would make a test unbounded (as conformance/steps.ts boundedQueries). */
const MAX_QUERIES = 50;

const coexistCase = (side: string, run: (t: TestContext) => Promise<void>): ConformanceTest =>
  inSection('Marmot coexistence')({ anchor: 'mr-coexist', side, level: 'MUST' }, run);

/** An authenticated stranger asks `times` times for the owner's KeyPackages by `kinds`; each REQ and a reader afterwards get every slot. */
async function strangerAsks(t: TestContext, kinds: number[], times: number): Promise<void> {
  const owner = t.newKeys();
  const kps = await slots(t, owner, 3);
  const { client } = await t.connectAs('stranger');
  const what = (n: number): string => `the stranger's REQ ${n} of ${times} for {"kinds": ${JSON.stringify(kinds)}, "authors": [owner]}`;
  for (let n = 1; n <= times; n++) {
    const got = await fetchOn(t, client, { kinds, authors: [owner.pubkey] }, what(n));
    exactly(t, got.filter((e) => e.kind === KIND.marmotKeyPackage), kps, `${what(n)}, of the owner's ${kps.length} KeyPackage slots,`);
  }
  exactly(t, await servedOf(t, owner), kps, `after ${times} such REQs by a stranger, a REQ for the owner's KeyPackages`);
}

export const coexistTests: ConformanceTest[] = [
  // Three slots; an authenticated stranger asks for them three times; every REQ, and a reader afterwards, gets all three.
  coexistCase('kinds-30443', (t) => strangerAsks(t, [KIND.marmotKeyPackage], 3)),
  // The same with a filter that mixes kind 443 in: kp-relay's hand-out must not ration or consume the 30443s.
  coexistCase('kinds-443-30443', (t) => strangerAsks(t, [KIND.keyPackage, KIND.marmotKeyPackage], 3)),
  // One more kind 30443 REQ than kp-relay's queries_per_window (advertised, else its default): none is refused rate-limited:.
  coexistCase('not-charged', async (t) => {
    const q = t.options.limits?.queries_per_window ?? DEFAULT_KEYPACKAGE_LIMITS.queries_per_window;
    if (q > MAX_QUERIES) t.untested(`queries_per_window is ${q}: exceeding it takes more REQs than a bounded test should send`);
    await strangerAsks(t, [KIND.marmotKeyPackage], q + 1);
  }),
];
