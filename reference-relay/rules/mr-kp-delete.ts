import { parseAddress, slotOf, type Slot } from '../../protocol/events.js';
import type { NostrEvent } from '../../protocol/messages.js';
import { PREFIX, TAG } from '../../protocol/profile.js';
import type { PublishRule } from './publish.js';
import { Refusal } from './refusal.js';

/** A NIP-09 deletion by `a`: every version of `slot` created at or before `until`. */
export interface SlotDeletion {
  slot: Slot;
  until: number;
}

/**
 * mr-kp-delete, by `a` (the `e` half is kp-del-owner's, in del-owner.ts): the
 * slots a kind 5 deletes: each `a` tag naming a replaceable or addressable
 * slot of the deletion's own author, up to the deletion's created_at (NIP-09:
 * "relays SHOULD delete all versions of the replaceable event up to the
 * `created_at` timestamp of the deletion request event"; a MUST for kind
 * 30443). An `a` naming someone else's slot deletes nothing.
 */
export function slotDeletions(deletion: NostrEvent): SlotDeletion[] {
  return deletion.tags.flatMap(([name, value]) => {
    if (name !== TAG.address || value === undefined) return [];
    const slot = parseAddress(value);
    return slot?.pubkey === deletion.pubkey ? [{ slot, until: deletion.created_at }] : [];
  });
}

/**
 * mr-kp-delete: a version of a slot that its owner deleted by `a`, created at
 * or before that deletion, is never accepted again (`OK false "duplicate: ..."`,
 * as kp-pub-no-replay answers a deleted KeyPackage); a newer version is.
 */
export const rejectDeletedVersion: PublishRule = (ctx, event) => {
  const slot = slotOf(event);
  const until = slot && ctx.store.slotDeletedUntil(slot);
  if (until === undefined || event.created_at > until) return undefined;
  return new Refusal(PREFIX.duplicate, `its owner deleted every version of this slot created at or before ${until} (NIP-09 a tag)`);
};
