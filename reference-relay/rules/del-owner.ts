import { HEX64 } from '../../protocol/events.js';
import type { NostrEvent } from '../../protocol/messages.js';
import { KIND, TAG } from '../../protocol/profile.js';
import type { EventStore } from '../store/store.js';

/** kp-del-owner: a kind 5 removes only events of its own author. */
export function deletesOnlyOwn(deletion: NostrEvent, target: NostrEvent): boolean {
  return target.pubkey === deletion.pubkey;
}

/**
 * NIP-09: removes the events the deletion's `e` and `a` tags name, as far as
 * `mayDelete` allows (kp-del-owner), and tombstones the ids so they are never
 * accepted again (kp-pub-no-replay). Call inside the transaction that stores the deletion.
 */
export function applyDeletion(
  store: EventStore,
  deletion: NostrEvent,
  nowSeconds: number,
  mayDelete: (deletion: NostrEvent, target: NostrEvent) => boolean,
): void {
  for (const [name, value] of deletion.tags) {
    if (name === TAG.event && value !== undefined && HEX64.test(value)) {
      const target = store.get(value);
      if (target && (target.kind === KIND.deletion || !mayDelete(deletion, target))) continue;
      store.remove([value]);
      // Keyed by the deleter: a stranger's tombstone never shadows the owner's event (kp-del-owner).
      store.addTombstone(value, deletion.pubkey, 'deleted', nowSeconds);
    } else if (name === TAG.address && value !== undefined) {
      const [kind, pubkey, ...d] = value.split(':');
      if (pubkey === deletion.pubkey && kind !== undefined && /^\d+$/.test(kind)) {
        store.removeAddress(Number(kind), pubkey, d.join(':'), deletion.created_at);
      }
    }
  }
}
