/**
 * REQ (PROFILE.md §3): validate → gift-wrap reads (mr-1059-serve) → which
 * owners each filter asks KeyPackages of → AUTH → hand-out (one transaction,
 * refused whole) → EVENTs → EOSE → the subscription stays open for live events.
 */
import { parseFilter } from '../../protocol/filter.js';
import type { Filter } from '../../protocol/messages.js';
import { PREFIX, reason } from '../../protocol/profile.js';
import { Refusal } from '../rules/refusal.js';
import type { ReqContext } from '../rules/req-scope.js';
import type { RelayContext } from './context.js';
import { handOut, observeDelivery, sendHandout, type ChargedAsk } from './handout.js';
import type { Session } from './session.js';

/** The filters of a REQ, or the refusal that answers it. */
function validate(ctx: RelayContext, session: Session, subId: string, rawFilters: readonly unknown[]): Filter[] | Refusal {
  const { config } = ctx;
  if (subId.length > config.maxSubIdLength) return new Refusal(PREFIX.invalid, `subscription ids are at most ${config.maxSubIdLength} characters`);
  if (rawFilters.length === 0) return new Refusal(PREFIX.invalid, 'REQ needs at least one filter');
  const filters: Filter[] = [];
  for (const [i, raw] of rawFilters.entries()) {
    const parsed = parseFilter(raw);
    if ('problem' in parsed) return new Refusal(PREFIX.invalid, `filter ${i + 1}: ${parsed.problem}`);
    filters.push(parsed);
  }
  if (!session.subscriptions.has(subId) && session.subscriptions.size >= config.maxSubscriptions) {
    return new Refusal(PREFIX.restricted, `at most ${config.maxSubscriptions} open subscriptions per connection; CLOSE one first`);
  }
  return filters;
}

export async function handleReq(ctx: RelayContext, session: Session, message: unknown[]): Promise<void> {
  const [, subId, ...rawFilters] = message;
  const { config, metrics, rules } = ctx;
  if (typeof subId !== 'string' || subId.length === 0) {
    session.send(['NOTICE', reason(PREFIX.invalid, 'REQ needs a non-empty subscription id string: ["REQ", <sub>, <filter>...]')]);
    return;
  }
  const filters = validate(ctx, session, subId, rawFilters);
  if (filters instanceof Refusal) {
    session.send(['CLOSED', subId, filters.message]);
    return;
  }
  // A REQ with an id in use replaces that subscription (NIP-01).
  session.subscriptions.delete(subId);
  // mr-1059-serve: gift wraps only their recipient may read, asked for with nobody authenticated: the whole REQ is refused.
  const wrapRefusal = filters.map((filter) => rules.giftWrapReadRefusal(config.giftWrapReads, filter, session.authenticated)).find((r) => r !== undefined);
  if (wrapRefusal) {
    session.send(['CLOSED', subId, wrapRefusal.message]);
    return;
  }

  const started = session.receivedAt();
  const rc: ReqContext = {
    store: ctx.store,
    nowSeconds: ctx.nowSeconds(),
    authenticated: session.authenticated,
    limits: config.limits,
    maxLimit: config.maxLimit,
    giftWrapReaders: rules.giftWrapReaders(config.giftWrapReads, session.authenticated),
  };
  const asking = new Set<Filter>();
  const asks = filters.flatMap((filter) => {
    const owners = rules.ownersAskedFor(rc, filter);
    if (owners.length > 0) asking.add(filter);
    return rules.reqAsks(rc, filter, owners);
  });
  if (asks.length > 0) metrics.requestsReceived.inc({ path: 'req' }, asks.length);

  const requesters = asks.length > 0 ? rules.reqRequesters(session.authenticated, session.id) : [];
  if (requesters instanceof Refusal) {
    metrics.authRefused.inc({ path: 'req' }, asks.length);
    for (const filter of rules.answeredBeforeRefusal(filters, asking)) {
      for (const event of rules.ordinaryQuery(rc, filter)) {
        const behind = session.flowing();
        if (behind) await behind; // no await per event unless the client is behind
        session.sendEvent(subId, event.json);
      }
    }
    session.send(['CLOSED', subId, requesters.message]);
    return;
  }
  const charged: ChargedAsk[] = asks.map((ask) => ({ ...ask, requesters }));
  const outcome = charged.length > 0 ? handOut(ctx, charged) : { plans: [] };
  if ('refusal' in outcome) {
    metrics.rateLimited.inc({ path: 'req', limit: outcome.refusal.limit });
    session.send(['CLOSED', subId, outcome.refusal.message]);
    return;
  }

  // Ordinary answers first, each event once; a KeyPackage this REQ hands out goes out once, with the hand-out.
  const sent = new Set(outcome.plans.flatMap((plan) => plan.send.map((kp) => kp.id)));
  for (const filter of filters) {
    if (filter.limit === 0) continue;
    for (const event of rules.ordinaryQuery(rc, filter)) {
      if (sent.has(event.id)) continue;
      sent.add(event.id);
      const behind = session.flowing();
      if (behind) await behind; // no await per event unless the client is behind
      session.sendEvent(subId, event.json);
    }
  }
  const frames = outcome.plans.flatMap((plan) => plan.send.map((kp): [string, string] => [subId, kp.json]));
  for (const plan of outcome.plans) {
    metrics.handedOut.inc({ path: 'req' }, plan.send.length);
    metrics.consumed.inc({ path: 'req' }, plan.consume.length);
    if (plan.lastResort) metrics.lastResortServed.inc({ path: 'req' });
    (plan.send.length > 0 ? metrics.requestsFulfilled : metrics.requestsEmpty).inc({ path: 'req' });
  }
  await sendHandout(ctx, session, outcome.plans, frames);
  if (outcome.plans.length > 0) observeDelivery(ctx, 'req', started);
  session.send(['EOSE', subId]);
  if (rules.keepsSubscription(outcome.plans)) session.subscriptions.set(subId, filters);
}

export function handleClose(session: Session, message: unknown[]): void {
  const subId = message[1];
  if (typeof subId !== 'string') {
    session.send(['NOTICE', reason(PREFIX.invalid, 'CLOSE needs a subscription id string: ["CLOSE", <sub>]')]);
    return;
  }
  session.subscriptions.delete(subId);
}
