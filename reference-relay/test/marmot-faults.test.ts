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
import { giftWrap, groupMessage, marmotKeyPackage, newGroupId, newSlot, slotAddress, slotDeletion } from '../../fixtures/marmot.js';
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
