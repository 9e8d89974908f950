/**
 * kp-447-order: a kind 447 request is checked in this order, and the first
 * failure is the answer: signature and expiration (on the EVENT path, before
 * these), AUTH of the signer, form, subscription; the rate limits come with
 * the hand-out.
 */
import type { Filter, NostrEvent } from '../../protocol/messages.js';
import { requestSignerAuthenticated } from './447-auth.js';
import { requestForm } from './447-form.js';
import { requestSubscription } from './447-subscription.js';
import { Refusal } from './refusal.js';

/** What the checks read, and what they found so far. */
export interface RequestReview {
  request: NostrEvent;
  /** Pubkeys authenticated on the connection. */
  authenticated: ReadonlySet<string>;
  /** The filters of each open subscription of the connection. */
  subscriptions: Iterable<readonly Filter[]>;
  maxPerQuery: number;
  /** Found by the form check. */
  owner?: string;
  count?: number;
  /** Found by the subscription check: the filters that can receive the owner's KeyPackages. */
  filters?: readonly Filter[];
}

export type RequestFindings = Pick<RequestReview, 'owner' | 'count' | 'filters'>;

/** An OK true that ends the request without a hand-out. */
export class Answer {
  constructor(readonly message: string) {}
}

/** One check: a refusal, a final answer, what it found, or nothing to say. */
export type RequestCheck = (review: Readonly<RequestReview>) => Refusal | Answer | RequestFindings | undefined;

export const REQUEST_CHECKS: readonly RequestCheck[] = [requestSignerAuthenticated, requestForm, requestSubscription];

export type RequestVerdict = Refusal | Answer | { owner: string; count: number; filters: readonly Filter[] };

/** Runs `checks` in order; the first refusal or answer ends the review. */
export function reviewRequest(checks: readonly RequestCheck[], start: RequestReview): RequestVerdict {
  let review = start;
  for (const check of checks) {
    const result = check(review);
    if (result instanceof Refusal || result instanceof Answer) return result;
    if (result) review = { ...review, ...result };
  }
  const { owner, count, filters } = review;
  if (owner === undefined || count === undefined || filters === undefined) throw new Error('the kind 447 checks found no owner, count or filters');
  return { owner, count, filters };
}
