/**
 * Publishing rules (PROFILE.md §2), run in order on every signature-checked
 * EVENT; the first refusal is the answer. Like khatru's RejectEvent hooks.
 */
import type { NostrEvent } from '../../protocol/messages.js';
import { isExpired, isProtected } from '../../protocol/events.js';
import { keyPackageProblem } from '../../protocol/keypackage.js';
import { KIND, PREFIX } from '../../protocol/profile.js';
import type { FaultName } from '../faults.js';
import type { EventStore } from '../store/store.js';
import { Refusal } from './refusal.js';

export interface PublishContext {
  store: EventStore;
  nowSeconds: number;
  /** Pubkeys authenticated on the publishing connection. */
  authenticated: ReadonlySet<string>;
  faults: ReadonlySet<FaultName>;
}

export type PublishRule = (ctx: PublishContext, event: NostrEvent) => Refusal | undefined;

/** kp-pub-expired */
export const rejectExpired: PublishRule = (ctx, event) =>
  isExpired(event, ctx.nowSeconds) ? new Refusal(PREFIX.invalid, 'event has expired (NIP-40)') : undefined;

/** kp-pub-protected (NIP-70) */
export const rejectProtectedFromOthers: PublishRule = (ctx, event) =>
  isProtected(event) && !ctx.authenticated.has(event.pubkey)
    ? new Refusal(PREFIX.authRequired, 'this event is protected (NIP-70); authenticate as its author to publish it')
    : undefined;

/** kp-pub-tags, kp-pub-content */
export const rejectMalformedKeyPackage: PublishRule = (_ctx, event) => {
  if (event.kind !== KIND.keyPackage) return undefined;
  const problem = keyPackageProblem(event);
  return problem === undefined ? undefined : new Refusal(PREFIX.invalid, problem);
};

/** kp-pub-no-replay; deleted events of other kinds stay deleted too (NIP-09). */
export const rejectTombstoned: PublishRule = (ctx, event) => {
  if (event.kind === KIND.keyPackage && ctx.faults.has('accept-replay')) return undefined;
  const tomb = ctx.store.tombstone(event.id, event.pubkey);
  if (tomb === undefined) return undefined;
  return new Refusal(PREFIX.duplicate, `this event was ${tomb.reason} and is never accepted again`);
};

export const publishRules: readonly PublishRule[] = [
  rejectExpired,
  rejectProtectedFromOthers,
  rejectMalformedKeyPackage,
  rejectTombstoned,
];

export function firstRefusal(rules: readonly PublishRule[], ctx: PublishContext, event: NostrEvent): Refusal | undefined {
  for (const rule of rules) {
    const refusal = rule(ctx, event);
    if (refusal) return refusal;
  }
  return undefined;
}
