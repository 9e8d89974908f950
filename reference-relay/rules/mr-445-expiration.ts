import { expirationOf } from '../../protocol/events.js';
import type { NostrEvent } from '../../protocol/messages.js';

/**
 * mr-445-expiration (and the serving half of kp-pub-expired, for every kind):
 * the unix second from which a stored event is no longer served, its NIP-40
 * `expiration`; undefined: served until replaced or deleted. The store leaves
 * events out of every answer from then on, and the relay's periodic sweep
 * (RelayCore.sweep, every `sweepIntervalMs`) deletes them. One that arrives
 * already expired is refused by kp-pub-expired (rejectExpired), as NIP-40 asks.
 */
export function servedUntil(event: NostrEvent): number | undefined {
  return expirationOf(event);
}
