import type { NostrEvent } from '../../protocol/messages.js';
import { KIND } from '../../protocol/profile.js';

/**
 * kp-pub-no-broadcast: whether a newly accepted event goes to the live subscriptions of a
 * connection where `authenticated` are signed in. KeyPackages reach others only by hand-out.
 */
export function reachesLiveSubscriptions(event: NostrEvent, authenticated: ReadonlySet<string>): boolean {
  return event.kind !== KIND.keyPackage || authenticated.has(event.pubkey);
}
