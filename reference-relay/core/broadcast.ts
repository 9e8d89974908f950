import { matchesAnyFilter } from '../../protocol/filter.js';
import type { NostrEvent } from '../../protocol/messages.js';
import { mayReceive } from '../rules/mr-1059-serve.js';
import type { RelayContext } from './context.js';

/** Sends a newly accepted event to the matching live subscriptions the rules let it reach (kp-pub-no-broadcast, mr-1059-serve). */
export function broadcast(ctx: RelayContext, event: NostrEvent): void {
  const { rules, config } = ctx;
  for (const session of ctx.sessions) {
    if (!rules.reachesLiveSubscriptions(event, session.authenticated)) continue;
    if (!mayReceive(rules.giftWrapReaders(config.giftWrapReads, session.authenticated), event)) continue;
    for (const [subId, filters] of session.subscriptions) {
      if (matchesAnyFilter(filters, event)) session.send(['EVENT', subId, event]);
    }
  }
}
