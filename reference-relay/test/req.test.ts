/** PROFILE.md §3 Asking for KeyPackages with REQ. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newKeys } from '../../protocol/crypto.js';
import { KIND, PREFIX, prefixOf } from '../../protocol/profile.js';
import { inventory, publishKeyPackages } from '../../client/choreography.js';
import { textNote } from '../../fixtures/events.js';
import { newSubId } from '../../client/relay-client.js';
import { closedFor, idsOf, sharedRelay, sortedIds, startTestRelay, type RunningRelay } from './harness.js';

const K = KIND.keyPackage;
const relay = sharedRelay(); // default limits: max_per_query 2
const pool = relay.pool;
// For the tests of a refusal itself: a relay that judges at once, without kp-auth-grace's wait (tested in auth-grace.test.ts).
const judgedAtOnce = sharedRelay({ authGraceMs: 0 });

describe('kp-req-auth', () => {
  const [relay, pool] = [judgedAtOnce, judgedAtOnce.pool];
  it("kp-req-auth: an unauthenticated REQ for an owner's KeyPackages is CLOSED \"auth-required:\" and nothing is handed out", async () => {
    const owner = newKeys();
    const kps = await publishKeyPackages(relay.url, owner, 3, pool.opts);
    const anon = await pool.connect(relay.url);
    const res = await anon.req([{ kinds: [K], authors: [owner.pubkey] }]);
    expect(res.eose).toBe(false);
    expect(prefixOf(res.closed ?? '')).toBe(PREFIX.authRequired);
    expect(res.events).toEqual([]);
    expect(sortedIds(await inventory(relay.url, owner, pool.opts))).toEqual(sortedIds(kps));
  });

  it('kp-req-auth: the ids path needs AUTH too: {kinds:[443], ids:[a stored KeyPackage]} unauthenticated is CLOSED "auth-required:"', async () => {
    const owner = newKeys();
    const kps = await publishKeyPackages(relay.url, owner, 2, pool.opts);
    const anon = await pool.connect(relay.url);
    const res = await anon.req([{ kinds: [K], ids: [kps[0]!.id] }]);
    expect(prefixOf(res.closed ?? '')).toBe(PREFIX.authRequired);
    expect(res.events).toEqual([]);
    expect(await inventory(relay.url, owner, pool.opts)).toHaveLength(2);
  });
});

describe('kp-req-unscoped', () => {
  it("kp-req-unscoped: a filter without kinds returns the owner's other events but no KeyPackage, needs no AUTH and consumes nothing", async () => {
    const owner = newKeys();
    const kps = await publishKeyPackages(relay.url, owner, 3, pool.opts);
    const anon = await pool.connect(relay.url);
    const note = textNote(owner, 'hello from the owner');
    expect((await anon.publish(note)).ok).toBe(true);
    const res = await anon.req([{ authors: [owner.pubkey] }]);
    expect(res.eose).toBe(true);
    expect(idsOf(res.events)).toEqual([note.id]);
    expect(sortedIds(await inventory(relay.url, owner, pool.opts))).toEqual(sortedIds(kps));
  });

  it("kp-req-unscoped: the same filter without kinds on an authenticated requester's connection returns no KeyPackage either", async () => {
    const owner = newKeys();
    await publishKeyPackages(relay.url, owner, 2, pool.opts);
    const requester = await pool.connectAs(relay.url, newKeys());
    const res = await requester.req([{ authors: [owner.pubkey] }]);
    expect(res.eose).toBe(true);
    expect(res.events.filter((e) => e.kind === K)).toEqual([]);
    expect(await inventory(relay.url, owner, pool.opts)).toHaveLength(2);
  });

  it("kp-req-unscoped: {kinds:[443]} without authors returns none of other people's KeyPackages and consumes nothing", async () => {
    const owner = newKeys();
    await publishKeyPackages(relay.url, owner, 2, pool.opts);
    const anon = await pool.connect(relay.url);
    const anonRes = await anon.req([{ kinds: [K] }]);
    expect(anonRes.eose).toBe(true);
    expect(anonRes.events).toEqual([]);
    const requester = await pool.connectAs(relay.url, newKeys());
    const authRes = await requester.req([{ kinds: [K], limit: 100 }]);
    expect(authRes.eose).toBe(true);
    expect(authRes.events).toEqual([]);
    expect(await inventory(relay.url, owner, pool.opts)).toHaveLength(2);
  });

  it('kp-req-unscoped: {ids:[a KeyPackage id]} without kinds returns and consumes nothing', async () => {
    const owner = newKeys();
    const kps = await publishKeyPackages(relay.url, owner, 2, pool.opts);
    const requester = await pool.connectAs(relay.url, newKeys());
    const res = await requester.req([{ ids: idsOf(kps) }]);
    expect(res.eose).toBe(true);
    expect(res.events).toEqual([]);
    expect(await inventory(relay.url, owner, pool.opts)).toHaveLength(2);
  });

  it('kp-req-unscoped: {kinds:[443], ids:[no stored KeyPackage]} needs no AUTH and returns nothing', async () => {
    const anon = await pool.connect(relay.url);
    const res = await anon.req([{ kinds: [K], ids: ['ab'.repeat(32)] }]);
    expect(res.closed).toBeUndefined();
    expect(res.eose).toBe(true);
    expect(res.events).toEqual([]);
  });
});

describe('kp-req-scope', () => {
  it('kp-req-scope: a filter with limit:0 needs no AUTH and hands out nothing', async () => {
    const owner = newKeys();
    await publishKeyPackages(relay.url, owner, 2, pool.opts);
    const anon = await pool.connect(relay.url);
    const res = await anon.req([{ kinds: [K], authors: [owner.pubkey], limit: 0 }]);
    expect(res.closed).toBeUndefined();
    expect(res.eose).toBe(true);
    expect(res.events).toEqual([]);
    const requester = await pool.connectAs(relay.url, newKeys());
    const res2 = await requester.req([{ kinds: [K], authors: [owner.pubkey], limit: 0 }]);
    expect(res2.eose).toBe(true);
    expect(res2.events).toEqual([]);
    expect(await inventory(relay.url, owner, pool.opts)).toHaveLength(2);
  });

  it('kp-req-scope: {kinds:[443], ids:[...]} without authors hands out the named KeyPackages of their owner', async () => {
    const owner = newKeys();
    const kps = await publishKeyPackages(relay.url, owner, 3, pool.opts);
    const requester = await pool.connectAs(relay.url, newKeys());
    const res = await requester.req([{ kinds: [K], ids: [kps[1]!.id] }]);
    expect(res.eose).toBe(true);
    expect(res.events).toEqual([kps[1]]);
    expect(sortedIds(await inventory(relay.url, owner, pool.opts))).toEqual(sortedIds([kps[0]!, kps[2]!]));
  });
});

describe('kp-req-scope (ids and kinds)', () => {
  it("kp-req-scope: ids naming two owners' KeyPackages ask for both owners, each with its own limit", async () => {
    const alice = newKeys();
    const bob = newKeys();
    const aliceKps = await publishKeyPackages(relay.url, alice, 3, pool.opts);
    const bobKps = await publishKeyPackages(relay.url, bob, 3, pool.opts);
    const requester = await pool.connectAs(relay.url, newKeys());
    const res = await requester.req([{ kinds: [K], ids: [aliceKps[1]!.id, aliceKps[2]!.id, bobKps[0]!.id, bobKps[2]!.id], limit: 1 }]);
    expect(sortedIds(res.events)).toEqual(sortedIds([aliceKps[1]!, bobKps[0]!]));
    expect(await inventory(relay.url, alice, pool.opts)).toHaveLength(2);
    expect(await inventory(relay.url, bob, pool.opts)).toHaveLength(2);
  });

  it("kp-req-unscoped: NDK's merged {kinds:[1,443],authors:[carol,bob]} returns their kind 1 events and none of their KeyPackages, needs no AUTH and consumes nothing", async () => {
    const [carol, bob] = [newKeys(), newKeys()];
    const bobKps = await publishKeyPackages(relay.url, bob, 3, pool.opts);
    const carolKps = await publishKeyPackages(relay.url, carol, 1, pool.opts);
    const poster = await pool.connect(relay.url);
    const notes = [textNote(carol, 'from carol'), textNote(bob, 'from bob')];
    for (const note of notes) expect((await poster.publish(note)).ok).toBe(true);
    const merged = { kinds: [1, K], authors: [carol.pubkey, bob.pubkey] };

    const anon = await pool.connect(relay.url);
    const anonRes = await anon.req([merged]);
    expect(anonRes.closed).toBeUndefined();
    expect(sortedIds(anonRes.events)).toEqual(sortedIds(notes));
    const requester = await pool.connectAs(relay.url, newKeys());
    expect(sortedIds((await requester.req([merged])).events)).toEqual(sortedIds(notes));
    // Carol's own connection gets her own KeyPackage too (kp-req-owner), still none of Bob's.
    const asCarol = await pool.connectAs(relay.url, carol);
    expect(sortedIds((await asCarol.req([merged])).events)).toEqual(sortedIds([...notes, ...carolKps]));

    expect(sortedIds(await inventory(relay.url, bob, pool.opts))).toEqual(sortedIds(bobKps));
    expect(sortedIds(await inventory(relay.url, carol, pool.opts))).toEqual(sortedIds(carolKps));
  });
});

describe('kp-req-owner', () => {
  it("kp-req-owner: the owner's own query returns all its KeyPackages newest first and consumes nothing", async () => {
    const owner = newKeys();
    const kps = await publishKeyPackages(relay.url, owner, 4, pool.opts);
    const own = await pool.connectAs(relay.url, owner);
    const res = await own.req([{ kinds: [K], authors: [owner.pubkey] }]);
    expect(res.eose).toBe(true);
    expect(idsOf(res.events)).toEqual(idsOf([...kps].reverse()));
    const again = await own.req([{ kinds: [K], authors: [owner.pubkey] }]);
    expect(again.events).toHaveLength(4);
    expect(await inventory(relay.url, owner, pool.opts)).toHaveLength(4);
  });

  it("kp-req-owner: the filter's limit applies to the owner's query (the newest ones)", async () => {
    const owner = newKeys();
    const kps = await publishKeyPackages(relay.url, owner, 4, pool.opts);
    const own = await pool.connectAs(relay.url, owner);
    const res = await own.req([{ kinds: [K], authors: [owner.pubkey], limit: 3 }]);
    expect(idsOf(res.events)).toEqual([kps[3]!.id, kps[2]!.id, kps[1]!.id]);
    expect(await inventory(relay.url, owner, pool.opts)).toHaveLength(4);
  });
});

describe('kp-req-owner with another owner', () => {
  it("kp-req-owner: a filter naming the authenticated owner and another owner is an owner's query for one, a hand-out for the other", async () => {
    const owner = newKeys();
    const other = newKeys();
    const ownKps = await publishKeyPackages(relay.url, owner, 3, pool.opts);
    const otherKps = await publishKeyPackages(relay.url, other, 4, pool.opts);
    const client = await pool.connectAs(relay.url, newKeys(), owner);
    const res = await client.req([{ kinds: [K], authors: [owner.pubkey, other.pubkey] }]);
    expect(res.eose).toBe(true);
    expect(sortedIds(res.events)).toEqual(sortedIds([...ownKps, ...otherKps.slice(0, 2)]));
    expect(await inventory(relay.url, owner, pool.opts)).toHaveLength(3);
    expect(sortedIds(await inventory(relay.url, other, pool.opts))).toEqual(sortedIds(otherKps.slice(2)));
  });
});

describe('kp-req-handout', () => {
  it('kp-req-handout: a requester gets at most max_per_query (2) of an owner\'s KeyPackages, the oldest, each as EVENT on its sub', async () => {
    const owner = newKeys();
    const kps = await publishKeyPackages(relay.url, owner, 4, pool.opts);
    const requester = await pool.connectAs(relay.url, newKeys());
    const subId = newSubId('handout');
    const res = await requester.req([{ kinds: [K], authors: [owner.pubkey], limit: 10 }], subId);
    expect(res.eose).toBe(true);
    expect(sortedIds(res.events)).toEqual(sortedIds(kps.slice(0, 2)));
    const frames = requester.received.filter((m) => m[0] === 'EVENT');
    expect(frames.every((m) => m[1] === subId)).toBe(true);
    expect(sortedIds(await inventory(relay.url, owner, pool.opts))).toEqual(sortedIds(kps.slice(2)));
  });

  it('kp-req-handout: limit 1 hands out exactly one', async () => {
    const owner = newKeys();
    const kps = await publishKeyPackages(relay.url, owner, 3, pool.opts);
    const requester = await pool.connectAs(relay.url, newKeys());
    const res = await requester.req([{ kinds: [K], authors: [owner.pubkey], limit: 1 }]);
    expect(res.events).toEqual([kps[0]]);
    expect(await inventory(relay.url, owner, pool.opts)).toHaveLength(2);
  });

  it('kp-req-handout: the limit applies per owner when a filter names two owners', async () => {
    const alice = newKeys();
    const bob = newKeys();
    const aliceKps = await publishKeyPackages(relay.url, alice, 3, pool.opts);
    const bobKps = await publishKeyPackages(relay.url, bob, 3, pool.opts);
    const requester = await pool.connectAs(relay.url, newKeys());
    const one = await requester.req([{ kinds: [K], authors: [alice.pubkey, bob.pubkey], limit: 1 }]);
    expect(sortedIds(one.events)).toEqual(sortedIds([aliceKps[0]!, bobKps[0]!]));

    const twoEach = await requester.req([{ kinds: [K], authors: [alice.pubkey, bob.pubkey] }]);
    // Each owner has 2 left: the older one is consumed, the newest is the last resort.
    expect(sortedIds(twoEach.events)).toEqual(sortedIds([aliceKps[1]!, aliceKps[2]!, bobKps[1]!, bobKps[2]!]));
    expect(idsOf(await inventory(relay.url, alice, pool.opts))).toEqual([aliceKps[2]!.id]);
    expect(idsOf(await inventory(relay.url, bob, pool.opts))).toEqual([bobKps[2]!.id]);
  });

  it('kp-req-handout: past max_per_query the rest of the filter is not an error (Appendix A)', async () => {
    const owner = newKeys();
    await publishKeyPackages(relay.url, owner, 5, pool.opts);
    const requester = await pool.connectAs(relay.url, newKeys());
    const res = await requester.req([{ kinds: [K], authors: [owner.pubkey], limit: 500 }]);
    expect(res.closed).toBeUndefined();
    expect(res.events).toHaveLength(2);
  });
});

describe('kp-req-eose', () => {
  it('kp-req-eose: KeyPackages and other kinds of one REQ come before EOSE, and the subscription stays open', async () => {
    const owner = newKeys();
    const kps = await publishKeyPackages(relay.url, owner, 3, pool.opts);
    const ownerConn = await pool.connect(relay.url);
    const note = textNote(owner, 'first');
    expect((await ownerConn.publish(note)).ok).toBe(true);

    const requester = await pool.connectAs(relay.url, newKeys());
    const res = await requester.req([
      { kinds: [K], authors: [owner.pubkey] },
      { kinds: [1], authors: [owner.pubkey] },
    ]);
    expect(res.eose).toBe(true);
    expect(sortedIds(res.events)).toEqual(sortedIds([kps[0]!, kps[1]!, note]));

    const later = textNote(owner, 'second');
    expect((await ownerConn.publish(later)).ok).toBe(true);
    const live = await requester.next((m) => m[0] === 'EVENT' && m[1] === res.subId, 'a live event after EOSE');
    expect(live[2]).toEqual(later);
  });

  it('kp-req-eose: a REQ with nothing to hand out still gets EOSE', async () => {
    const requester = await pool.connectAs(relay.url, newKeys());
    const res = await requester.req([{ kinds: [K], authors: [newKeys().pubkey] }]);
    expect(res.eose).toBe(true);
    expect(res.events).toEqual([]);
  });
});

describe('kp-req-refuse-whole', () => {
  const [relay, pool] = [judgedAtOnce, judgedAtOnce.pool];
  it('kp-req-refuse-whole: a REQ with one filter refused for AUTH is refused with one CLOSED and serves none of its filters', async () => {
    const owner = newKeys();
    await publishKeyPackages(relay.url, owner, 2, pool.opts);
    const anon = await pool.connect(relay.url);
    const note = textNote(owner, 'a note');
    expect((await anon.publish(note)).ok).toBe(true);
    const subId = newSubId('whole');
    anon.send(['REQ', subId, { kinds: [1], authors: [owner.pubkey] }, { kinds: [K], authors: [owner.pubkey] }]);
    expect(prefixOf(await closedFor(anon, subId))).toBe(PREFIX.authRequired);
    const rest = await anon.quietFor(200);
    expect(rest.filter((m) => m[1] === subId)).toEqual([]);
    expect(anon.received.filter((m) => m[0] === 'EVENT' && m[1] === subId)).toEqual([]);
    expect(anon.received.filter((m) => m[0] === 'EOSE' && m[1] === subId)).toEqual([]);
    expect(await inventory(relay.url, owner, pool.opts)).toHaveLength(2);
  });
});

describe('kp-req-refuse-whole (queries_per_window 1)', () => {
  let limited: RunningRelay;
  beforeAll(async () => {
    limited = await startTestRelay({ limits: { queries_per_window: 1 } });
  });
  afterAll(async () => {
    await limited?.close();
  });

  it('kp-req-unscoped: a mixed-kinds filter is not charged: after two, the one charged query of the window still hands out', async () => {
    const owner = newKeys();
    const kps = await publishKeyPackages(limited.url, owner, 3, pool.opts);
    const requester = await pool.connectAs(limited.url, newKeys());
    for (let i = 0; i < 2; i++) expect((await requester.req([{ kinds: [1, K], authors: [owner.pubkey] }])).eose).toBe(true);
    const res = await requester.req([{ kinds: [K], authors: [owner.pubkey], limit: 1 }]);
    expect(res.closed).toBeUndefined();
    expect(idsOf(res.events)).toEqual([kps[0]!.id]);
  });

  it("kp-req-refuse-whole: when one owner's filter is over its rate limit, nothing of the other owner's filter is handed out or charged", async () => {
    const alice = newKeys();
    const bob = newKeys();
    await publishKeyPackages(limited.url, alice, 3, pool.opts);
    const bobKps = await publishKeyPackages(limited.url, bob, 3, pool.opts);
    const requester = await pool.connectAs(limited.url, newKeys());
    expect((await requester.req([{ kinds: [K], authors: [alice.pubkey], limit: 1 }])).eose).toBe(true);

    const refused = await requester.req([
      { kinds: [K], authors: [bob.pubkey], limit: 1 },
      { kinds: [K], authors: [alice.pubkey], limit: 1 },
    ]);
    expect(prefixOf(refused.closed ?? '')).toBe(PREFIX.rateLimited);
    expect(refused.events).toEqual([]);
    expect(sortedIds(await inventory(limited.url, bob, pool.opts))).toEqual(sortedIds(bobKps));
    // Bob's pair was not charged: its only query of the window still works.
    const bobRes = await requester.req([{ kinds: [K], authors: [bob.pubkey], limit: 1 }]);
    expect(bobRes.closed).toBeUndefined();
    expect(bobRes.events).toEqual([bobKps[0]]);
  });
});
