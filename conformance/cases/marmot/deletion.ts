/** PROFILE-MARMOT.md §1.5 `mr-kp-delete`: the owner's NIP-09 kind 5 removes KeyPackages by `e` and by `a`. */
import type { TestContext } from '../../context.js';
import type { ConformanceTest } from '../../types.js';
import { okLine } from '../../steps.js';
import type { Keys } from '../../../protocol/crypto.js';
import type { NostrEvent } from '../../../protocol/messages.js';
import { slotAddress, slotDeletion } from '../../../fixtures/marmot.js';
import { exactly, marmotCase, publishOn, sendAsClient, short } from './steps.js';
import { ownerPublishes, servedOf, slots, versions } from './keypackages.js';

/** The owner's kind 5, on a connection of its own; it must be accepted. */
async function ownerDeletes(t: TestContext, owner: Keys, deletion: NostrEvent, what: string): Promise<void> {
  const client = await t.connect('owner');
  const reply = await sendAsClient(t, client, deletion, owner);
  t.check(reply.ok, `the owner's kind 5 ${what} (${short(deletion)}) was refused with ${JSON.stringify(reply.message)}`, '["OK", <id>, true, ""]', okLine(reply));
}

/** One mr-kp-delete test: the profile makes NIP-09's SHOULDs a MUST for kind 30443. */
const deleteCase = (side: string, run: (t: TestContext) => Promise<void>): ConformanceTest =>
  marmotCase({ anchor: 'mr-kp-delete', side, section: 'Marmot KeyPackages (kind 30443)', level: 'MUST', source: { profile: true, stricterThan: 'NIP-09' } }, run);

export const deletionTests: ConformanceTest[] = [
  deleteCase('by-e', async (t) => {
    // Slots A and B; the owner's kind 5 names A by `e`; a reader gets B alone.
    const owner = t.newKeys();
    const [a, b] = await slots(t, owner, 2);
    await ownerDeletes(t, owner, slotDeletion(owner, { ids: [a!.id] }), `naming ${short(a!)} by e`);
    exactly(t, await servedOf(t, owner), [b!], `after the owner's kind 5 naming ${short(a!)} by e, a REQ for the owner's KeyPackages`);
  }),
  deleteCase('by-a', async (t) => {
    // A slot's version from a minute ago; the owner's kind 5 names the slot by `a`, dated 30 s later; nothing of the slot is served.
    const owner = t.newKeys();
    const [v] = await versions(owner, 1);
    await ownerPublishes(t, owner, [v!]);
    await ownerDeletes(t, owner, slotDeletion(owner, { addresses: [slotAddress(v!)] }, v!.created_at + 30), `naming the slot ${slotAddress(v!).slice(0, 24)}… by a`);
    exactly(t, await servedOf(t, owner), [], `after the owner's kind 5 naming the slot by a (dated 30 s after its version ${short(v!)}), a REQ for the owner's KeyPackages`);
  }),
  deleteCase('by-a-spares-newer', async (t) => {
    // A slot's version; the owner's kind 5 names the slot by `a` but is dated 30 s before that version: the version stays.
    const owner = t.newKeys();
    const [v] = await versions(owner, 1);
    await ownerPublishes(t, owner, [v!]);
    await ownerDeletes(t, owner, slotDeletion(owner, { addresses: [slotAddress(v!)] }, v!.created_at - 30), 'naming the slot by a, dated before its version');
    exactly(t, await servedOf(t, owner), [v!], `after the owner's kind 5 naming the slot by a, dated 30 s before its version ${short(v!)}, a REQ for the owner's KeyPackages`);
  }),
  deleteCase('newer-after-a', async (t) => {
    // Version 1 of a slot; the owner deletes the slot by `a` (dated 5 s after it); version 2, dated 5 s after the deletion, is accepted and served.
    const owner = t.newKeys();
    const [v1, v2] = await versions(owner, 2);
    const client = await ownerPublishes(t, owner, [v1!]);
    await ownerDeletes(t, owner, slotDeletion(owner, { addresses: [slotAddress(v1!)] }, v1!.created_at + 5), 'naming the slot by a');
    await publishOn(t, client, v2!, { author: owner, what: 'a version of the slot newer than its a-deletion' });
    exactly(t, await servedOf(t, owner), [v2!], `after the slot's a-deletion and its newer version ${short(v2!)}, a REQ for the owner's KeyPackages`);
  }),
  deleteCase('others-cannot', async (t) => {
    // Slots A and B; mallory's kind 5 names A by `e` and B by `a`, accepted or not; a reader still gets both.
    const owner = t.newKeys();
    const kps = await slots(t, owner, 2);
    const mallory = t.newKeys();
    const client = await t.connect('mallory');
    const reply = await sendAsClient(t, client, slotDeletion(mallory, { ids: [kps[0]!.id], addresses: [slotAddress(kps[1]!)] }), mallory);
    t.note(`mallory's kind 5 was answered ${okLine(reply)}`);
    exactly(t, await servedOf(t, owner), kps, "after mallory's kind 5 naming the owner's slots by e and a, a REQ for the owner's KeyPackages");
  }),
];
