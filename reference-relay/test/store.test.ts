/** The SQLite store's hand-out pick and the EVENT frames built from stored JSON text (kp-handout-order, -last-resort, -intact). */
import { afterEach, describe, expect, it } from 'vitest';
import { newKeys, type Keys } from '../../protocol/crypto.js';
import type { NostrEvent } from '../../protocol/messages.js';
import { KIND } from '../../protocol/profile.js';
import { keyPackage } from '../../fixtures/events.js';
import { resolveConfig } from '../config.js';
import { storagePolicy } from '../core/event.js';
import { RelayCore } from '../core/relay-core.js';
import { RULES } from '../rules/index.js';
import { SqliteStore } from '../store/sqlite-store.js';

const K = KIND.keyPackage;
const NOW = 2_000_000_000;
let store: SqliteStore | undefined;

function freshStore(): SqliteStore {
  store = new SqliteStore(':memory:');
  return store;
}

afterEach(() => store?.close());

/** `count` KeyPackages of `owner`, created_at T, T, T+1, T+1, …: pairs tie on created_at so id breaks the tie. */
async function stock(s: SqliteStore, owner: Keys, count: number): Promise<NostrEvent[]> {
  const kps = await Promise.all(Array.from({ length: count }, (_, i) => keyPackage(owner, { createdAt: NOW - 1000 + Math.floor(i / 2) })));
  for (const kp of [...kps].reverse()) s.insert(kp, storagePolicy(RULES, kp)); // stored newest first: order must come from the query
  return kps.sort((a, b) => a.created_at - b.created_at || (a.id < b.id ? -1 : 1));
}

describe('SqliteStore.pickKeyPackages', () => {
  it('takes the oldest qualifying up to the cap, and says whether the owner has more', async () => {
    const s = freshStore();
    const owner = newKeys();
    const kps = await stock(s, owner, 7);
    await stock(s, newKeys(), 3); // someone else's never count
    const all = [{ kinds: [K], authors: [owner.pubkey] }];
    const two = s.pickKeyPackages(owner.pubkey, all, 2, 'oldest-first', NOW);
    expect(two.take.map((e) => e.id)).toEqual(kps.slice(0, 2).map((e) => e.id));
    expect(two.ownerHasMore).toBe(true);
    const every = s.pickKeyPackages(owner.pubkey, all, 50, 'oldest-first', NOW);
    expect(every.take.map((e) => e.id)).toEqual(kps.map((e) => e.id));
    expect(every.ownerHasMore).toBe(false);
    const newest = s.pickKeyPackages(owner.pubkey, all, 2, 'newest-first', NOW);
    expect(newest.take.map((e) => e.id)).toEqual(kps.slice(-2).reverse().map((e) => e.id));
    expect(s.pickKeyPackages(owner.pubkey, all, 0, 'oldest-first', NOW)).toEqual({ take: [], ownerHasMore: true });
  });

  it('with ids, takes among the named only, but counts every stored one for the last resort', async () => {
    const s = freshStore();
    const owner = newKeys();
    const kps = await stock(s, owner, 5);
    const named = [kps[4]!, kps[1]!, kps[3]!].map((e) => e.id);
    const pick = s.pickKeyPackages(owner.pubkey, [{ kinds: [K], ids: named }], 2, 'oldest-first', NOW);
    expect(pick.take.map((e) => e.id)).toEqual([kps[1]!.id, kps[3]!.id]);
    expect(pick.ownerHasMore).toBe(true);
    // One of two filters qualifies: an OR, not an AND.
    const either = s.pickKeyPackages(owner.pubkey, [{ ids: [kps[4]!.id] }, { since: kps[2]!.created_at, until: kps[2]!.created_at }], 9, 'oldest-first', NOW);
    expect(either.take.map((e) => e.id)).toEqual([kps[2]!.id, kps[3]!.id, kps[4]!.id]);
  });

  it('leaves expired KeyPackages out of the pick and the count', async () => {
    const s = freshStore();
    const owner = newKeys();
    const live = await keyPackage(owner, { createdAt: NOW - 10 });
    const expiring = await keyPackage(owner, { createdAt: NOW - 20, extraTags: [['expiration', String(NOW - 1)]] });
    s.insert(live, storagePolicy(RULES, live));
    s.insert(expiring, storagePolicy(RULES, expiring));
    const pick = s.pickKeyPackages(owner.pubkey, [{ kinds: [K] }], 2, 'oldest-first', NOW);
    expect(pick).toMatchObject({ take: [{ id: live.id }], ownerHasMore: false });
  });

  it('answers more distinct queries than its statement cache holds', async () => {
    const s = freshStore();
    const owner = newKeys();
    await stock(s, owner, 3);
    const opts = { nowSeconds: NOW, keyPackageOwners: new Set([owner.pubkey]), giftWrapReaders: 'everyone', maxLimit: 500 } as const;
    // Each `until` gives the same SQL; each count of kinds gives a new one: 300 distinct texts, past the cache's 256.
    for (let n = 1; n <= 300; n++) {
      const kinds = Array.from({ length: n }, (_, i) => (i === 0 ? K : 20_000 + i));
      expect(s.query({ kinds, authors: [owner.pubkey] }, opts)).toHaveLength(3);
    }
  });
});

describe('stored events go out as their stored JSON text', () => {
  it('kp-handout-intact: the hand-out frame carries the event exactly as the owner sent it, key order included', async () => {
    const s = freshStore();
    // Authenticated by hand below, without an AUTH frame: judged at once rather than held for one (kp-auth-grace).
    const core = new RelayCore(resolveConfig({ db: ':memory:', authGraceMs: 0 }), s);
    const owner = newKeys();
    const kp = await keyPackage(owner);
    // The owner's own field order, not the one this relay would pick.
    const { sig, content, tags, id, kind, created_at, pubkey } = kp;
    const asSent = JSON.stringify({ sig, content, tags, id, kind, created_at, pubkey });
    const frames: string[] = [];
    const publisher = core.open('127.0.0.1', (t) => frames.push(t));
    await core.receive(publisher, `["EVENT",${asSent}]`);
    expect(frames.at(-1)).toBe(JSON.stringify(['OK', kp.id, true, '']));

    const requester = core.open('127.0.0.1', (t) => frames.push(t));
    requester.authenticated.add(newKeys().pubkey); // AUTH itself is tested elsewhere
    frames.length = 0;
    await core.receive(requester, JSON.stringify(['REQ', 'kp', { kinds: [K], authors: [owner.pubkey] }]));
    expect(frames).toEqual([`["EVENT","kp",${asSent}]`, '["EOSE","kp"]']);
  });
});
