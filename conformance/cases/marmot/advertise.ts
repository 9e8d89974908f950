/** PROFILE-MARMOT.md §7 `mr-advertise`: the NIP-11 `marmot` object and the NIPs the profile rests on. */
import type { TestContext } from '../../context.js';
import type { ConformanceTest } from '../../types.js';
import { MARMOT_PROFILE_VERSION, PROFILES } from '../../../protocol/profile.js';
import { marmotCase } from './steps.js';

const GIFT_WRAP_READS = ['recipient', 'anyone'];
/** NIP-01, NIP-09, NIP-40, NIP-42, NIP-70: everything Marmot asks of relays. */
const MARMOT_NIPS = [1, 9, 40, 42, 70];

/** The NIP-11 document the run fetched (conformance/check.ts prepareRun), noted; a relay without one advertises nothing. */
function documentOf(t: TestContext): Record<string, unknown> {
  const nip11 = t.options.nip11 as Record<string, unknown> | undefined;
  if (nip11 === undefined) t.fail('the relay serves no NIP-11 document, so it advertises no marmot profile', 'a NIP-11 document (Accept: application/nostr+json)', 'none');
  return nip11;
}

const advertiseCase = (side: string, run: (t: TestContext) => void): ConformanceTest =>
  marmotCase({ anchor: 'mr-advertise', side, section: 'Marmot advertising', level: 'SHOULD' }, async (t) => run(t));

export const advertiseTests: ConformanceTest[] = [
  advertiseCase('marmot-object', (t) => {
    // NIP-11 has "marmot": {"profile": "marmot-relay/1", "gift_wrap_reads": "recipient" | "anyone"}.
    const marmot: unknown = documentOf(t)[PROFILES['marmot-relay'].nip11Key];
    t.note(`NIP-11 "marmot": ${JSON.stringify(marmot) ?? 'absent'}`);
    const want = `{"profile": "${MARMOT_PROFILE_VERSION}", "gift_wrap_reads": "recipient" or "anyone"}`;
    if (typeof marmot !== 'object' || marmot === null || Array.isArray(marmot)) t.fail('the NIP-11 document has no "marmot" object', want, JSON.stringify(marmot) ?? 'absent');
    const { profile, gift_wrap_reads: reads } = marmot as Record<string, unknown>;
    t.equal(profile, MARMOT_PROFILE_VERSION, `NIP-11 "marmot" names the profile ${JSON.stringify(profile) ?? '(none)'}, not "${MARMOT_PROFILE_VERSION}"`);
    t.check(GIFT_WRAP_READS.includes(reads as string), `NIP-11 "marmot" has gift_wrap_reads ${JSON.stringify(reads) ?? '(none)'}, neither "recipient" nor "anyone"`, want, JSON.stringify(marmot));
  }),
  advertiseCase('supported-nips', (t) => {
    // NIP-11 supported_nips lists 1, 9, 40, 42 and 70.
    const listed: unknown = documentOf(t).supported_nips;
    const missing = MARMOT_NIPS.filter((n) => !(Array.isArray(listed) && listed.includes(n)));
    t.equal(missing, [], `NIP-11 supported_nips (${JSON.stringify(listed) ?? 'absent'}) does not list NIP ${missing.join(', ')}`);
  }),
];
