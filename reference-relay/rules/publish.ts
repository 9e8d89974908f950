/**
 * Publishing rules (PROFILE.md §2), run in order on every signature-checked
 * EVENT; the first refusal is the answer. Like khatru's RejectEvent hooks.
 */
import type { NostrEvent } from '../../protocol/messages.js';
import { isExpired, isProtected } from '../../protocol/events.js';
import { keyPackageContentProblem, keyPackageTagProblem } from '../../protocol/keypackage.js';
import { KIND, PREFIX, TAG } from '../../protocol/profile.js';
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

/** A KeyPackage rule from a shape check of protocol/keypackage.ts. */
const keyPackageRule =
  (problemOf: (event: NostrEvent) => string | undefined): PublishRule =>
  (_ctx, event) => {
    if (event.kind !== KIND.keyPackage) return undefined;
    const problem = problemOf(event);
    return problem === undefined ? undefined : new Refusal(PREFIX.invalid, problem);
  };

/** kp-pub-tags */
export const rejectMalformedTags: PublishRule = keyPackageRule(keyPackageTagProblem);

/** kp-pub-content */
export const rejectMalformedContent: PublishRule = keyPackageRule(keyPackageContentProblem);

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
  rejectMalformedTags,
  rejectMalformedContent,
  rejectTombstoned,
];

/** The tags a KeyPackage may carry under the tag-allow-list fault: PROFILE.md §2's and the client and relays tags of NIP-EE. */
const LISTED_TAGS = new Set<string>([TAG.mlsProtocolVersion, ...TAG.ciphersuite, ...TAG.extensions, TAG.encoding, TAG.expiration, TAG.protected, 'client', 'relays']);

/** Fault tag-allow-list (breaks kp-pub-accept): a rule the profile does not have. */
const rejectUnnamedTags = keyPackageRule((event) => {
  const other = event.tags.find((t) => !LISTED_TAGS.has(t[0] ?? ''));
  return other === undefined ? undefined : `unexpected tag "${other[0] ?? ''}" on a KeyPackage`;
});

/** The publish rules as a relay with `faults` runs them: each fault switch drops or adds one rule (reference-relay/faults.ts). */
export function publishRulesWith(faults: ReadonlySet<FaultName>): readonly PublishRule[] {
  const dropped = new Set<PublishRule>();
  if (faults.has('unchecked-tags')) dropped.add(rejectMalformedTags);
  if (faults.has('opaque-content')) dropped.add(rejectMalformedContent);
  if (faults.has('ignore-protected')) dropped.add(rejectProtectedFromOthers);
  if (faults.has('accept-expired')) dropped.add(rejectExpired);
  const rules = publishRules.filter((rule) => !dropped.has(rule));
  return faults.has('tag-allow-list') ? [...rules, rejectUnnamedTags] : rules;
}

export function firstRefusal(rules: readonly PublishRule[], ctx: PublishContext, event: NostrEvent): Refusal | undefined {
  for (const rule of rules) {
    const refusal = rule(ctx, event);
    if (refusal) return refusal;
  }
  return undefined;
}
