/**
 * The marmot-relay/1 fault switches (reference-relay/faults.ts, `marmot-*`):
 * a relay started with one breaks the mr- rule it names, visibly over the
 * wire; marmot.test.ts shows the reference relay keeping each rule. Also: the
 * kp-relay faults that could reach Marmot's kinds leave them alone.
 */
import { describe, expect, it } from 'vitest';
import { newKeys } from '../../protocol/crypto.js';
import type { Filter, NostrEvent } from '../../protocol/messages.js';
import { KIND, PREFIX, TAG, prefixOf } from '../../protocol/profile.js';
import { nowSeconds, type RelayClient } from '../../client/relay-client.js';
import { giftWrap, groupMessage, marmotKeyPackage, newGroupId, newSlot, relayList, slotAddress, slotDeletion } from '../../fixtures/marmot.js';
import { ManualClock, nowSecondsOf } from '../clock.js';
import { FAULT_NAMES } from '../faults.js';
import { faultRelays, sortedIds, type RunningRelay } from './harness.js';

// Judged at once: no test here waits on kp-auth-grace.
const { pool, relayWith, faultIt, covered } = faultRelays({ authGraceMs: 0 });

const ofOwner = (pubkey: string): Filter => ({ kinds: [KIND.marmotKeyPackage], authors: [pubkey] });

/** Publishes `events` in order on a new connection where nobody is authenticated; each must be accepted. */
async function published(relay: RunningRelay, ...events: NostrEvent[]): Promise<RelayClient> {
  const client = await pool.connectRaw(relay.url);
  for (const event of events) expect((await client.publish(event)).ok).toBe(true);
  return client;
}

/** The events a REQ for `filter` on `client` (a new connection when omitted) returns before its EOSE. */
async function served(relay: RunningRelay, filter: Filter, client?: RelayClient): Promise<NostrEvent[]> {
  const res = await (client ?? (await pool.connectRaw(relay.url))).req([filter]);
  expect(res.closed).toBeUndefined();
  return res.events;
}

describe('marmot-relay/1 fault switches', () => {
  faultIt('marmot-keep-older', 'an older version sent after a newer one is served; on a tie the higher id sent second wins', async () => {
    const relay = await relayWith('marmot-keep-older');
    const owner = newKeys();
    const d = newSlot();
    const [v1, v2] = await Promise.all([nowSeconds() - 60, nowSeconds() - 50].map((createdAt) => marmotKeyPackage(owner, { d, createdAt })));
    await published(relay, v2!, v1!);
    expect(await served(relay, ofOwner(owner.pubkey))).toEqual([v1]);
    const tied = (await Promise.all([0, 1].map(() => marmotKeyPackage(owner, { d, createdAt: nowSeconds() - 40 })))).sort((a, b) => (a.id < b.id ? -1 : 1));
    await published(relay, tied[0]!, tied[1]!);
    expect(await served(relay, ofOwner(owner.pubkey))).toEqual([tied[1]]);
  });

  faultIt('marmot-serve-expired', 'a group message is still served, and not swept, after its expiration', async () => {
    const clock = new ManualClock();
    const relay = await relayWith('marmot-serve-expired', { clock });
    const h = newGroupId();
    const message = groupMessage(h, { expiration: nowSecondsOf(clock) + 5 });
    await published(relay, message);
    clock.advanceSeconds(6);
    relay.core.sweep();
    expect(await served(relay, { kinds: [KIND.groupMessage], '#h': [h] })).toEqual([message]);
  });

  faultIt('marmot-consume-30443', "a filter for kinds 443 and 30443 consumes the owner's 30443s: the second such REQ gets only the last one", async () => {
    const relay = await relayWith('marmot-consume-30443');
    const owner = newKeys();
    const slots = await Promise.all([0, 1, 2].map(() => marmotKeyPackage(owner)));
    await published(relay, ...slots);
    const stranger = await pool.connectAs(relay.url, newKeys());
    const mixed = { kinds: [KIND.keyPackage, KIND.marmotKeyPackage], authors: [owner.pubkey] };
    expect(sortedIds(await served(relay, mixed, stranger))).toEqual(sortedIds(slots));
    expect(await served(relay, mixed, stranger)).toHaveLength(1);
    expect(await served(relay, ofOwner(owner.pubkey))).toHaveLength(1);
  });

  faultIt('marmot-ignore-a-deletion', "the owner's kind 5 naming a slot by a removes nothing", async () => {
    const relay = await relayWith('marmot-ignore-a-deletion');
    const owner = newKeys();
    const kp = await marmotKeyPackage(owner, { createdAt: nowSeconds() - 60 });
    await published(relay, kp, slotDeletion(owner, { addresses: [slotAddress(kp)] }));
    expect(await served(relay, ofOwner(owner.pubkey))).toEqual([kp]);
  });

  faultIt('marmot-protected-no-challenge', 'a protected KeyPackage is refused blocked: with no challenge sent, and still refused once its author authenticates', async () => {
    const relay = await relayWith('marmot-protected-no-challenge');
    const author = newKeys();
    const kp = await marmotKeyPackage(author, { extraTags: [[TAG.protected]] });
    const client = await pool.connectRaw(relay.url);
    const first = await client.publish(kp);
    expect(first).toEqual({ ok: false, message: 'blocked: event marked as protected' });
    // A challenge sent on connect would have come before this OK.
    expect(client.received.filter((m) => m[0] === 'AUTH')).toEqual([]);
    // Its challenge comes with an auth-required: refusal, as lazy-challenge's does.
    const probe = await client.req([{ kinds: [KIND.keyPackage], authors: [newKeys().pubkey] }]);
    expect(prefixOf(probe.closed ?? '')).toBe(PREFIX.authRequired);
    expect((await client.auth(author)).ok).toBe(true);
    expect(prefixOf((await client.publish(kp)).message)).toBe(PREFIX.blocked);
  });

  faultIt('marmot-gift-wrap-leak', "an authenticated stranger gets bob's gift wraps; an unauthenticated REQ is still refused", async () => {
    const relay = await relayWith('marmot-gift-wrap-leak');
    const bob = newKeys();
    const wrap = giftWrap(newKeys(), bob.pubkey);
    await published(relay, wrap);
    const inbox = { kinds: [KIND.giftWrap], '#p': [bob.pubkey] };
    expect(prefixOf((await (await pool.connect(relay.url)).req([inbox])).closed ?? '')).toBe(PREFIX.authRequired);
    expect(await served(relay, inbox, await pool.connectAs(relay.url, newKeys()))).toEqual([wrap]);
  });

  faultIt('marmot-drop-tag-values', 'a KeyPackage is served with each tag cut to its first value; a group message is served as sent', async () => {
    const relay = await relayWith('marmot-drop-tag-values');
    const owner = newKeys();
    const kp = await marmotKeyPackage(owner);
    const h = newGroupId();
    const message = groupMessage(h);
    await published(relay, kp, message);
    // The fixture's mls_extensions has two values: the cut is visible.
    expect(kp.tags.some((t) => t.length > 2)).toBe(true);
    expect(await served(relay, ofOwner(owner.pubkey))).toEqual([{ ...kp, tags: kp.tags.map((t) => t.slice(0, 2)) }]);
    expect(await served(relay, { kinds: [KIND.groupMessage], '#h': [h] })).toEqual([message]);
  });

  faultIt('marmot-ignore-d-i-filters', "a kind 30443 filter on #d or #i returns all of the owner's slots", async () => {
    const relay = await relayWith('marmot-ignore-d-i-filters');
    const owner = newKeys();
    const [a, b] = await Promise.all([marmotKeyPackage(owner), marmotKeyPackage(owner)]);
    await published(relay, a!, b!);
    const d = a!.tags.find((t) => t[0] === TAG.identifier)![1]!;
    const i = a!.tags.find((t) => t[0] === TAG.keyPackageRef)![1]!;
    expect(sortedIds(await served(relay, { ...ofOwner(owner.pubkey), '#d': [d] }))).toEqual(sortedIds([a!, b!]));
    expect(sortedIds(await served(relay, { ...ofOwner(owner.pubkey), '#i': [i] }))).toEqual(sortedIds([a!, b!]));
  });

  faultIt('marmot-consume-on-fetch', 'a fetch consumes all but the newest KeyPackage, which stays; a consumed one is refused again', async () => {
    const relay = await relayWith('marmot-consume-on-fetch');
    const owner = newKeys();
    const [older, newer] = await Promise.all([nowSeconds() - 60, nowSeconds() - 50].map((createdAt) => marmotKeyPackage(owner, { createdAt })));
    await published(relay, older!, newer!);
    expect(sortedIds(await served(relay, ofOwner(owner.pubkey)))).toEqual(sortedIds([older!, newer!]));
    expect(await served(relay, ofOwner(owner.pubkey))).toEqual([newer]);
    expect(await served(relay, ofOwner(owner.pubkey))).toEqual([newer]);
    const again = await (await pool.connectRaw(relay.url)).publish(older!);
    expect([again.ok, prefixOf(again.message)]).toEqual([false, 'duplicate']);
  });

  faultIt('marmot-ignore-since', "a #h filter's since is ignored; a filter without #h still applies it", async () => {
    const relay = await relayWith('marmot-ignore-since');
    const h = newGroupId();
    const [older, newer] = [groupMessage(h, { createdAt: nowSeconds() - 70 }), groupMessage(h, { createdAt: nowSeconds() - 60 })];
    await published(relay, older, newer);
    expect(sortedIds(await served(relay, { kinds: [KIND.groupMessage], '#h': [h], since: newer.created_at }))).toEqual(sortedIds([older, newer]));
    expect(await served(relay, { kinds: [KIND.groupMessage], ids: [older.id, newer.id], since: newer.created_at })).toEqual([newer]);
  });

  faultIt('marmot-upsert-relay-lists', 'an older relay list sent after a newer one is served instead; a KeyPackage slot keeps the newer version', async () => {
    const relay = await relayWith('marmot-upsert-relay-lists');
    const owner = newKeys();
    const [v1, v2] = [relayList(owner, KIND.inboxRelays, ['wss://one.example.com'], nowSeconds() - 60), relayList(owner, KIND.inboxRelays, ['wss://two.example.com'], nowSeconds() - 50)];
    await published(relay, v2, v1);
    expect(await served(relay, { kinds: [KIND.inboxRelays], authors: [owner.pubkey] })).toEqual([v1]);
    const d = newSlot();
    const [k1, k2] = await Promise.all([nowSeconds() - 60, nowSeconds() - 50].map((createdAt) => marmotKeyPackage(owner, { d, createdAt })));
    const client = await pool.connectRaw(relay.url);
    expect((await client.publish(k2!)).ok).toBe(true);
    await client.publish(k1!);
    expect(await served(relay, ofOwner(owner.pubkey))).toEqual([k2]);
  });

  it('every marmot- fault switch has a test here', () => {
    expect([...covered].sort()).toEqual(FAULT_NAMES.filter((f) => f.startsWith('marmot-')).sort());
  });
});

describe('kp-relay faults leave Marmot kinds alone', () => {
  it("fault stranger-delete: a stranger's kind 5 still removes no kind 30443 (mr-kp-delete holds)", async () => {
    const relay = await relayWith('stranger-delete');
    const owner = newKeys();
    const mallory = newKeys();
    const kp = await marmotKeyPackage(owner);
    await published(relay, kp, slotDeletion(mallory, { ids: [kp.id] }));
    expect(await served(relay, ofOwner(owner.pubkey))).toEqual([kp]);
  });

  it('fault ignore-protected: a protected kind 30443 is still refused auth-required: (mr-protected holds)', async () => {
    const relay = await relayWith('ignore-protected');
    const author = newKeys();
    const reply = await (await pool.connect(relay.url)).publish(await marmotKeyPackage(author, { extraTags: [[TAG.protected]] }));
    expect(prefixOf(reply.message)).toBe(PREFIX.authRequired);
  });
});
