import type { Filter } from '../../protocol/messages.js';
import type { StoredEvent } from '../store/store.js';
import type { ReqContext } from './req-scope.js';

/**
 * kp-req-unscoped and kp-req-owner: the ordinary NIP-01 answer to a filter
 * (newest first, its limit applied), with KeyPackages only of pubkeys
 * authenticated on the connection, and gift wraps only for their readers
 * (mr-1059-serve). Consumes nothing, charges nothing.
 */
export function ordinaryQuery(ctx: ReqContext, filter: Filter): StoredEvent[] {
  return ctx.store.query(filter, { nowSeconds: ctx.nowSeconds, keyPackageOwners: ctx.authenticated, giftWrapReaders: ctx.giftWrapReaders, maxLimit: ctx.maxLimit });
}
