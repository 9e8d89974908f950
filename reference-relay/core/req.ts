/**
 * REQ (PROFILE.md §3): validate → split each filter into its ordinary part and
 * the owners it asks KeyPackages of → AUTH → hand-out (one transaction, refused
 * whole) → EVENTs → EOSE → the subscription stays open for live events.
 */
import { isExpired } from '../../protocol/events.js';
import { parseFilter } from '../../protocol/filter.js';
import type { Filter, NostrEvent } from '../../protocol/messages.js';
import { KIND, PREFIX, reason } from '../../protocol/profile.js';
import type { StoredEvent } from '../store/store.js';
import type { RelayContext } from './context.js';
import { asServed } from './deliver.js';
import { handOut, softConsumedMatching, streamsThenConsumes, type ChargedAsk } from './handout.js';
import type { Session } from './session.js';

/** kp-req-scope: the owners whose KeyPackages this filter asks for. */
export function ownersAskedFor(ctx: RelayContext, filter: Filter): string[] {
  if (filter.limit === 0 || !filter.kinds?.includes(KIND.keyPackage)) return [];
  if (filter.authors) return [...new Set(filter.authors)];
  if (!filter.ids) return [];
  const now = ctx.nowSeconds();
  const owners = filter.ids
    .map((id) => ctx.store.get(id))
    .filter((e): e is NostrEvent => e !== undefined && e.kind === KIND.keyPackage && !isExpired(e, now))
    .map((e) => e.pubkey);
  return [...new Set(owners)];
}

export async function handleReq(ctx: RelayContext, session: Session, message: unknown[]): Promise<void> {
  const [, subId, ...rawFilters] = message;
  const { config, metrics } = ctx;
  if (typeof subId !== 'string' || subId.length === 0) {
    session.send(['NOTICE', reason(PREFIX.invalid, 'REQ needs a non-empty subscription id string: ["REQ", <sub>, <filter>...]')]);
    return;
  }
  const closed = (prefix: Parameters<typeof reason>[0], text: string): void => session.send(['CLOSED', subId, reason(prefix, text)]);
  if (subId.length > config.maxSubIdLength) {
    closed(PREFIX.invalid, `subscription ids are at most ${config.maxSubIdLength} characters`);
    return;
  }
  if (rawFilters.length === 0) {
    closed(PREFIX.invalid, 'REQ needs at least one filter');
    return;
  }
  const filters: Filter[] = [];
  for (const [i, raw] of rawFilters.entries()) {
    const parsed = parseFilter(raw);
    if ('problem' in parsed) {
      if (config.faults.has('crash-on-bad-filter')) {
        // Fault: what a relay process that dies on a bad filter does to every connection.
        for (const s of ctx.sessions) s.closeConnection(1011, 'internal error');
        return;
      }
      closed(PREFIX.invalid, `filter ${i + 1}: ${parsed.problem}`);
      return;
    }
    filters.push(parsed);
  }
  if (!session.subscriptions.has(subId) && session.subscriptions.size >= config.maxSubscriptions) {
    closed(PREFIX.restricted, `at most ${config.maxSubscriptions} open subscriptions per connection; CLOSE one first`);
    return;
  }
  // A REQ with an id in use replaces that subscription (NIP-01).
  session.subscriptions.delete(subId);

  const started = process.hrtime.bigint();
  const requesters = [...session.authenticated];
  const asks: ChargedAsk[] = [];
  for (const filter of filters) {
    const max = Math.min(filter.limit ?? config.limits.max_per_query, config.limits.max_per_query);
    let budget = max;
    for (const owner of ownersAskedFor(ctx, filter)) {
      if (session.authenticated.has(owner)) continue; // kp-req-owner: served by the ordinary query below
      // Fault limit-per-filter: the owners a filter names share one limit, as a NIP-01 limit is per filter.
      const ownerMax = config.faults.has('limit-per-filter') ? availableFor(ctx, owner, filter, budget) : max;
      budget -= ownerMax;
      asks.push({ owner, max: ownerMax, filters: [config.faults.has('ids-as-authors') ? ownerWide(filter, owner) : filter], requesters });
    }
  }
  if (asks.length > 0) metrics.requestsReceived.inc({ path: 'req' }, asks.length);

  if (asks.length > 0 && requesters.length === 0) {
    if (!config.faults.has('no-auth')) {
      metrics.authRefused.inc({ path: 'req' }, asks.length);
      if (config.faults.has('partial-refusal')) answerUnrefused(ctx, session, subId, filters);
      closed(PREFIX.authRequired, 'asking for other people\'s KeyPackages (kind 443) needs NIP-42 AUTH first');
      return;
    }
    // Fault: serve an unauthenticated connection, charging a pseudonym.
    for (const ask of asks) ask.requesters = [`anonymous:${session.id}`];
  }

  const outcome = asks.length > 0 ? handOut(ctx, asks) : { plans: [], consumeAfterSend: () => Promise.resolve() };
  if ('refusal' in outcome) {
    metrics.rateLimited.inc({ path: 'req', limit: outcome.refusal.limit });
    closed(PREFIX.rateLimited, outcome.refusal.detail);
    return;
  }

  const sent = new Set<string>();
  const queryOpts = { nowSeconds: ctx.nowSeconds(), keyPackageOwners: session.authenticated, maxLimit: config.maxLimit };
  for (const filter of filters) {
    if (filter.limit === 0) continue;
    // Fault serve-unscoped: a kind 443 filter naming no authors or ids gets everyone's KeyPackages.
    const unscoped = config.faults.has('serve-unscoped') && filter.kinds?.includes(KIND.keyPackage) && !filter.authors && !filter.ids;
    const found = [
      ...(ownOldestFirst(ctx, session, filter) ?? ctx.store.query(filter, unscoped ? { ...queryOpts, keyPackageOwners: 'everyone' } : queryOpts)),
      // Not what this REQ itself hands out: that goes out once, below.
      ...softConsumedMatching(ctx, filter).filter((e) => !outcome.plans.some((p) => p.send.includes(e))),
    ];
    for (const event of found) {
      if (sent.has(event.id)) continue;
      sent.add(event.id);
      session.sendEvent(subId, event.json);
    }
  }
  // Only a stream-then-consume fault waits for the socket; the reference consumed before sending.
  const send = streamsThenConsumes(ctx)
    ? (json: string) => session.sendEventWritten(subId, json)
    : (json: string) => Promise.resolve(session.sendEvent(subId, json));
  const written: Promise<void>[] = [];
  for (const plan of outcome.plans) {
    for (const kp of plan.send) written.push(send(asServed(ctx, kp)));
    metrics.handedOut.inc({ path: 'req' }, plan.send.length);
    metrics.consumed.inc({ path: 'req' }, plan.consume.length);
    if (plan.lastResort) metrics.lastResortServed.inc({ path: 'req' });
    (plan.send.length > 0 ? metrics.requestsFulfilled : metrics.requestsEmpty).inc({ path: 'req' });
  }
  await Promise.all(written);
  await outcome.consumeAfterSend(); // a no-op unless a stream-then-consume fault deferred it
  if (outcome.plans.length > 0) metrics.deliveryLatency.observe({ path: 'req' }, Number(process.hrtime.bigint() - started) / 1e9);
  session.send(['EOSE', subId]);
  // Fault one-shot-handout: a REQ that asked for others' KeyPackages is dropped after EOSE, silently.
  if (config.faults.has('one-shot-handout') && outcome.plans.length > 0) return;
  session.subscriptions.set(subId, filters);
}

/** Fault ids-as-authors: a filter's ids only say whose KeyPackages it asks for; any of theirs qualifies. */
function ownerWide(filter: Filter, owner: string): Filter {
  const wide: Filter = { ...filter, authors: [owner] };
  delete wide.ids;
  return wide;
}

/** Fault partial-refusal: the filters of a refused REQ that ask for no KeyPackages are answered before its CLOSED. */
function answerUnrefused(ctx: RelayContext, session: Session, subId: string, filters: readonly Filter[]): void {
  const opts = { nowSeconds: ctx.nowSeconds(), keyPackageOwners: session.authenticated, maxLimit: ctx.config.maxLimit };
  for (const filter of filters) {
    if (filter.limit === 0 || ownersAskedFor(ctx, filter).length > 0) continue;
    for (const event of ctx.store.query(filter, opts)) session.sendEvent(subId, event.json);
  }
}

/** Fault limit-per-filter: how many of `owner`'s stored KeyPackages `filter` matches, counted up to `atMost`. */
function availableFor(ctx: RelayContext, owner: string, filter: Filter, atMost: number): number {
  return ctx.store.pickKeyPackages(owner, [filter], atMost, 'oldest-first', ctx.nowSeconds()).take.length;
}

/**
 * Fault owner-oldest-first: an owner's query for their own KeyPackages is answered in
 * hand-out order (oldest first, limit applied to that) instead of by NIP-01 rules.
 */
function ownOldestFirst(ctx: RelayContext, session: Session, filter: Filter): StoredEvent[] | undefined {
  if (!ctx.config.faults.has('owner-oldest-first') || !filter.kinds?.includes(KIND.keyPackage) || !filter.authors) return undefined;
  const own = filter.authors.filter((a) => session.authenticated.has(a));
  if (own.length === 0) return undefined;
  const now = ctx.nowSeconds();
  const limit = Math.min(filter.limit ?? ctx.config.maxLimit, ctx.config.maxLimit);
  const kps = [...new Set(own)].flatMap((o) => ctx.store.pickKeyPackages(o, [filter], limit, 'oldest-first', now).take);
  return kps.slice(0, limit);
}

export function handleClose(session: Session, message: unknown[]): void {
  const subId = message[1];
  if (typeof subId !== 'string') {
    session.send(['NOTICE', reason(PREFIX.invalid, 'CLOSE needs a subscription id string: ["CLOSE", <sub>]')]);
    return;
  }
  session.subscriptions.delete(subId);
}
