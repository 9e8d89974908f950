/** PROFILE.md §7 Deletion, and §2.6 expiry of stored events (NIP-09, NIP-40). */
import { ids, type TestContext } from '../context.js';
import type { ConformanceTest } from '../types.js';
import { eventsText, kpsText, okLine } from '../steps.js';
import { deletion, keyPackage, textNote } from '../../fixtures/events.js';
import type { Keys } from '../../protocol/crypto.js';
import type { NostrEvent } from '../../protocol/messages.js';
import { KIND, TAG } from '../../protocol/profile.js';
import { sendAsClient } from './marmot/steps.js';

const kp = KIND.keyPackage;

/** The owner publishes a kind 5 for `targets` on their own connection; it must be accepted. */
async function ownerDeletes(t: TestContext, owner: Keys, targets: readonly NostrEvent[], kind: number = kp): Promise<void> {
  const { client } = await t.connectAs('owner', owner);
  const reply = await client.publish(deletion(owner, targets.map((e) => e.id), kind));
  t.check(reply.ok, `the owner's kind 5 deletion of ${ids(targets).join(', ')} was refused with ${JSON.stringify(reply.message)}`, '["OK", <id>, true, ""]', okLine(reply));
}

/** What a requester (someone else, authenticated) is handed for the owner. */
async function requesterGets(t: TestContext, owner: Keys): Promise<NostrEvent[]> {
  const { client } = await t.connectAs('requester');
  const res = await client.req([{ kinds: [kp], authors: [owner.pubkey] }]);
  if (!res.eose) t.untested(`a requester's REQ for the owner's KeyPackages was refused (${res.closed ?? ''}), so hand-out cannot be observed`);
  return res.events;
}

export const deletionExpiryTests: ConformanceTest[] = [
  {
    id: 'kp-del-owner/removes',
    anchor: 'kp-del-owner',
    section: 'Deletion and expiry',
    level: 'MUST',
    source: { profile: true, stricterThan: 'NIP-09' },
    async run(t) {
      const owner = t.newKeys();
      const [first, second] = await t.publishKeyPackages(owner, 2);
      await ownerDeletes(t, owner, [first!]);
      const left = await t.inventory(owner);
      t.equal(ids(left), ids([second!]), `after the owner's kind 5 for ${ids([first!])[0]}, the owner's inventory holds ${kpsText(left)}, not just ${ids([second!])[0]}`);
    },
  },
  {
    id: 'kp-del-owner/last-one',
    anchor: 'kp-del-owner',
    section: 'Deletion and expiry',
    level: 'MUST',
    source: { profile: true, stricterThan: 'NIP-09' },
    async run(t) {
      const owner = t.newKeys();
      const [only] = await t.publishKeyPackages(owner, 1);
      await ownerDeletes(t, owner, [only!]);
      const left = await t.inventory(owner);
      t.equal(ids(left), [], `after the owner's kind 5 for their only KeyPackage ${ids([only!])[0]}, the owner's inventory still holds ${kpsText(left)}`);
      const got = await requesterGets(t, owner);
      t.equal(ids(got), [], `after the owner deleted their only KeyPackage ${ids([only!])[0]}, a requester's REQ was handed ${kpsText(got)}: a deleted last KeyPackage was served as a last resort`, got[0]);
    },
  },
  {
    id: 'kp-del-owner/others-cannot',
    anchor: 'kp-del-owner',
    section: 'Deletion and expiry',
    level: 'MUST',
    source: { profile: true, stricterThan: 'NIP-09' },
    async run(t) {
      const owner = t.newKeys();
      const kps = await t.publishKeyPackages(owner, 2);
      const { client, keys: mallory } = await t.connectAs('mallory');
      // Accepted or refused, either is fine; it must remove nothing.
      await client.publish(deletion(mallory, kps.map((e) => e.id)));
      const left = await t.inventory(owner);
      t.equal(ids(left).sort(), ids(kps).sort(), `after mallory's kind 5 naming the owner's ${kps.length} KeyPackages, the owner's inventory holds ${kpsText(left)} of the ${kps.length} published`);
    },
  },
  {
    id: 'kp-pub-expired/stored-expires',
    anchor: 'kp-pub-expired',
    section: 'Deletion and expiry',
    level: 'MUST',
    source: { profile: true, stricterThan: 'NIP-40' },
    async run(t) {
      const { client, keys: owner } = await t.connectAs('owner');
      // 2 to 3 seconds ahead: in the future on arrival, passed within a bounded wait.
      const expiration = Math.ceil(Date.now() / 1000) + 2;
      const event = await keyPackage(owner, { extraTags: [[TAG.expiration, String(expiration)]] });
      const reply = await client.publish(event);
      t.check(reply.ok, `a KeyPackage (${event.id.slice(0, 12)}) whose expiration is 2-3 s ahead was refused with ${JSON.stringify(reply.message)}`, '["OK", <id>, true, ""]', okLine(reply));
      const before = await t.inventory(owner);
      t.equal(ids(before), ids([event]), `before its expiration, the owner's inventory holds ${kpsText(before)}, not just the accepted ${event.id.slice(0, 12)}`);
      const waitMs = expiration * 1000 + 500 - Date.now();
      t.note(`waiting ${waitMs} ms for expiration ${expiration} to pass`);
      t.waitedMs += waitMs;
      await new Promise((resolve) => setTimeout(resolve, waitMs));
      const after = await t.inventory(owner);
      t.equal(ids(after), [], `${waitMs} ms after its expiration passed, the owner's query still returned ${kpsText(after)}`, after[0]);
      const got = await requesterGets(t, owner);
      t.equal(ids(got), [], `after its expiration passed, a requester's REQ was handed ${kpsText(got)}: an expired KeyPackage was served as a last resort`, got[0]);
    },
  },
  {
    id: 'nip-09/owner-deletes-note',
    anchor: 'nip-09',
    section: 'Deletion and expiry',
    level: 'SHOULD',
    requirement: 'Relays SHOULD delete or stop publishing any referenced events that have an identical pubkey as the deletion request.',
    async run(t) {
      const author = t.newKeys();
      // NIP-09 needs no AUTH: the author authenticates only when the relay asks (auth-required:), as a client would.
      const client = await t.connect('author');
      const note = textNote(author, 'a note to delete');
      const kept = textNote(author, 'a note to keep');
      for (const e of [note, kept]) {
        const reply = await sendAsClient(t, client, e, author);
        if (!reply.ok) t.untested(`the relay refused a kind 1 note: ${reply.message}`);
      }
      const del = await sendAsClient(t, client, deletion(author, [note.id], 1), author);
      t.check(del.ok, `the author's kind 5 deletion request for the note ${note.id.slice(0, 12)} was refused with ${JSON.stringify(del.message)}`, '["OK", <id>, true, ""]', okLine(del));
      const reader = await t.connect('reader');
      const res = await reader.req([{ ids: [note.id, kept.id] }]);
      if (!res.eose) t.untested(`the relay refused a REQ by id from a reader nobody authenticated (${res.closed ?? ''}), so what it still serves cannot be read`);
      t.equal(
        ids(res.events),
        ids([kept]),
        `after the author's kind 5 for ${note.id.slice(0, 12)}, a REQ for it and ${kept.id.slice(0, 12)} by id returned ${eventsText(res.events)}, not just ${kept.id.slice(0, 12)}`,
        res.events.find((e) => e.id === note.id),
      );
    },
  },
];
