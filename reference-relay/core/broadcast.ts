import { matchFilters } from 'nostr-tools/filter';
import type { NostrEvent } from '../../protocol/messages.js';
import type { RelayContext } from './context.js';

/** Sends a newly accepted event to the matching live subscriptions the rules let it reach (kp-pub-no-broadcast). */
export function broadcast(ctx: RelayContext, event: NostrEvent): void {
  for (const session of ctx.sessions) {
    if (!ctx.rules.reachesLiveSubscriptions(event, session.authenticated)) continue;
    for (const [subId, filters] of session.subscriptions) {
      if (matchFilters(filters, event)) session.send(['EVENT', subId, event]);
    }
  }
}
