/**
 * Kind 447 KeyPackage requests (PROFILE.md §4): review (kp-447-order) →
 * the owner's query or a charged hand-out → deliveries and OK, in the order
 * the rules say.
 */
import type { NostrEvent } from '../../protocol/messages.js';
import { PREFIX } from '../../protocol/profile.js';
import { Answer, reviewRequest } from '../rules/447-order.js';
import { ownersDelivery } from '../rules/447-owner.js';
import type { HandoutPlan } from '../rules/handout.js';
import { Refusal } from '../rules/refusal.js';
import type { RelayContext } from './context.js';
import { handOut, observeDelivery, sendHandout } from './handout.js';
import type { Session } from './session.js';

export async function handleKeyPackageRequest(ctx: RelayContext, session: Session, request: NostrEvent): Promise<void> {
  const { metrics, config, rules, store } = ctx;
  const started = session.receivedAt();
  const reply = (ok: boolean, message: string): void => session.send(['OK', request.id, ok, message]);
  metrics.requestsReceived.inc({ path: '447' });

  const verdict = reviewRequest(rules.requestChecks, {
    request,
    authenticated: session.authenticated,
    subscriptions: session.subscriptions.values(),
    maxPerQuery: config.limits.max_per_query,
  });
  if (verdict instanceof Refusal) {
    if (verdict.prefix === PREFIX.authRequired) metrics.authRefused.inc({ path: '447' });
    reply(false, verdict.message);
    return;
  }
  if (verdict instanceof Answer) {
    reply(true, verdict.message);
    return;
  }
  const { owner, count, filters } = verdict;
  const ask = { owner, max: count, filters };
  let plan: HandoutPlan;
  if (rules.isOwnersRequest(session.authenticated, owner)) {
    plan = ownersDelivery(rules.planHandout(store, ask, ctx.nowSeconds()));
  } else {
    const outcome = handOut(ctx, [{ ...ask, requesters: [request.pubkey] }]);
    if ('refusal' in outcome) {
      metrics.rateLimited.inc({ path: '447', limit: outcome.refusal.limit });
      reply(false, outcome.refusal.message);
      return;
    }
    plan = outcome.plans[0]!;
    metrics.handedOut.inc({ path: '447' }, plan.send.length);
    metrics.consumed.inc({ path: '447' }, plan.consume.length);
    if (plan.lastResort) metrics.lastResortServed.inc({ path: '447' });
    (plan.send.length > 0 ? metrics.requestsFulfilled : metrics.requestsEmpty).inc({ path: '447' });
  }

  const frames = rules.deliveries(session.subscriptions, plan.send).map(({ subId, kp }): [string, string] => [subId, kp.json]);
  for (const part of rules.requestAnswerOrder) {
    if (part === 'ok') reply(true, rules.requestOkMessage(plan));
    else await sendHandout(ctx, session, [plan], frames);
  }
  observeDelivery(ctx, '447', started);
}
