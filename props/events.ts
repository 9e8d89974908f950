/**
 * The signed events a command sequence publishes, by actor index. Signing is
 * the cost that bounds how many sequences run per second, so a relay that is
 * fresh for every sequence reuses one deterministic pool across sequences;
 * a relay that keeps its state gets fresh keys per sequence instead.
 */
import { createHash } from 'node:crypto';
import { keyPackage } from '../fixtures/events.js';
import { keysFromHex, newKeys, sign, type Keys } from '../protocol/crypto.js';
import type { NostrEvent } from '../protocol/messages.js';
import { KIND, TAG } from '../protocol/profile.js';

export interface EventSource {
  keys(actor: number): Keys;
  /** The owner's `seq`-th KeyPackage; created_at never decreases with seq. */
  keyPackage(owner: number, seq: number): NostrEvent;
  /** The same, with a NIP-40 expiration (unix seconds). */
  expiringKeyPackage(owner: number, seq: number, expiresAt: number): NostrEvent;
  /**
   * A kind 447 by `requester` for `owner`'s KeyPackages, `n` of them when given.
   * `nonce` (the command's step) makes repeated requests distinct events.
   */
  request(requester: number, owner: number, n: number | undefined, nonce: number): NostrEvent;
  /** A NIP-09 kind 5 by `author` naming `ids`. */
  deletion(author: number, ids: readonly string[]): NostrEvent;
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

function requestEvent(keys: Keys, owner: string, n: number | undefined, createdAt: number): NostrEvent {
  const tags = [[TAG.pubkey, owner], ...(n === undefined ? [] : [[TAG.count, String(n)]])];
  return sign({ kind: KIND.keyPackageRequest, created_at: createdAt, tags, content: '' }, keys);
}

function deletionEvent(keys: Keys, ids: readonly string[], createdAt: number): NostrEvent {
  const tags = [...ids.map((id) => [TAG.event, id]), ['k', String(KIND.keyPackage)]];
  return sign({ kind: KIND.deletion, created_at: createdAt, tags, content: '' }, keys);
}

/**
 * Deterministic keys and content, every event signed once per process. Two
 * KeyPackages share each created_at, so hand-out order also exercises the id
 * tie-break (kp-handout-order). Only for relays that start empty per sequence.
 */
export class PooledEvents implements EventSource {
  private readonly keyCache = new Map<number, Keys>();
  private readonly cache = new Map<string, NostrEvent>();

  /** `createdBase`: created_at of the first KeyPackages, in the relay clock's past. */
  constructor(private readonly createdBase: number) {}

  keys(actor: number): Keys {
    let keys = this.keyCache.get(actor);
    if (!keys) {
      keys = keysFromHex(sha256(`kpsuite-props/actor/${actor}`));
      this.keyCache.set(actor, keys);
    }
    return keys;
  }

  private cached(key: string, make: () => NostrEvent): NostrEvent {
    let event = this.cache.get(key);
    if (!event) {
      event = make();
      this.cache.set(key, event);
    }
    return event;
  }

  keyPackage(owner: number, seq: number): NostrEvent {
    return this.cached(`kp/${owner}/${seq}`, () =>
      keyPackage(this.keys(owner), { createdAt: this.createdBase + Math.floor(seq / 2), content: sha256(`kp/${owner}/${seq}`) }),
    );
  }

  expiringKeyPackage(owner: number, seq: number, expiresAt: number): NostrEvent {
    return this.cached(`kp/${owner}/${seq}/${expiresAt}`, () =>
      keyPackage(this.keys(owner), {
        createdAt: this.createdBase + Math.floor(seq / 2),
        content: sha256(`kp/${owner}/${seq}/${expiresAt}`),
        extraTags: [[TAG.expiration, String(expiresAt)]],
      }),
    );
  }

  request(requester: number, owner: number, n: number | undefined, nonce: number): NostrEvent {
    return this.cached(`447/${requester}/${owner}/${n ?? '-'}/${nonce}`, () =>
      requestEvent(this.keys(requester), this.keys(owner).pubkey, n, this.createdBase + nonce),
    );
  }

  deletion(author: number, ids: readonly string[]): NostrEvent {
    return this.cached(`5/${author}/${ids.join(',')}`, () => deletionEvent(this.keys(author), ids, this.createdBase));
  }
}

/**
 * Fresh keys for every sequence, for a relay that keeps state between
 * sequences. created_at strictly increases with seq, so the expected order
 * never depends on random ids and a replay hands out the same way.
 */
export class FreshEvents implements EventSource {
  private readonly keyCache = new Map<number, Keys>();
  private readonly createdBase: number;

  /** `now`: the relay's clock in unix seconds. */
  constructor(private readonly now: () => number) {
    // Recent enough for relays that bound created_at (NIP-11 created_at_lower_limit).
    this.createdBase = now() - 1000;
  }

  keys(actor: number): Keys {
    let keys = this.keyCache.get(actor);
    if (!keys) {
      keys = newKeys();
      this.keyCache.set(actor, keys);
    }
    return keys;
  }

  keyPackage(owner: number, seq: number): NostrEvent {
    return keyPackage(this.keys(owner), { createdAt: this.createdBase + seq });
  }

  expiringKeyPackage(owner: number, seq: number, expiresAt: number): NostrEvent {
    return keyPackage(this.keys(owner), { createdAt: this.createdBase + seq, extraTags: [[TAG.expiration, String(expiresAt)]] });
  }

  request(requester: number, owner: number, n: number | undefined, nonce: number): NostrEvent {
    return requestEvent(this.keys(requester), this.keys(owner).pubkey, n, this.now() - 600 + nonce);
  }

  deletion(author: number, ids: readonly string[]): NostrEvent {
    return deletionEvent(this.keys(author), ids, this.now());
  }
}
