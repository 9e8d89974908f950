import { matchFilters } from 'nostr-tools/filter';
import type { NostrEvent } from '../../protocol/messages.js';
import { KIND } from '../../protocol/profile.js';
import type { RelayContext } from './context.js';

/** Sends a newly accepted event to matching live subscriptions. */
export function broadcast(ctx: RelayContext, event: NostrEvent): void {
  const fanOutKeyPackages = ctx.config.faults.has('broadcast-live');
  for (const session of ctx.sessions) {
    // kp-pub-no-broadcast: KeyPackages reach others only by hand-out.
    if (event.kind === KIND.keyPackage && !fanOutKeyPackages && !session.authenticated.has(event.pubkey)) continue;
    for (const [subId, filters] of session.subscriptions) {
      if (matchFilters(filters, event)) session.send(['EVENT', subId, event]);
    }
  }
}
