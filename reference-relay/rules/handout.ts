/**
 * The hand-out rule shared by REQ and kind 447 (PROFILE.md §5): which of an
 * owner's KeyPackages a query gets, and which of those it consumes.
 */
import { matchFilter } from 'nostr-tools/filter';
import type { Filter, NostrEvent } from '../../protocol/messages.js';
import type { FaultName } from '../faults.js';
import type { EventStore } from '../store/store.js';

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
  send: NostrEvent[];
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
  const stored = store.keyPackagesOf(ask.owner, nowSeconds); // oldest first (kp-handout-order)
  const ordered = faults.has('newest-first') ? [...stored].reverse() : stored;
  const send = ordered.filter((kp) => ask.filters.some((f) => matchFilter(f, kp))).slice(0, Math.max(0, ask.max));
  const consume: string[] = [];
  let lastResort: string | undefined;
  let remaining = stored.length;
  for (const kp of send) {
    if (remaining > 1 || faults.has('consume-last')) {
      consume.push(kp.id);
      remaining -= 1;
    } else {
      lastResort = kp.id;
    }
  }
  return { owner: ask.owner, send, consume, lastResort };
}

/** Deletes and tombstones what a plan consumes. Call inside the transaction that made the plan. */
export function commitHandout(store: EventStore, plan: HandoutPlan, nowSeconds: number): void {
  store.remove(plan.consume);
  for (const id of plan.consume) store.addTombstone(id, plan.owner, 'consumed', nowSeconds);
}
