/**
 * Rate limits (PROFILE.md §6) over the store's charge ledger. A query is
 * checked against the ledger plus what earlier parts of the same message
 * already charged, so one REQ cannot slip several filters past a limit.
 */
import { PREFIX, type KeyPackageLimits } from '../../protocol/profile.js';
import type { EventStore } from '../store/store.js';
import { Refusal } from './refusal.js';

export type LimitName = 'queries' | 'served';

export class RateLimitRefusal extends Refusal {
  constructor(
    readonly limit: LimitName,
    detail: string,
  ) {
    super(PREFIX.rateLimited, detail);
  }
}

/** Charges made while handling one message, not yet in the ledger's counts. */
export class PendingCharges {
  private readonly queries = new Map<string, number>();
  private readonly served = new Map<string, number>();
  readonly entries: { requester: string; owner: string; served: number }[] = [];

  queriesFor(requester: string, owner: string): number {
    return this.queries.get(`${requester}:${owner}`) ?? 0;
  }
  servedTo(requester: string): number {
    return this.served.get(requester) ?? 0;
  }
  add(requester: string, owner: string, served: number): void {
    const pair = `${requester}:${owner}`;
    this.queries.set(pair, this.queriesFor(requester, owner) + 1);
    this.served.set(requester, this.servedTo(requester) + served);
    this.entries.push({ requester, owner, served });
  }
}

export interface ChargeCheck {
  store: EventStore;
  limits: KeyPackageLimits;
  nowMs: number;
  pending: PendingCharges;
}

/** kp-rate-queries and kp-rate-served for one requester asking for `owner` and about to receive `sending`. */
export function rateLimitRefusal(check: ChargeCheck, requester: string, owner: string, sending: number): RateLimitRefusal | undefined {
  const { store, limits, nowMs, pending } = check;
  const since = nowMs - limits.window_seconds * 1000;
  const queries = store.chargedQueries(requester, owner, since) + pending.queriesFor(requester, owner);
  if (queries >= limits.queries_per_window) {
    return new RateLimitRefusal(
      'queries',
      `at most ${limits.queries_per_window} KeyPackage queries per ${limits.window_seconds} s for one owner; try again later`,
    );
  }
  const served = store.servedTo(requester, since) + pending.servedTo(requester);
  if (served + sending > limits.served_per_window) {
    return new RateLimitRefusal(
      'served',
      `at most ${limits.served_per_window} KeyPackages per ${limits.window_seconds} s per requester; ${served} already handed out`,
    );
  }
  return undefined;
}

export function commitCharges(store: EventStore, pending: PendingCharges, nowMs: number): void {
  for (const c of pending.entries) store.charge(c.requester, c.owner, nowMs, c.served);
}
