/**
 * The hand-out rule shared by REQ and kind 447 (PROFILE.md §5): which of an
 * owner's KeyPackages a query gets, and which of those it consumes.
 */
import type { Filter } from '../../protocol/messages.js';
import type { FaultName } from '../faults.js';
import type { EventStore, StoredEvent } from '../store/store.js';

export interface HandoutAsk {
  owner: string;
  /** min(limit, max_per_query) for REQ, n for 447 (kp-handout-max). */
  max: number;
  /** A KeyPackage qualifies when it fully matches one of these (limit aside). */
  filters: readonly Filter[];
}

export interface HandoutPlan {
  owner: string;
  /** What the requester receives, in hand-out order. */
  send: StoredEvent[];
  /** Ids to delete and tombstone: everything sent but a last resort (kp-handout-consume). */
  consume: string[];
  /** The id handed out and kept because it was the owner's last (kp-handout-last-resort). */
  lastResort: string | undefined;
}

export function planHandout(
  store: EventStore,
  ask: HandoutAsk,
  nowSeconds: number,
  faults: ReadonlySet<FaultName>,
): HandoutPlan {
  // The oldest qualifying KeyPackages, up to the cap (kp-handout-max, kp-handout-order).
  const order = faults.has('newest-first') ? 'newest-first' : 'oldest-first';
  const { take: send, ownerHasMore } = store.pickKeyPackages(ask.owner, ask.filters, ask.max, order, nowSeconds);
  const consume: string[] = [];
  let lastResort: string | undefined;
  for (const [i, kp] of send.entries()) {
    // Once the others are consumed, the last taken is the owner's last remaining KeyPackage unless more are stored.
    const ownersLast = i === send.length - 1 && !ownerHasMore;
    if (ownersLast && !faults.has('consume-last')) lastResort = kp.id;
    else consume.push(kp.id);
  }
  return { owner: ask.owner, send, consume, lastResort };
}

/** Deletes and tombstones what a plan consumes. Call inside the transaction that made the plan. */
export function commitHandout(store: EventStore, plan: HandoutPlan, nowSeconds: number): void {
  store.remove(plan.consume);
  for (const id of plan.consume) store.addTombstone(id, plan.owner, 'consumed', nowSeconds);
}
