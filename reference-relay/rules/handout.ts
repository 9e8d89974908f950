/**
 * The hand-out shared by REQ and kind 447 (PROFILE.md §5): which of an owner's
 * KeyPackages a query gets, which of those it consumes, and when.
 */
import type { Filter } from '../../protocol/messages.js';
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

/** kp-handout-max, kp-handout-order, kp-handout-last-resort: the oldest qualifying KeyPackages up to the cap; all consumed but the owner's last. */
export function planHandout(store: EventStore, ask: HandoutAsk, nowSeconds: number): HandoutPlan {
  const { take: send, ownerHasMore } = store.pickKeyPackages(ask.owner, ask.filters, ask.max, 'oldest-first', nowSeconds);
  // Once the others are consumed, the last taken is the owner's last remaining KeyPackage unless more are stored.
  const kept = ownerHasMore ? undefined : send.at(-1)?.id;
  return { owner: ask.owner, send, consume: send.map((kp) => kp.id).filter((id) => id !== kept), lastResort: kept };
}

/** When a hand-out's consumption is written, relative to sending it. */
export interface Consumption {
  /** Inside the transaction that made the plan, before anything is sent. */
  withPlan(store: EventStore, plan: HandoutPlan, nowSeconds: number): void;
  /** Once every frame of the hand-out was written. */
  afterSend(store: EventStore, plans: readonly HandoutPlan[], nowSeconds: number): Promise<void>;
  /** Whether sending waits for the socket to take each frame. */
  waitsForSocket: boolean;
}

/** kp-handout-consume, kp-handout-exactly-once: consumed in the same transaction as the decision, before it is sent. */
export const consumeBeforeSend: Consumption = {
  withPlan: (store, plan, nowSeconds) => store.consume(plan.consume, plan.owner, nowSeconds),
  afterSend: () => Promise.resolve(),
  waitsForSocket: false,
};
