/**
 * One hand-out step for REQ and 447 alike: plan every owner's hand-out, check
 * the rate limits, consume and charge, all in one SQLite transaction, before
 * anything is sent (kp-handout-consume, kp-handout-exactly-once, kp-rate-*).
 */
import { commitHandout, planHandout, type HandoutAsk, type HandoutPlan } from '../rules/handout.js';
import { commitCharges, PendingCharges, RateLimitRefusal, rateLimitRefusal } from '../rules/rate-limit.js';
import { matchFilter } from 'nostr-tools/filter';
import type { Filter } from '../../protocol/messages.js';
import type { EventStore, StoredEvent } from '../store/store.js';
import type { RelayContext } from './context.js';

export interface ChargedAsk extends HandoutAsk {
  /** Who is charged for this query (kp-auth-multi: every authenticated non-owner on REQ; the signer on 447). */
  requesters: readonly string[];
}

export type HandoutOutcome =
  | {
      plans: HandoutPlan[];
      /**
       * Consumes what the plans hand out, when that was not done with the plans (only
       * under the stream-then-consume faults); the handler calls it once everything is written.
       */
      consumeAfterSend: () => Promise<void>;
    }
  | { refusal: RateLimitRefusal };

/**
 * Faults double-handout and concurrent-messages: a naive relay that streams a
 * hand-out, waits for the socket to take it, then deletes what it sent.
 */
export function streamsThenConsumes(ctx: RelayContext): boolean {
  return ctx.config.faults.has('double-handout') || ctx.config.faults.has('concurrent-messages');
}

/**
 * Fault soft-consume: consumed KeyPackages are only flagged, as a soft-deleting relay
 * does, and its lookup by id forgets the flag. Kept per store, outside the store's rules.
 */
const softConsumed = new WeakMap<EventStore, Map<string, StoredEvent>>();

function keepSoftConsumed(store: EventStore, plans: readonly HandoutPlan[]): void {
  const kept = softConsumed.get(store) ?? new Map<string, StoredEvent>();
  softConsumed.set(store, kept);
  for (const plan of plans) for (const kp of plan.send) if (plan.consume.includes(kp.id)) kept.set(kp.id, kp);
}

/** Fault soft-consume: the consumed KeyPackages a filter naming ids still finds. */
export function softConsumedMatching(ctx: RelayContext, filter: Filter): StoredEvent[] {
  if (!ctx.config.faults.has('soft-consume') || !filter.ids) return [];
  const kept = softConsumed.get(ctx.store);
  return kept ? [...kept.values()].filter((kp) => matchFilter(filter, kp.event)) : [];
}

export function handOut(ctx: RelayContext, asks: readonly ChargedAsk[]): HandoutOutcome {
  const { store, config } = ctx;
  const nowMs = ctx.nowMs();
  const nowSeconds = ctx.nowSeconds();
  const split = streamsThenConsumes(ctx);
  const pending = new PendingCharges();
  // Fault lower-served-cap: the relay enforces half the served_per_window it advertises.
  const limits = config.faults.has('lower-served-cap')
    ? { ...config.limits, served_per_window: Math.floor(config.limits.served_per_window / 2) }
    : config.limits;
  const check = { store, limits, nowMs, pending };
  let plans: HandoutPlan[];
  try {
    plans = store.transaction(() => {
      const made: HandoutPlan[] = [];
      for (const ask of asks) {
        const plan = planHandout(store, ask, nowSeconds, config.faults);
        for (const requester of ask.requesters) {
          const refusal = config.faults.has('no-rate-limit') ? undefined : rateLimitRefusal(check, requester, ask.owner, plan.send.length);
          if (refusal) throw refusal; // rolls back the whole message (kp-req-refuse-whole)
          pending.add(requester, ask.owner, plan.send.length);
        }
        // Consume now, so a later ask for the same owner in this message sees it gone.
        if (!split) commitHandout(store, plan, nowSeconds);
        made.push(plan);
      }
      commitCharges(store, pending, nowMs);
      return made;
    });
  } catch (err) {
    if (err instanceof RateLimitRefusal) return { refusal: err };
    throw err;
  }
  if (config.faults.has('soft-consume')) keepSoftConsumed(store, plans);
  const consumeAfterSend = split
    ? async () => {
        // The delete is a second storage round trip, as with an asynchronous database driver: its
        // completion comes back through the event loop, after the requests already received are handled.
        await new Promise<void>((resolve) => setImmediate(resolve));
        store.transaction(() => plans.forEach((plan) => commitHandout(store, plan, nowSeconds)));
      }
    : () => Promise.resolve();
  return { plans, consumeAfterSend };
}
