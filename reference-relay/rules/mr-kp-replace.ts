import type { NostrEvent } from '../../protocol/messages.js';

/** What the replacement rule reads of a version: its kind, id and created_at. */
export type Version = Pick<NostrEvent, 'kind' | 'id' | 'created_at'>;

/**
 * mr-kp-replace (kind 30443 and every addressable kind) and mr-relay-lists
 * (kinds 10050, 10002 and every replaceable kind): whether `event` replaces
 * `stored`, a version of the same slot the relay holds. The current version
 * is the newest by created_at, the lower id on a tie (NIP-01: "the event with
 * the lowest id (first in lexical order) should be retained"), whatever order
 * the versions arrive in. A version that replaces nothing is not stored, and
 * its EVENT is answered `OK true "duplicate: ..."` (PROFILE-MARMOT.md allows
 * that or OK false; true, as NIP-01 answers events a relay already has: the
 * publisher's slot holds something at least as current).
 */
export function replacesVersion(event: Version, stored: Version): boolean {
  return event.created_at > stored.created_at || (event.created_at === stored.created_at && event.id < stored.id);
}
