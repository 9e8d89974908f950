/** PROFILE.md §5 Hand-out, shared by REQ and kind 447. */
import { ids } from '../context.js';
import type { ConformanceTest } from '../types.js';
import { KIND } from '../../protocol/profile.js';

const kp = KIND.keyPackage;

export const handoutTests: ConformanceTest[] = [
  {
    id: 'kp-handout-last-resort/req',
    anchor: 'kp-handout-last-resort',
    section: 'Hand-out',
    level: 'MUST',
    requirement:
      "The owner's last remaining stored KeyPackage is handed out but MUST NOT be consumed: it stays stored and is handed out again to the next requester.",
    async run(t) {
      const owner = t.newKeys();
      const [only] = await t.publishKeyPackages(owner, 1);
      const { client: alice } = await t.connectAs('alice');
      const first = await alice.req([{ kinds: [kp], authors: [owner.pubkey] }]);
      t.equal(ids(first.events), ids([only!]), 'the only KeyPackage is handed out to the first requester');
      const { client: bob } = await t.connectAs('bob');
      const second = await bob.req([{ kinds: [kp], authors: [owner.pubkey] }]);
      t.equal(ids(second.events), ids([only!]), 'the same last resort is handed out to the next requester');
      t.equal(ids(await t.inventory(owner)), ids([only!]), 'the owner still has their last KeyPackage');
    },
  },
];
