/** PROFILE-MARMOT.md §4 `mr-relay-lists`: kinds 10050 and 10002 are replaceable, the newest served to anyone. */
import type { ConformanceTest } from '../../types.js';
import { okLine } from '../../steps.js';
import { nowSeconds } from '../../../client/relay-client.js';
import { KIND } from '../../../protocol/profile.js';
import { relayList } from '../../../fixtures/marmot.js';
import { anyoneFetches, exactly, marmotCase, publishAll, publishOn, sendAsClient, short } from './steps.js';

const LISTS = [
  { kind: KIND.inboxRelays, name: 'inbox relay list (kind 10050)' },
  { kind: KIND.relayList, name: 'NIP-65 relay list (kind 10002)' },
] as const;

export const relayListTests: ConformanceTest[] = LISTS.map(({ kind, name }) =>
  marmotCase({ anchor: 'mr-relay-lists', side: String(kind), section: 'Marmot relay lists', level: 'MUST' }, async (t) => {
    // Version 1 then version 2 (10 s newer): a reader nobody authenticated gets version 2 alone;
    // then version 0 (10 s older than 1) arrives: still version 2 alone.
    const owner = t.newKeys();
    const newest = nowSeconds() - 60;
    const [v0, v1, v2] = [20, 10, 0].map((age, i) => relayList(owner, kind, [`wss://relay${i}.example.com`], newest - age));
    const client = await publishAll(t, [v1!], { author: owner, what: `a ${name}` });
    await publishOn(t, client, v2!, { author: owner, what: `a newer ${name}` });
    const filter = { kinds: [kind], authors: [owner.pubkey] };
    const what = `a REQ for the owner's ${name}`;
    exactly(t, await anyoneFetches(t, filter, what), [v2!], `after ${short(v1!)} and the newer ${short(v2!)}, ${what}`);
    const reply = await sendAsClient(t, client, v0!, owner);
    exactly(t, await anyoneFetches(t, filter, what), [v2!], `the older ${short(v0!)} arrived after ${short(v2!)} (answered ${okLine(reply)}); then ${what}`);
  }),
);
