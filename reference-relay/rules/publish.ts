/**
 * Publishing rules (PROFILE.md §2), run in order on every signature-checked
 * EVENT; the first refusal is the answer. Like khatru's RejectEvent hooks.
 */
import type { NostrEvent } from '../../protocol/messages.js';
import { isExpired, isProtected } from '../../protocol/events.js';
import { keyPackageContentProblem, keyPackageTagProblem } from '../../protocol/keypackage.js';
import { KIND, PREFIX } from '../../protocol/profile.js';
import type { EventStore } from '../store/store.js';
import type { Verifier } from '../verify/verifier.js';
import { Refusal } from './refusal.js';

export interface PublishContext {
  store: EventStore;
  nowSeconds: number;
  /** Pubkeys authenticated on the publishing connection. */
  authenticated: ReadonlySet<string>;
  /** Runs the CPU-heavy checks (kp-pub-mls), on this thread or a worker's. */
  verifier: Verifier;
}

export type PublishRule = (ctx: PublishContext, event: NostrEvent) => Refusal | undefined | Promise<Refusal | undefined>;

/** kp-pub-expired */
export const rejectExpired = (ctx: PublishContext, event: NostrEvent): Refusal | undefined =>
  isExpired(event, ctx.nowSeconds) ? new Refusal(PREFIX.invalid, 'event has expired (NIP-40)') : undefined;

/** kp-pub-protected (NIP-70) */
export const rejectProtectedFromOthers: PublishRule = (ctx, event) =>
  isProtected(event) && !ctx.authenticated.has(event.pubkey)
    ? new Refusal(PREFIX.authRequired, 'this event is protected (NIP-70); authenticate as its author to publish it')
    : undefined;

/** A KeyPackage rule from a check of protocol/ that says what is wrong, or nothing. */
export const keyPackageRule =
  (problemOf: (event: NostrEvent) => string | undefined | Promise<string | undefined>): PublishRule =>
  async (_ctx, event) => {
    if (event.kind !== KIND.keyPackage) return undefined;
    const problem = await problemOf(event);
    return problem === undefined ? undefined : new Refusal(PREFIX.invalid, problem);
  };

/** kp-pub-tags */
export const rejectMalformedTags: PublishRule = keyPackageRule(keyPackageTagProblem);

/** kp-pub-content */
export const rejectMalformedContent: PublishRule = keyPackageRule(keyPackageContentProblem);

/** kp-pub-no-replay; deleted events of other kinds stay deleted too (NIP-09). */
export const rejectTombstoned: PublishRule = (ctx, event) => {
  const tomb = ctx.store.tombstone(event.id, event.pubkey);
  if (tomb === undefined) return undefined;
  return new Refusal(PREFIX.duplicate, `this event was ${tomb.reason} and is never accepted again`);
};

export async function firstRefusal(rules: readonly PublishRule[], ctx: PublishContext, event: NostrEvent): Promise<Refusal | undefined> {
  for (const rule of rules) {
    const refusal = await rule(ctx, event);
    if (refusal) return refusal;
  }
  return undefined;
}
