import { HEX64 } from '../../protocol/events.js';
import type { NostrEvent } from '../../protocol/messages.js';
import { KIND, TAG } from '../../protocol/profile.js';
import type { EventStore } from '../store/store.js';
import type { SlotDeletion } from './mr-kp-delete.js';

/** kp-del-owner: a kind 5 removes only events of its own author. */
export function deletesOnlyOwn(deletion: NostrEvent, target: NostrEvent): boolean {
  return target.pubkey === deletion.pubkey;
}

/** The rules a deletion is applied by. */
export interface DeletionRules {
  /** kp-del-owner, for `e` tags. */
  mayDelete(deletion: NostrEvent, target: NostrEvent): boolean;
  /** mr-kp-delete, for `a` tags. */
  slotDeletions(deletion: NostrEvent): SlotDeletion[];
}

/**
 * NIP-09: removes the events the deletion's `e` tags name, as far as
 * `mayDelete` allows (kp-del-owner), and tombstones the ids so they are never
 * accepted again (kp-pub-no-replay); then the slots its `a` tags name, up to
 * its created_at (mr-kp-delete), remembered so older versions stay out. Call
 * inside the transaction that stores the deletion.
 */
export function applyDeletion(store: EventStore, deletion: NostrEvent, nowSeconds: number, rules: DeletionRules): void {
  for (const [name, value] of deletion.tags) {
    if (name !== TAG.event || value === undefined || !HEX64.test(value)) continue;
    const target = store.get(value);
    if (target && (target.kind === KIND.deletion || !rules.mayDelete(deletion, target))) continue;
    store.remove([value]);
    // Keyed by the deleter: a stranger's tombstone never shadows the owner's event (kp-del-owner).
    store.addTombstone(value, deletion.pubkey, 'deleted', nowSeconds);
  }
  for (const { slot, until } of rules.slotDeletions(deletion)) store.deleteSlot(slot, until);
}
