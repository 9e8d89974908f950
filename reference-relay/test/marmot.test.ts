/**
 * PROFILE-MARMOT.md (marmot-relay/1) on the reference relay, next to
 * kp-relay/0.2: one describe per mr- anchor. The fault switches that break
 * these rules are in marmot-faults.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { newKeys, type Keys } from '../../protocol/crypto.js';
import type { Filter, NostrEvent } from '../../protocol/messages.js';
import { DEFAULT_KEYPACKAGE_LIMITS, KIND, MARMOT_PROFILE_VERSION, PREFIX, TAG, prefixOf } from '../../protocol/profile.js';
import { nowSeconds, type RelayClient } from '../../client/relay-client.js';
import { inventory, publishKeyPackages } from '../../client/choreography.js';
import { textNote } from '../../fixtures/events.js';
import { giftWrap, groupMessage, marmotKeyPackage, newGroupId, newSlot, relayList, slotAddress, slotDeletion, tagValue } from '../../fixtures/marmot.js';
import { ManualClock, nowSecondsOf } from '../clock.js';
import type { MarmotInformation } from '../nip11.js';
import { SqliteStore } from '../store/sqlite-store.js';
import { idsOf, liveSub, sharedRelay, sortedIds, startTestRelay, type SharedRelay } from './harness.js';

// Moves forward by a few seconds per test only: AUTH created_at (wall clock) must stay within 600 s of it.
const clock = new ManualClock();
// Judged at once: the grace of kp-auth-grace has a relay of its own below.
const relay = sharedRelay({ clock, authGraceMs: 0 });
const pool = relay.pool;

const ofOwner = (owner: Keys, extra: Filter = {}): Filter => ({ kinds: [KIND.marmotKeyPackage], authors: [owner.pubkey], ...extra });
const inboxOf = (recipient: Keys): Filter => ({ kinds: [KIND.giftWrap], '#p': [recipient.pubkey] });
const byId = (a: NostrEvent, b: NostrEvent): number => (a.id < b.id ? -1 : 1);

/** Publishes `events` in order on a new connection where nobody is authenticated; each must be accepted with OK true "". */
async function published(on: SharedRelay, ...events: NostrEvent[]): Promise<RelayClient> {
  const client = await on.pool.connect(on.url);
  for (const event of events) expect(await client.publish(event)).toEqual({ ok: true, message: '' });
  return client;
}

/** What a REQ for `filter` returns to `client` (a new connection nobody authenticated when omitted); it must end with EOSE. */
async function served(filter: Filter, client?: RelayClient, on: SharedRelay = relay): Promise<NostrEvent[]> {
  const reader = client ?? (await on.pool.connect(on.url));
  const res = await reader.req([filter]);
  expect(res.closed).toBeUndefined();
  return res.events;
}

/** Versions of one slot of `owner`, created at each of `createdAts`. */
function versions(owner: Keys, createdAts: readonly number[], d = newSlot()): Promise<NostrEvent[]> {
  return Promise.all(createdAts.map((createdAt) => marmotKeyPackage(owner, { d, createdAt })));
}

/** The NIP-11 document of a relay, from its WebSocket URL. */
async function nip11(url: string): Promise<{ supported_nips?: number[]; marmot?: MarmotInformation }> {
  const res = await fetch(url.replace(/^ws/, 'http'), { headers: { Accept: 'application/nostr+json' } });
  return (await res.json()) as { supported_nips?: number[]; marmot?: MarmotInformation };
}

describe('mr-kp-store', () => {
  it('mr-kp-store: a kind 30443 is answered OK true "" without AUTH and served byte for byte to anyone', async () => {
    const owner = newKeys();
    const kp = await marmotKeyPackage(owner);
    await published(relay, kp);
    expect(await served(ofOwner(owner))).toEqual([kp]);
  });
});

describe('mr-kp-replace', () => {
  it('mr-kp-replace: a newer version replaces the older; an older one arriving later is answered OK true "duplicate:" and not served', async () => {
    const owner = newKeys();
    const [v1, v2] = await versions(owner, [nowSeconds() - 60, nowSeconds() - 50]);
    const client = await published(relay, v1!, v2!);
    expect(await served(ofOwner(owner))).toEqual([v2]);
    const late = await client.publish(v1!);
    expect(late.ok).toBe(true);
    expect(prefixOf(late.message)).toBe(PREFIX.duplicate);
    expect(await served(ofOwner(owner))).toEqual([v2]);
  });

  it.each(['lower id first', 'higher id first'] as const)('mr-kp-replace: of two versions with the same created_at the lower id is kept, %s', async (order) => {
    const owner = newKeys();
    const [lower, higher] = (await versions(owner, [nowSeconds() - 60, nowSeconds() - 60])).sort(byId);
    const [first, second] = order === 'lower id first' ? [lower!, higher!] : [higher!, lower!];
    const client = await published(relay, first);
    const reply = await client.publish(second);
    expect(reply.ok).toBe(true);
    expect(prefixOf(reply.message)).toBe(second === higher ? PREFIX.duplicate : undefined);
    expect(await served(ofOwner(owner))).toEqual([lower]);
  });

  it("mr-kp-replace: replacing one slot leaves the owner's other slots untouched", async () => {
    const owner = newKeys();
    const [a1, a2] = await versions(owner, [nowSeconds() - 60, nowSeconds() - 50]);
    const [b] = await versions(owner, [nowSeconds() - 55]);
    await published(relay, a1!, b!, a2!);
    expect(sortedIds(await served(ofOwner(owner)))).toEqual(sortedIds([a2!, b!]));
  });
});

describe('mr-relay-lists', () => {
  it.each([KIND.inboxRelays, KIND.relayList])('mr-relay-lists: kind %i keeps the newest per pubkey, the lower id on a tie, served to anyone', async (kind) => {
    const owner = newKeys();
    const t = nowSeconds() - 60;
    const [v0, v1, v2] = [t - 20, t - 10, t].map((createdAt, i) => relayList(owner, kind, [`wss://relay${i}.example.com`], createdAt));
    const client = await published(relay, v1!, v2!);
    expect(prefixOf((await client.publish(v0!)).message)).toBe(PREFIX.duplicate);
    const tie = relayList(owner, kind, ['wss://tie.example.com'], t);
    await client.publish(tie);
    expect(await served({ kinds: [kind], authors: [owner.pubkey] })).toEqual([[v2!, tie].sort(byId)[0]]);
  });
});

describe('mr-kp-filters', () => {
  it('mr-kp-filters: #d and #i return the current version of the slots they name, and nothing else', async () => {
    const owner = newKeys();
    const [a1, a2] = await versions(owner, [nowSeconds() - 60, nowSeconds() - 50]);
    const [b] = await versions(owner, [nowSeconds() - 55]);
    await published(relay, a1!, b!, a2!);
    expect(await served({ kinds: [KIND.marmotKeyPackage], '#d': [tagValue(a1!, TAG.identifier)] })).toEqual([a2]);
    const refs = [a1!, b!].map((e) => tagValue(e, TAG.keyPackageRef));
    expect(await served({ kinds: [KIND.marmotKeyPackage], '#i': refs })).toEqual([b]);
  });

  it.each(['d', 'i', 'h', 'p'])('mr-kp-filters: a #%s filter is answered from the single-letter tag index, not by scanning its kinds', (letter) => {
    const store = new SqliteStore(':memory:');
    try {
      const filter: Filter = { kinds: [KIND.marmotKeyPackage, KIND.groupMessage, KIND.giftWrap], since: 1 };
      filter[`#${letter}`] = ['ab', 'cd'];
      const plan = store.explainQuery(filter, { nowSeconds: 1, keyPackageOwners: new Set(), giftWrapReaders: new Set(['ef']), maxLimit: 500 });
      expect(plan.some((step) => step.includes('USING COVERING INDEX tags_by_value (name=? AND value=?)'))).toBe(true);
      expect(plan.some((step) => step.startsWith('SEARCH events USING INDEX sqlite_autoindex_events_1 (id=?)'))).toBe(true);
      expect(plan.filter((step) => step.startsWith('SCAN'))).toEqual([]);
    } finally {
      store.close();
    }
  });
});

describe('mr-kp-delete', () => {
  it("mr-kp-delete: the owner's kind 5 by e removes that version", async () => {
    const owner = newKeys();
    const [a] = await versions(owner, [nowSeconds() - 60]);
    const [b] = await versions(owner, [nowSeconds() - 60]);
    const client = await published(relay, a!, b!, slotDeletion(owner, { ids: [a!.id] }));
    expect(await served(ofOwner(owner))).toEqual([b]);
    expect(prefixOf((await client.publish(a!)).message)).toBe(PREFIX.duplicate);
  });

  it('mr-kp-delete: by a, every version up to its created_at goes and stays out; a newer version published afterwards is served', async () => {
    const owner = newKeys();
    const t = nowSeconds() - 60;
    const [v1, v2, v3] = await versions(owner, [t - 20, t - 10, t + 10]);
    const client = await published(relay, v1!, v2!, slotDeletion(owner, { addresses: [slotAddress(v1!)] }, t));
    expect(await served(ofOwner(owner))).toEqual([]);
    for (const old of [v1!, v2!]) {
      const again = await client.publish(old);
      expect(again.ok).toBe(false);
      expect(prefixOf(again.message)).toBe(PREFIX.duplicate);
    }
    expect(await client.publish(v3!)).toEqual({ ok: true, message: '' });
    expect(await served(ofOwner(owner))).toEqual([v3]);
  });

  it('mr-kp-delete: an a-deletion dated before the current version spares it', async () => {
    const owner = newKeys();
    const [v] = await versions(owner, [nowSeconds() - 60]);
    await published(relay, v!, slotDeletion(owner, { addresses: [slotAddress(v!)] }, v!.created_at - 30));
    expect(await served(ofOwner(owner))).toEqual([v]);
  });

  it('mr-kp-delete: an a tag deletes a replaceable relay list too (its address ends in an empty d)', async () => {
    const owner = newKeys();
    const list = relayList(owner, KIND.inboxRelays, ['wss://inbox.example.com'], nowSeconds() - 60);
    await published(relay, list, slotDeletion(owner, { addresses: [`${KIND.inboxRelays}:${owner.pubkey}:`] }));
    expect(await served({ kinds: [KIND.inboxRelays], authors: [owner.pubkey] })).toEqual([]);
  });

  it('mr-kp-delete: a kind 5 by someone else, by e or by a, removes nothing', async () => {
    const owner = newKeys();
    const mallory = newKeys();
    const [a] = await versions(owner, [nowSeconds() - 60]);
    const [b] = await versions(owner, [nowSeconds() - 60]);
    const client = await published(relay, a!, b!);
    await client.publish(slotDeletion(mallory, { ids: [a!.id], addresses: [slotAddress(b!)] }));
    expect(sortedIds(await served(ofOwner(owner)))).toEqual(sortedIds([a!, b!]));
  });
});

describe('mr-445-fetch', () => {
  it('mr-445-fetch: group messages from fresh keys are accepted without AUTH and served by #h, since applied', async () => {
    const h = newGroupId();
    const t = nowSeconds() - 60;
    const [older, newer] = [t - 10, t].map((createdAt) => groupMessage(h, { createdAt }));
    const other = groupMessage(newGroupId(), { createdAt: t });
    await published(relay, older!, newer!, other);
    expect(await served({ kinds: [KIND.groupMessage], '#h': [h] })).toEqual([newer, older]);
    expect(await served({ kinds: [KIND.groupMessage], '#h': [h], since: t })).toEqual([newer]);
  });
});

describe('mr-445-expiration', () => {
  it('mr-445-expiration: an already expired group message is refused invalid:', async () => {
    const client = await pool.connect(relay.url);
    const reply = await client.publish(groupMessage(newGroupId(), { expiration: nowSecondsOf(clock) - 60 }));
    expect(reply.ok).toBe(false);
    expect(prefixOf(reply.message)).toBe(PREFIX.invalid);
  });

  it('mr-445-expiration: a group message is served until its expiration, then not, and the sweep deletes it', async () => {
    const h = newGroupId();
    const message = groupMessage(h, { expiration: nowSecondsOf(clock) + 5 });
    await published(relay, message);
    expect(await served({ kinds: [KIND.groupMessage], '#h': [h] })).toEqual([message]);
    clock.advanceSeconds(6);
    expect(await served({ kinds: [KIND.groupMessage], '#h': [h] })).toEqual([]);
    expect(await served({ ids: [message.id] })).toEqual([]);
  });

  it('mr-445-expiration: the sweep timer deletes expired events from the store, and is cleared on close', async () => {
    const own = new ManualClock();
    const running = await startTestRelay({ clock: own, sweepIntervalMs: 20 });
    try {
      const message = groupMessage(newGroupId(), { expiration: nowSecondsOf(own) + 5 });
      const client = await pool.connect(running.url);
      expect((await client.publish(message)).ok).toBe(true);
      expect(running.core.store.get(message.id)).toEqual(message);
      own.advanceSeconds(6);
      // Bounded: the timer runs every 20 ms; 2 s is a hundred sweeps.
      const deadline = Date.now() + 2000;
      while (running.core.store.get(message.id) !== undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(running.core.store.get(message.id)).toBeUndefined();
    } finally {
      await running.close();
    }
  });
});

describe('mr-1059-serve, reads "recipient" (the default)', () => {
  it('mr-1059-serve: a gift wrap is accepted without AUTH; an unauthenticated REQ for kind 1059 is CLOSED auth-required:, after the challenge', async () => {
    const bob = newKeys();
    const wrap = giftWrap(newKeys(), bob.pubkey);
    await published(relay, wrap);
    const anon = await pool.connect(relay.url);
    const res = await anon.req([{ kinds: [1], authors: [bob.pubkey] }, inboxOf(bob)]);
    expect(res.events).toEqual([]);
    expect(prefixOf(res.closed ?? '')).toBe(PREFIX.authRequired);
    expect(anon.received.findIndex((m) => m[0] === 'AUTH')).toBeLessThan(anon.received.findIndex((m) => m[0] === 'CLOSED'));
    // Once the recipient authenticated on that connection, the same REQ gets it.
    expect((await anon.auth(bob)).ok).toBe(true);
    expect(await served(inboxOf(bob), anon)).toEqual([wrap]);
  });

  it("mr-1059-serve: another authenticated pubkey gets none of bob's gift wraps, and a filter without kinds needs no AUTH but leaves them out", async () => {
    const bob = newKeys();
    const wrap = giftWrap(newKeys(), bob.pubkey);
    await published(relay, wrap);
    const other = await pool.connectAs(relay.url, newKeys());
    expect(await served(inboxOf(bob), other)).toEqual([]);
    expect(await served({ ids: [wrap.id] }, other)).toEqual([]);
    expect(await served({ ids: [wrap.id] })).toEqual([]);
    // A connection where bob is one of several authenticated pubkeys gets it.
    expect(await served({ ids: [wrap.id] }, await pool.connectAs(relay.url, newKeys(), bob))).toEqual([wrap]);
  });

  it('mr-1059-serve: live, a new gift wrap reaches its authenticated recipient only', async () => {
    const bob = newKeys();
    const wrap = giftWrap(newKeys(), bob.pubkey);
    const bobs = await pool.connectAs(relay.url, bob);
    const bobSub = await liveSub(bobs, inboxOf(bob));
    const others = await Promise.all([pool.connectAs(relay.url, newKeys()), pool.connect(relay.url)]);
    // No kinds: the note tagging bob comes after the gift wrap, on every connection, so once it is there the wrap would be too.
    const otherSubs = await Promise.all(others.map((c) => liveSub(c, { '#p': [bob.pubkey] })));
    const note = textNote(newKeys(), 'after the gift wrap', [[TAG.pubkey, bob.pubkey]]);
    await published(relay, wrap, note);
    await bobs.next((m) => m[0] === 'EVENT' && m[1] === bobSub && m[2].id === wrap.id, "the gift wrap on bob's subscription");
    for (const [i, client] of others.entries()) {
      await client.next((m) => m[0] === 'EVENT' && m[1] === otherSubs[i] && m[2].id === note.id, 'the note after the gift wrap');
      expect(client.drainEvents(otherSubs[i]!)).toEqual([]);
    }
  });
});

describe('mr-1059-serve, reads "anyone"', () => {
  const anyone = sharedRelay({ giftWrapReads: 'anyone', authGraceMs: 0 });

  it('mr-1059-serve: with --gift-wrap-reads anyone, an unauthenticated REQ for kind 1059 gets the gift wraps', async () => {
    const bob = newKeys();
    const wrap = giftWrap(newKeys(), bob.pubkey);
    await published(anyone, wrap);
    expect(await served(inboxOf(bob), undefined, anyone)).toEqual([wrap]);
  });

  it('mr-advertise: NIP-11 says gift_wrap_reads "anyone"', async () => {
    expect((await nip11(anyone.url)).marmot).toEqual({ profile: MARMOT_PROFILE_VERSION, gift_wrap_reads: 'anyone' });
  });
});

describe('mr-1059-serve with kp-auth-grace', () => {
  // A grace far longer than the test: only the AUTH can end the wait.
  const graceful = sharedRelay({ authGraceMs: 20_000 });

  it('a REQ for gift wraps sent before AUTH is held, then served once the recipient authenticates', async () => {
    const bob = newKeys();
    const wrap = giftWrap(newKeys(), bob.pubkey);
    await published(graceful, wrap);
    const client = await graceful.pool.connect(graceful.url);
    client.send(['REQ', 'inbox', inboxOf(bob)]);
    expect((await client.auth(bob)).ok).toBe(true);
    const res = await client.collect('inbox');
    expect(res).toMatchObject({ eose: true, events: [wrap] });
  });
});

describe('mr-coexist', () => {
  it("mr-coexist: kind 30443 filters, alone or mixed with 443, consume nothing and are never charged, and leave the owner's 443s alone", async () => {
    const owner = newKeys();
    const slots = await Promise.all([0, 1, 2].map(() => marmotKeyPackage(owner)));
    await published(relay, ...slots);
    const kps = await publishKeyPackages(relay.url, owner, 2, pool.opts);
    const stranger = await pool.connectAs(relay.url, newKeys());
    for (let n = 0; n <= DEFAULT_KEYPACKAGE_LIMITS.queries_per_window; n++) {
      expect(sortedIds(await served(ofOwner(owner), stranger))).toEqual(sortedIds(slots));
    }
    const mixed = await served({ kinds: [KIND.keyPackage, KIND.marmotKeyPackage], authors: [owner.pubkey] }, stranger);
    expect(sortedIds(mixed)).toEqual(sortedIds(slots));
    expect(sortedIds(await inventory(relay.url, owner, pool.opts))).toEqual(sortedIds(kps));
    // Nothing was charged: the stranger's first real ask for the owner's 443s is served.
    expect(idsOf(await served({ kinds: [KIND.keyPackage], authors: [owner.pubkey] }, stranger))).toEqual(idsOf(kps));
  });
});

describe('mr-protected', () => {
  it.each([
    ['KeyPackage (kind 30443)', (author: Keys) => marmotKeyPackage(author, { extraTags: [[TAG.protected]] })],
    ['inbox relay list (kind 10050)', async (author: Keys) => relayList(author, KIND.inboxRelays, ['wss://inbox.example.com'], nowSeconds(), [[TAG.protected]])],
  ])('mr-protected: a protected %s is refused auth-required: after the challenge on connect, then accepted from its authenticated author', async (_what, build) => {
    const author = newKeys();
    const event = await build(author);
    const client = await pool.connect(relay.url); // returns once the challenge sent on connect arrived
    const first = await client.publish(event);
    expect(first.ok).toBe(false);
    expect(prefixOf(first.message)).toBe(PREFIX.authRequired);
    expect((await client.auth(author)).ok).toBe(true);
    expect(await client.publish(event)).toEqual({ ok: true, message: '' });
  });
});

describe('mr-advertise', () => {
  it('mr-advertise: NIP-11 has a top-level marmot object next to keypackages, and lists NIPs 1, 9, 11, 40, 42 and 70', async () => {
    const info = await nip11(relay.url);
    expect(info.marmot).toEqual({ profile: MARMOT_PROFILE_VERSION, gift_wrap_reads: 'recipient' });
    expect(info.supported_nips).toEqual(expect.arrayContaining([1, 9, 11, 40, 42, 70]));
  });
});
