import type { Filter } from '../../protocol/messages.js';
import type { HandoutAsk } from './handout.js';
import type { ReqContext } from './req-scope.js';

/**
 * kp-req-handout (with kp-req-owner): the hand-outs one filter makes: one per
 * owner it asks for who is not authenticated here (an authenticated owner's
 * own KeyPackages come by the ordinary query), each up to
 * min(limit, max_per_query) of that owner's.
 */
export function reqAsks(ctx: ReqContext, filter: Filter, owners: readonly string[]): HandoutAsk[] {
  const max = Math.min(filter.limit ?? ctx.limits.max_per_query, ctx.limits.max_per_query);
  return owners.filter((owner) => !ctx.authenticated.has(owner)).map((owner) => ({ owner, max, filters: [filter] }));
}
