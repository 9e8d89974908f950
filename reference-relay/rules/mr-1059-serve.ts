import type { Filter, NostrEvent } from '../../protocol/messages.js';
import { KIND, PREFIX, TAG } from '../../protocol/profile.js';
import { Refusal } from './refusal.js';

/** Who may read kind 1059 gift wraps (NIP-11 `marmot.gift_wrap_reads`). */
export const GIFT_WRAP_READS = ['recipient', 'anyone'] as const;
export type GiftWrapReads = (typeof GIFT_WRAP_READS)[number];

/** The pubkeys whose gift wraps a connection is served ('everyone': all gift wraps). */
export type GiftWrapReaders = ReadonlySet<string> | 'everyone';

/**
 * mr-1059-serve: with reads 'recipient' (NIP-17 inbox relays' choice), a
 * filter that names kind 1059 in its `kinds`, on a connection where nobody is
 * authenticated, is refused `auth-required:` (the whole REQ, like
 * kp-req-refuse-whole; held first for kp-auth-grace like a KeyPackage REQ).
 * A filter without `kinds` is not refused: kp-req-unscoped says an "everything
 * by Bob" fetch needs no AUTH, so its gift wraps are left out instead
 * (giftWrapReaders). With reads 'anyone' nothing is refused.
 */
export function giftWrapReadRefusal(reads: GiftWrapReads, filter: Filter, authenticated: ReadonlySet<string>): Refusal | undefined {
  if (reads === 'anyone' || authenticated.size > 0 || !filter.kinds?.includes(KIND.giftWrap)) return undefined;
  return new Refusal(PREFIX.authRequired, 'gift wraps (kind 1059) are served only to their recipient: authenticate (NIP-42) as the pubkey their p tag names');
}

/**
 * mr-1059-serve: whose gift wraps a connection gets, in stored answers and
 * live: with reads 'recipient', only those whose `p` tag names a pubkey
 * authenticated on it (any other is silently left out); with 'anyone', all.
 * Accepting a gift wrap needs no AUTH either way.
 */
export function giftWrapReaders(reads: GiftWrapReads, authenticated: ReadonlySet<string>): GiftWrapReaders {
  return reads === 'anyone' ? 'everyone' : authenticated;
}

/** Whether `readers` may be sent `event`: any event but a gift wrap, and a gift wrap whose `p` names one of them. */
export function mayReceive(readers: GiftWrapReaders, event: Pick<NostrEvent, 'kind' | 'tags'>): boolean {
  if (event.kind !== KIND.giftWrap || readers === 'everyone') return true;
  return event.tags.some(([name, value]) => name === TAG.pubkey && value !== undefined && readers.has(value));
}
