import { isExpired } from '../../protocol/events.js';
import { kindsAskForKeyPackages } from '../../protocol/filter.js';
import type { Filter, NostrEvent } from '../../protocol/messages.js';
import { KIND, type KeyPackageLimits } from '../../protocol/profile.js';
import type { EventStore } from '../store/store.js';
import type { GiftWrapReaders } from './mr-1059-serve.js';

/** What the REQ rules (PROFILE.md §3) read: storage, time, the connection's pubkeys and the limits. */
export interface ReqContext {
  store: EventStore;
  nowSeconds: number;
  /** Pubkeys authenticated on the connection. */
  authenticated: ReadonlySet<string>;
  limits: KeyPackageLimits;
  /** Largest `limit` honoured for ordinary queries (NIP-11 max_limit). */
  maxLimit: number;
  /** Whose gift wraps the connection is served (mr-1059-serve). */
  giftWrapReaders: GiftWrapReaders;
}

/**
 * kp-req-scope: the owners whose KeyPackages a filter asks for. Only a filter
 * whose kinds are exactly [443] asks (not limit 0): for the owners in its
 * `authors`, or without authors, for the owners of the stored KeyPackages its
 * `ids` name.
 */
export function ownersAskedFor(ctx: Pick<ReqContext, 'store' | 'nowSeconds'>, filter: Filter): string[] {
  if (!kindsAskForKeyPackages(filter)) return [];
  if (filter.authors) return [...new Set(filter.authors)];
  if (!filter.ids) return [];
  const owners = filter.ids
    .map((id) => ctx.store.get(id))
    .filter((e): e is NostrEvent => e !== undefined && e.kind === KIND.keyPackage && !isExpired(e, ctx.nowSeconds))
    .map((e) => e.pubkey);
  return [...new Set(owners)];
}
