/**
 * Kind 447 KeyPackage requests (PROFILE.md §4), checked in the order of
 * kp-447-order: AUTH → form → subscription → rate limits → hand-out.
 */
import { matchFilters } from 'nostr-tools/filter';
import { parseKeyPackageRequest } from '../../protocol/keypackage.js';
import type { Filter, NostrEvent } from '../../protocol/messages.js';
import { KIND, PREFIX, reason, TAG } from '../../protocol/profile.js';
import type { HandoutPlan } from '../rules/handout.js';
import type { RelayContext } from './context.js';
import { asServed } from './deliver.js';
import { handOut, streamsThenConsumes } from './handout.js';
import type { Session } from './session.js';

/** kp-447-subscription: a filter that could ever carry this owner's KeyPackages. */
function canReceive(filter: Filter, owner: string): boolean {
  return (filter.kinds === undefined || filter.kinds.includes(KIND.keyPackage)) && (filter.authors === undefined || filter.authors.includes(owner));
}

export async function handleKeyPackageRequest(ctx: RelayContext, session: Session, request: NostrEvent): Promise<void> {
  const { metrics, config } = ctx;
  const started = process.hrtime.bigint();
  const reply = (ok: boolean, message: string): void => session.send(['OK', request.id, ok, message]);
  metrics.requestsReceived.inc({ path: '447' });

  if (config.faults.has('form-before-auth')) {
    // Fault: the form is checked before the signer's AUTH, so a malformed request never hears auth-required.
    const early = parseKeyPackageRequest(request, config.limits.max_per_query);
    if ('problem' in early) {
      reply(false, reason(PREFIX.invalid, early.problem));
      return;
    }
  }
  if (!session.authenticated.has(request.pubkey) && !config.faults.has('no-auth')) {
    metrics.authRefused.inc({ path: '447' });
    reply(false, reason(PREFIX.authRequired, "authenticate as the request's signer (NIP-42) before requesting KeyPackages"));
    return;
  }
  if (config.faults.has('no-p-ok') && !request.tags.some((t) => t[0] === TAG.pubkey)) {
    // Fault: a request naming no owner is taken as one for nobody, answered like an empty one.
    reply(true, 'no owner named: no KeyPackage to deliver');
    return;
  }
  const parsed = parseKeyPackageRequest(request, config.limits.max_per_query);
  if ('problem' in parsed) {
    reply(false, reason(PREFIX.invalid, parsed.problem));
    return;
  }
  const { owner } = parsed;
  // Fault under-delivery: a request without n gets 1, not the max_per_query the profile gives it.
  const count = config.faults.has('under-delivery') && !request.tags.some((t) => t[0] === TAG.count) ? 1 : parsed.count;
  const receiving = [...session.subscriptions.values()].flat().filter((f) => canReceive(f, owner));
  // Fault handout-without-subscription: with nothing to receive them, the owner's KeyPackages are handed out all the same.
  const blind = receiving.length === 0 && config.faults.has('handout-without-subscription');
  const filters: Filter[] = blind ? [{ kinds: [KIND.keyPackage], authors: [owner] }] : receiving;
  if (filters.length === 0) {
    reply(
      false,
      reason(
        PREFIX.invalid,
        `no open subscription here can receive ${owner}'s KeyPackages; open one first, e.g. ["REQ", <sub>, {"kinds":[443],"authors":["${owner}"],"limit":0}]`,
      ),
    );
    return;
  }

  let plan: HandoutPlan;
  let consumeAfterSend = (): Promise<void> => Promise.resolve();
  // Fault owner-447-consumes: the owner being authenticated too is not noticed; the signer's hand-out runs.
  if (session.authenticated.has(owner) && !config.faults.has('owner-447-consumes')) {
    // kp-447-owner: the owner's own query, nothing consumed, nothing charged.
    const { take } = ctx.store.pickKeyPackages(owner, filters, count, 'oldest-first', ctx.nowSeconds());
    plan = { owner, send: take, consume: [], lastResort: undefined };
  } else {
    const outcome = handOut(ctx, [{ owner, max: count, filters, requesters: [request.pubkey] }]);
    if ('refusal' in outcome) {
      metrics.rateLimited.inc({ path: '447', limit: outcome.refusal.limit });
      reply(false, outcome.refusal.message);
      return;
    }
    plan = outcome.plans[0]!;
    consumeAfterSend = outcome.consumeAfterSend;
    metrics.handedOut.inc({ path: '447' }, plan.send.length);
    metrics.consumed.inc({ path: '447' }, plan.consume.length);
    if (plan.lastResort) metrics.lastResortServed.inc({ path: '447' });
    (plan.send.length > 0 ? metrics.requestsFulfilled : metrics.requestsEmpty).inc({ path: '447' });
  }

  const message =
    plan.send.length > 0
      ? `delivered ${plan.send.length} KeyPackage(s)${plan.lastResort ? ', the last of them kept as last resort' : ''}`
      : config.faults.has('silent-empty-447')
        ? '' // fault: nothing says why nothing came
        : `no stored KeyPackage of ${owner} matches an open subscription`;
  const okFirst = config.faults.has('ok-before-delivery');
  if (okFirst) reply(true, message);
  // kp-447-delivery: every matching subscription of this connection gets each KeyPackage.
  // Only a stream-then-consume fault waits for the socket; the reference consumed before sending.
  const send = streamsThenConsumes(ctx)
    ? (subId: string, json: string) => session.sendEventWritten(subId, json)
    : (subId: string, json: string) => Promise.resolve(session.sendEvent(subId, json));
  const written: Promise<void>[] = [];
  for (const kp of plan.send) {
    const served = asServed(ctx, kp);
    for (const [subId, subFilters] of session.subscriptions) {
      if (!matchFilters(subFilters, kp.event)) continue;
      written.push(send(subId, served));
      if (config.faults.has('first-subscription-only')) break; // fault: the other matching subscriptions get nothing
    }
  }
  await Promise.all(written);
  await consumeAfterSend(); // a no-op unless a stream-then-consume fault deferred it
  if (!okFirst) reply(true, message); // kp-447-ok-after-delivery
  metrics.deliveryLatency.observe({ path: '447' }, Number(process.hrtime.bigint() - started) / 1e9);
}
