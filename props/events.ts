/**
 * The signed events a command sequence publishes, by actor index. Every
 * KeyPackage is a genuine MLS KeyPackage of its owner (fixtures/events.ts),
 * which costs a few milliseconds to make, ten times a signature. So a relay
 * that is fresh for every sequence reuses one deterministic pool across the
 * sequences of the process (each KeyPackage made once, variants re-signed);
 * a relay that keeps its state gets fresh keys, and a fresh KeyPackage per
 * publish, in every sequence.
 */
import { createHash } from 'node:crypto';
import { getEventHash } from 'nostr-tools/pure';
import { keyPackage } from '../fixtures/events.js';
import { keysFromHex, newKeys, sign, type Keys } from '../protocol/crypto.js';
import type { NostrEvent } from '../protocol/messages.js';
import { KIND, TAG } from '../protocol/profile.js';

export interface EventSource {
  keys(actor: number): Keys;
  /** The owner's `seq`-th KeyPackage; created_at never decreases with seq. */
  keyPackage(owner: number, seq: number): Promise<NostrEvent>;
  /** The same, with a NIP-40 expiration (unix seconds). */
  expiringKeyPackage(owner: number, seq: number, expiresAt: number): Promise<NostrEvent>;
  /**
   * A kind 447 by `requester` for `owner`'s KeyPackages, `n` of them when given.
   * `nonce` (the command's step) makes repeated requests distinct events.
   */
  request(requester: number, owner: number, n: number | undefined, nonce: number): NostrEvent;
  /** A NIP-09 kind 5 by `author` naming `ids`. */
  deletion(author: number, ids: readonly string[]): NostrEvent;
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');
const expiration = (expiresAt: number): string[][] => [[TAG.expiration, String(expiresAt)]];

function requestEvent(keys: Keys, owner: string, n: number | undefined, createdAt: number): NostrEvent {
  const tags = [[TAG.pubkey, owner], ...(n === undefined ? [] : [[TAG.count, String(n)]])];
  return sign({ kind: KIND.keyPackageRequest, created_at: createdAt, tags, content: '' }, keys);
}

function deletionEvent(keys: Keys, ids: readonly string[], createdAt: number): NostrEvent {
  const tags = [...ids.map((id) => [TAG.event, id]), ['k', String(KIND.keyPackage)]];
  return sign({ kind: KIND.deletion, created_at: createdAt, tags, content: '' }, keys);
}

/** The event with its signature's last digit changed: a signature that cannot verify. */
export function withBrokenSig(event: NostrEvent): NostrEvent {
  return { ...event, sig: `${event.sig.slice(0, -1)}${event.sig.endsWith('0') ? '1' : '0'}` };
}

/**
 * `base`'s content and tags (plus `extra`) signed at `createdAt`, the tags
 * rotated until the id falls in the wanted half (first hex digit 0–7, or
 * 8–f); undefined when no rotation does (1 in 2^tags). Tag order means
 * nothing to NIP-01, so this fixes how ties of created_at break.
 */
function signInHalf(keys: Keys, base: NostrEvent, createdAt: number, extra: string[][], upper: boolean): NostrEvent | undefined {
  const tags = [...base.tags, ...extra];
  for (let r = 0; r < tags.length; r++) {
    const template = { kind: base.kind, created_at: createdAt, tags: [...tags.slice(r), ...tags.slice(0, r)], content: base.content };
    if (getEventHash({ ...template, pubkey: keys.pubkey }) >= '8' === upper) return sign(template, keys);
  }
  return undefined;
}

/** Seconds between one pair of an owner's KeyPackages and the next: one per actor, so owners never share a created_at. */
const PAIR_STRIDE = 4;

/**
 * Deterministic keys, every event made once per process. Two KeyPackages of
 * an owner share each created_at, so hand-out order also exercises the id
 * tie-break (kp-handout-order). MLS content is random, so ids differ from
 * process to process, but which of a pair sorts first does not (signInHalf)
 * and owners never tie: a seed and path replay exactly in any process.
 * Only for relays that start empty per sequence.
 */
export class PooledEvents implements EventSource {
  private static readonly pools = new Map<number, PooledEvents>();
  private readonly keyCache = new Map<number, Keys>();
  private readonly cache = new Map<string, NostrEvent>();
  /** One genuine KeyPackage per owner and seq, re-signed into each variant. */
  private readonly bases = new Map<string, Promise<NostrEvent>>();
  private readonly variants = new Map<string, Promise<NostrEvent>>();

  /** `createdBase`: created_at of the first KeyPackages, in the relay clock's past. */
  constructor(private readonly createdBase: number) {}

  /** The pool for `createdBase`, shared by every factory in this process. */
  static shared(createdBase: number): PooledEvents {
    let pool = PooledEvents.pools.get(createdBase);
    if (!pool) {
      pool = new PooledEvents(createdBase);
      PooledEvents.pools.set(createdBase, pool);
    }
    return pool;
  }

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

  keyPackage(owner: number, seq: number): Promise<NostrEvent> {
    return this.variant(owner, seq, []);
  }

  expiringKeyPackage(owner: number, seq: number, expiresAt: number): Promise<NostrEvent> {
    return this.variant(owner, seq, expiration(expiresAt));
  }

  private variant(owner: number, seq: number, extra: string[][]): Promise<NostrEvent> {
    const key = `${owner}/${seq}/${extra.flat().join(',')}`;
    let event = this.variants.get(key);
    if (!event) {
      event = this.make(owner, seq, extra);
      this.variants.set(key, event);
    }
    return event;
  }

  private async make(owner: number, seq: number, extra: string[][]): Promise<NostrEvent> {
    const keys = this.keys(owner);
    const baseKey = `${owner}/${seq}`;
    if (!this.bases.has(baseKey)) this.bases.set(baseKey, keyPackage(keys));
    let base = await this.bases.get(baseKey)!;
    const createdAt = this.createdBase + PAIR_STRIDE * Math.floor(seq / 2) + owner;
    for (;;) {
      // The even seq of a pair sorts first.
      const event = signInHalf(keys, base, createdAt, extra, seq % 2 === 1);
      if (event) return event;
      base = await keyPackage(keys);
    }
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
 * sequences; each KeyPackage is made when published. created_at strictly
 * increases with seq, so the expected order never depends on random ids and
 * a replay hands out the same way.
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

  keyPackage(owner: number, seq: number): Promise<NostrEvent> {
    return keyPackage(this.keys(owner), { createdAt: this.createdBase + seq });
  }

  expiringKeyPackage(owner: number, seq: number, expiresAt: number): Promise<NostrEvent> {
    return keyPackage(this.keys(owner), { createdAt: this.createdBase + seq, extraTags: expiration(expiresAt) });
  }

  request(requester: number, owner: number, n: number | undefined, nonce: number): NostrEvent {
    return requestEvent(this.keys(requester), this.keys(owner).pubkey, n, this.now() - 600 + nonce);
  }

  deletion(author: number, ids: readonly string[]): NostrEvent {
    return deletionEvent(this.keys(author), ids, this.now());
  }
}
