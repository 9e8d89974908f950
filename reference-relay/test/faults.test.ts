/**
 * The fault switches (reference-relay/faults.ts): a relay started with one
 * fault breaks the rule it names, visibly over the wire. The conformance
 * suites rely on these switches to prove they catch a broken relay.
 */
import { describe, expect, it } from 'vitest';
import { newKeys } from '../../protocol/crypto.js';
import { KIND, prefixOf, TAG } from '../../protocol/profile.js';
import { inventory, publishKeyPackages } from '../../client/choreography.js';
import { deletion, keyPackage, textNote } from '../../fixtures/events.js';
import { FAULT_NAMES } from '../faults.js';
import type { RelayOptions } from '../config.js';
import { authEvent, countBy, faultRelays, idsOf, keyPackageRequest, liveSub, sendAuth, signedEvent, withBadId, withBadSig } from './harness.js';

const K = KIND.keyPackage;
const { pool, relayWith, faultIt, covered } = faultRelays();

/** For faults seen on a connection nobody authenticated: judged at once, not after kp-auth-grace's wait. */
const JUDGED_AT_ONCE: RelayOptions = { authGraceMs: 0 };

describe('fault switches', () => {
  faultIt('consume-last', 'the only KeyPackage is consumed by one hand-out', async () => {
    const relay = await relayWith('consume-last');
    const owner = newKeys();
    const [only] = await publishKeyPackages(relay.url, owner, 1, pool.opts);
    const requester = await pool.connectAs(relay.url, newKeys());
    expect((await requester.req([{ kinds: [K], authors: [owner.pubkey] }])).events).toEqual([only]);
    expect(await inventory(relay.url, owner, pool.opts)).toEqual([]);
  });

  faultIt('double-handout', 'racing requesters get the same non-last KeyPackage', async () => {
    const relay = await relayWith('double-handout');
    let shared = false;
    for (let round = 0; round < 3 && !shared; round++) {
      const owner = newKeys();
      const kps = await publishKeyPackages(relay.url, owner, 3, pool.opts);
      const clients = await Promise.all(Array.from({ length: 8 }, () => pool.connectAs(relay.url, newKeys())));
      const results = await Promise.all(clients.map((c) => c.req([{ kinds: [K], authors: [owner.pubkey] }])));
      const counts = countBy(results.flatMap((r) => idsOf(r.events)));
      shared = kps.slice(0, 2).some((kp) => (counts.get(kp.id) ?? 0) >= 2);
      await pool.closeClients();
    }
    expect(shared).toBe(true);
  });

  // §3-§5 faults (kp-req-*, kp-447-*, kp-handout-consume)
  faultIt('serve-unscoped', "an unauthenticated {kinds:[443]} filter gets someone else's KeyPackages, and they stay stored", async () => {
    const relay = await relayWith('serve-unscoped');
    const owner = newKeys();
    const kps = await publishKeyPackages(relay.url, owner, 2, pool.opts);
    const anon = await pool.connect(relay.url);
    const res = await anon.req([{ kinds: [K] }]);
    expect(res.eose).toBe(true);
    expect(idsOf(res.events).sort()).toEqual(idsOf(kps).sort());
    expect(await inventory(relay.url, owner, pool.opts)).toHaveLength(2);
  });

  faultIt('owner-oldest-first', "the owner's own query returns their KeyPackages oldest first, and limit 2 takes the oldest two", async () => {
    const relay = await relayWith('owner-oldest-first');
    const owner = newKeys();
    const kps = await publishKeyPackages(relay.url, owner, 3, pool.opts);
    const self = await pool.connectAs(relay.url, owner);
    expect(idsOf((await self.req([{ kinds: [K], authors: [owner.pubkey] }])).events)).toEqual(idsOf(kps));
    expect(idsOf((await self.req([{ kinds: [K], authors: [owner.pubkey], limit: 2 }])).events)).toEqual(idsOf(kps.slice(0, 2)));
  });

  faultIt('limit-per-filter', 'a filter naming two owners with limit 1 hands out one KeyPackage in all', async () => {
    const relay = await relayWith('limit-per-filter');
    const [bob, carol] = [newKeys(), newKeys()];
    await Promise.all([publishKeyPackages(relay.url, bob, 3, pool.opts), publishKeyPackages(relay.url, carol, 3, pool.opts)]);
    const requester = await pool.connectAs(relay.url, newKeys());
    const res = await requester.req([{ kinds: [K], authors: [bob.pubkey, carol.pubkey], limit: 1 }]);
    expect(res.events.map((e) => e.pubkey)).toEqual([bob.pubkey]);
    expect(await inventory(relay.url, carol, pool.opts)).toHaveLength(3);
  });

  faultIt('one-shot-handout', 'a REQ that handed out KeyPackages gets no live events after its EOSE', async () => {
    const relay = await relayWith('one-shot-handout');
    const owner = newKeys();
    await publishKeyPackages(relay.url, owner, 3, pool.opts);
    const requester = await pool.connectAs(relay.url, newKeys());
    const res = await requester.req([{ kinds: [K], authors: [owner.pubkey], limit: 1 }, { kinds: [1] }]);
    expect(res.events).toHaveLength(1);
    const plain = await liveSub(requester, { kinds: [1] });
    const poster = await pool.connectAs(relay.url, owner);
    const note = signedEvent(owner, 1, [], 'live');
    expect((await poster.publish(note)).ok).toBe(true);
    // The plain subscription gets the note; once it has, the dropped one would have had it too (one send loop).
    await requester.next((m) => m[0] === 'EVENT' && m[1] === plain && m[2].id === note.id, 'the note on the plain subscription', 2000);
    expect(requester.drainEvents(res.subId)).toEqual([]);
  });

  faultIt('partial-refusal', 'an unauthenticated REQ for a note and KeyPackages gets the note, then CLOSED auth-required:', async () => {
    const relay = await relayWith('partial-refusal', JUDGED_AT_ONCE);
    const owner = newKeys();
    const kps = await publishKeyPackages(relay.url, owner, 2, pool.opts);
    const poster = await pool.connectAs(relay.url, owner);
    const note = signedEvent(owner, 1, [], 'a note');
    expect((await poster.publish(note)).ok).toBe(true);
    const anon = await pool.connect(relay.url);
    const res = await anon.req([{ kinds: [1], authors: [owner.pubkey] }, { kinds: [K], authors: [owner.pubkey] }]);
    expect(prefixOf(res.closed ?? '')).toBe('auth-required');
    expect(idsOf(res.events)).toEqual([note.id]);
    expect(idsOf(await inventory(relay.url, owner, pool.opts)).sort()).toEqual(idsOf(kps).sort());
  });

  faultIt('handout-mixed-kinds', "a merged {kinds:[1,443]} filter hands out and consumes the owner's KeyPackages", async () => {
    const relay = await relayWith('handout-mixed-kinds');
    const owner = newKeys();
    const kps = await publishKeyPackages(relay.url, owner, 3, pool.opts);
    const requester = await pool.connectAs(relay.url, newKeys());
    const res = await requester.req([{ kinds: [1, K], authors: [owner.pubkey] }]);
    expect(idsOf(res.events).sort()).toEqual(idsOf(kps.slice(0, 2)).sort());
    expect(idsOf(await inventory(relay.url, owner, pool.opts))).toEqual([kps[2]!.id]);
  });

  faultIt('ids-as-authors', 'a filter naming the second KeyPackage by id gets the oldest one', async () => {
    const relay = await relayWith('ids-as-authors');
    const owner = newKeys();
    const kps = await publishKeyPackages(relay.url, owner, 3, pool.opts);
    const requester = await pool.connectAs(relay.url, newKeys());
    const res = await requester.req([{ kinds: [K], ids: [kps[1]!.id], limit: 1 }]);
    expect(idsOf(res.events)).toEqual([kps[0]!.id]);
    expect(idsOf(await inventory(relay.url, owner, pool.opts)).sort()).toEqual(idsOf(kps.slice(1)).sort());
  });

  faultIt('no-p-ok', 'a 447 without a p tag is answered OK true', async () => {
    const relay = await relayWith('no-p-ok');
    const keys = newKeys();
    const client = await pool.connectAs(relay.url, keys);
    await liveSub(client);
    const res = await client.sendRequest(keyPackageRequest(keys, [['n', '1']]));
    expect(res.ok).toBe(true);
    expect(res.deliveries).toEqual([]);
  });

  faultIt('handout-without-subscription', 'a 447 with no open subscription is accepted and consumes KeyPackages nobody receives', async () => {
    const relay = await relayWith('handout-without-subscription');
    const owner = newKeys();
    const kps = await publishKeyPackages(relay.url, owner, 3, pool.opts);
    const keys = newKeys();
    const client = await pool.connectAs(relay.url, keys);
    const res = await client.requestKeyPackages(keys, owner.pubkey, 1);
    expect(res.ok).toBe(true);
    expect(res.deliveries).toEqual([]);
    expect(idsOf(await inventory(relay.url, owner, pool.opts)).sort()).toEqual(idsOf(kps.slice(1)).sort());
  });

  faultIt('silent-empty-447', 'a 447 for an owner with no KeyPackage is answered OK true with an empty message', async () => {
    const relay = await relayWith('silent-empty-447');
    const owner = newKeys();
    const keys = newKeys();
    const client = await pool.connectAs(relay.url, keys);
    await liveSub(client, { kinds: [K], authors: [owner.pubkey] });
    const res = await client.requestKeyPackages(keys, owner.pubkey);
    expect([res.ok, res.message, res.deliveries]).toEqual([true, '', []]);
  });

  faultIt('owner-447-consumes', "a 447 on a connection where the owner is authenticated too consumes the owner's KeyPackage", async () => {
    const relay = await relayWith('owner-447-consumes');
    const owner = newKeys();
    const kps = await publishKeyPackages(relay.url, owner, 3, pool.opts);
    const keys = newKeys();
    const client = await pool.connectAs(relay.url, keys);
    expect((await client.auth(owner)).ok).toBe(true);
    await liveSub(client, { kinds: [K], authors: [owner.pubkey] });
    const res = await client.requestKeyPackages(keys, owner.pubkey, 1);
    expect(res.deliveries.map((d) => d.event.id)).toEqual([kps[0]!.id]);
    expect(idsOf(await inventory(relay.url, owner, pool.opts)).sort()).toEqual(idsOf(kps.slice(1)).sort());
  });

  faultIt('store-447', 'a kind 447 request can be read back by id after it was answered', async () => {
    const relay = await relayWith('store-447');
    const owner = newKeys();
    await publishKeyPackages(relay.url, owner, 2, pool.opts);
    const keys = newKeys();
    const client = await pool.connectAs(relay.url, keys);
    await liveSub(client, { kinds: [K], authors: [owner.pubkey] });
    const request = keyPackageRequest(keys, [['p', owner.pubkey]]);
    expect((await client.sendRequest(request)).ok).toBe(true);
    const reader = await pool.connect(relay.url);
    expect(idsOf((await reader.req([{ ids: [request.id] }])).events)).toEqual([request.id]);
  });

  faultIt('form-before-auth', 'an unauthenticated 447 with n 0 is refused invalid:, not auth-required:', async () => {
    const relay = await relayWith('form-before-auth', JUDGED_AT_ONCE);
    const owner = newKeys();
    const anon = await pool.connect(relay.url);
    const res = await anon.sendRequest(keyPackageRequest(newKeys(), [['p', owner.pubkey], ['n', '0']]));
    expect([res.ok, prefixOf(res.message)]).toEqual([false, 'invalid']);
    expect(prefixOf((await anon.requestKeyPackages(newKeys(), owner.pubkey)).message)).toBe('auth-required');
  });

  faultIt('soft-consume', 'a consumed KeyPackage is returned again to a filter naming it by id', async () => {
    const relay = await relayWith('soft-consume');
    const owner = newKeys();
    const kps = await publishKeyPackages(relay.url, owner, 3, pool.opts);
    const alice = await pool.connectAs(relay.url, newKeys());
    expect(idsOf((await alice.req([{ kinds: [K], authors: [owner.pubkey], limit: 1 }])).events)).toEqual([kps[0]!.id]);
    expect(idsOf(await inventory(relay.url, owner, pool.opts)).sort()).toEqual(idsOf(kps.slice(1)).sort());
    const bob = await pool.connectAs(relay.url, newKeys());
    expect(idsOf((await bob.req([{ kinds: [K], ids: [kps[0]!.id] }])).events)).toEqual([kps[0]!.id]);
  });

  faultIt('no-rate-limit', 'queries past queries_per_window are still served', async () => {
    const relay = await relayWith('no-rate-limit', { limits: { queries_per_window: 2, served_per_window: 2 } });
    const owner = newKeys();
    await publishKeyPackages(relay.url, owner, 6, pool.opts);
    const requester = await pool.connectAs(relay.url, newKeys());
    for (let i = 0; i < 4; i++) {
      const res = await requester.req([{ kinds: [K], authors: [owner.pubkey], limit: 1 }]);
      expect(res.closed).toBeUndefined();
      expect(res.events).toHaveLength(1);
    }
  });

  faultIt('no-auth', 'an unauthenticated REQ and 447 get KeyPackages', async () => {
    const relay = await relayWith('no-auth', JUDGED_AT_ONCE);
    const owner = newKeys();
    const kps = await publishKeyPackages(relay.url, owner, 4, pool.opts);
    const anon = await pool.connect(relay.url);
    const res = await anon.req([{ kinds: [K], authors: [owner.pubkey], limit: 1 }]);
    expect(res.closed).toBeUndefined();
    expect(idsOf(res.events)).toEqual([kps[0]!.id]);
    await liveSub(anon);
    const viaRequest = await anon.requestKeyPackages(newKeys(), owner.pubkey, 1);
    expect(viaRequest.ok).toBe(true);
    // Delivered on both open subscriptions (the REQ's stays live): one KeyPackage.
    expect(new Set(viaRequest.deliveries.map((d) => d.event.id)).size).toBe(1);
    expect(await inventory(relay.url, owner, pool.opts)).toHaveLength(2);
  });

  faultIt('zero-sig', 'hand-outs carry an all-zero signature instead of the stored one', async () => {
    const relay = await relayWith('zero-sig');
    const owner = newKeys();
    const kps = await publishKeyPackages(relay.url, owner, 2, pool.opts);
    const requester = await pool.connectAs(relay.url, newKeys());
    const res = await requester.req([{ kinds: [K], authors: [owner.pubkey], limit: 1 }]);
    expect(res.events).toHaveLength(1);
    expect(res.events[0]!.id).toBe(kps[0]!.id);
    expect(res.events[0]!.sig).toBe('0'.repeat(128));
  });

  faultIt('accept-replay', 'a consumed KeyPackage is accepted again', async () => {
    const relay = await relayWith('accept-replay');
    const owner = newKeys();
    const kps = await publishKeyPackages(relay.url, owner, 2, pool.opts);
    const requester = await pool.connectAs(relay.url, newKeys());
    expect(idsOf((await requester.req([{ kinds: [K], authors: [owner.pubkey], limit: 1 }])).events)).toEqual([kps[0]!.id]);
    const replay = await requester.publish(kps[0]!);
    expect(replay.ok).toBe(true);
    expect(prefixOf(replay.message)).not.toBe('duplicate');
    expect(await inventory(relay.url, owner, pool.opts)).toHaveLength(2);
  });

  faultIt('newest-first', 'the newest KeyPackage is handed out first', async () => {
    const relay = await relayWith('newest-first');
    const owner = newKeys();
    const kps = await publishKeyPackages(relay.url, owner, 3, pool.opts);
    const requester = await pool.connectAs(relay.url, newKeys());
    const res = await requester.req([{ kinds: [K], authors: [owner.pubkey], limit: 1 }]);
    expect(res.events).toHaveLength(1);
    expect(res.events[0]!.id).toBe(kps[2]!.id);
  });

  faultIt('broadcast-live', "a new KeyPackage reaches a third party's live subscription", async () => {
    const relay = await relayWith('broadcast-live');
    const owner = newKeys();
    const third = await pool.connectAs(relay.url, newKeys());
    const subId = await liveSub(third, { kinds: [K] });
    const [kp] = await publishKeyPackages(relay.url, owner, 1, pool.opts);
    const got = await third.next((m) => m[0] === 'EVENT' && m[1] === subId, 'the broadcast KeyPackage', 2000);
    expect(got[2]).toEqual(kp);
  });

  faultIt('ok-before-delivery', "a 447's OK arrives before its KeyPackages", async () => {
    const relay = await relayWith('ok-before-delivery');
    const owner = newKeys();
    const kps = await publishKeyPackages(relay.url, owner, 3, pool.opts);
    const keys = newKeys();
    const client = await pool.connectAs(relay.url, keys);
    const subId = await liveSub(client);
    const res = await client.requestKeyPackages(keys, owner.pubkey, 2);
    expect(res.ok).toBe(true);
    expect(res.deliveries).toEqual([]);
    const late: string[] = [];
    for (let i = 0; i < 2; i++) {
      const m = await client.next((x) => x[0] === 'EVENT' && x[1] === subId, 'a late delivery', 2000);
      if (m[0] === 'EVENT') late.push(m[2].id);
    }
    expect(late.sort()).toEqual(idsOf(kps.slice(0, 2)).sort());
  });

  faultIt('no-challenge', 'no AUTH challenge on connect, so an AUTH cannot name one', async () => {
    const relay = await relayWith('no-challenge');
    const client = await pool.connectRaw(relay.url);
    client.send(['REQ', 'probe', { kinds: [1], limit: 1 }]);
    await client.next((m) => m[0] === 'EOSE' && m[1] === 'probe', 'EOSE for probe');
    expect(client.received.map((m) => m[0])).toEqual(['EOSE']);
    expect(client.challenge).toBeUndefined();
  });

  faultIt('no-auth-grace', 'a KeyPackage REQ sent just before the AUTH is refused auth-required: at once, not held for it', async () => {
    const relay = await relayWith('no-auth-grace', { authGraceMs: 60_000 });
    const info = (await (await fetch(relay.httpUrl, { headers: { Accept: 'application/nostr+json' } })).json()) as { keypackages: { auth_grace_ms: number } };
    expect(info.keypackages.auth_grace_ms).toBe(60_000);
    const owner = newKeys();
    await publishKeyPackages(relay.url, owner, 2, pool.opts);
    const client = await pool.connect(relay.url);
    const auth = authEvent(client, newKeys());
    client.send(['REQ', 'early', { kinds: [K], authors: [owner.pubkey] }]);
    client.send(['AUTH', auth]);
    const end = await client.next((m) => (m[0] === 'EOSE' || m[0] === 'CLOSED') && m[1] === 'early', 'the answer to the early REQ');
    expect([end[0], prefixOf(String(end[2]))]).toEqual(['CLOSED', 'auth-required']);
    expect(await inventory(relay.url, owner, pool.opts)).toHaveLength(2);
  });

  faultIt('lazy-challenge', 'no challenge on connect; it comes once, immediately before the first auth-required: refusal, and AUTH then works', async () => {
    const relay = await relayWith('lazy-challenge');
    const owner = newKeys();
    const client = await pool.connectRaw(relay.url);
    client.send(['REQ', 'free', { kinds: [1], limit: 1 }]);
    await client.next((m) => m[0] === 'EOSE' && m[1] === 'free', 'EOSE for free');
    client.send(['REQ', 'kp-1', { kinds: [K], authors: [owner.pubkey] }]);
    await client.next((m) => m[0] === 'CLOSED' && m[1] === 'kp-1', 'CLOSED for kp-1');
    client.send(['REQ', 'kp-2', { kinds: [K], authors: [owner.pubkey] }]);
    await client.next((m) => m[0] === 'CLOSED' && m[1] === 'kp-2', 'CLOSED for kp-2');
    expect(client.received.map((m) => `${m[0]} ${String(m[1]).length > 8 ? '<challenge>' : String(m[1])}`)).toEqual([
      'EOSE free',
      'AUTH <challenge>',
      'CLOSED kp-1',
      'CLOSED kp-2',
    ]);
    expect(prefixOf(String(client.received[2]?.[2]))).toBe('auth-required');
    expect((await client.auth(owner)).ok).toBe(true);
    // A fresh connection provokes its challenge at once (no wait for one on connect) and can publish.
    await publishKeyPackages(relay.url, owner, 1, { ...pool.opts, challengeTimeoutMs: 0 });
  });

  // §1–§2 faults (kp-auth-*, kp-pub-*).
  faultIt('any-challenge', "an AUTH naming another connection's challenge authenticates its pubkey", async () => {
    const relay = await relayWith('any-challenge');
    const [client, other] = await Promise.all([pool.connect(relay.url), pool.connect(relay.url)]);
    const keys = newKeys();
    const foreign = authEvent(client, keys, { tags: [[TAG.relay, client.url], [TAG.challenge, other.challenge!]] });
    expect(foreign.tags).not.toContainEqual([TAG.challenge, client.challenge]);
    expect(await sendAuth(client, foreign)).toEqual({ ok: true, message: '' });
    // Authenticated: the pubkey's protected (NIP-70) note is accepted on this connection.
    expect((await client.publish(textNote(keys, 'protected', [[TAG.protected]]))).ok).toBe(true);
    // A missing challenge tag is still refused.
    const untagged = authEvent(client, newKeys(), { tags: [[TAG.relay, client.url]] });
    expect((await sendAuth(client, untagged)).ok).toBe(false);
  });

  faultIt('single-auth', 'a second pubkey cannot authenticate on a connection; the first stays authenticated', async () => {
    const relay = await relayWith('single-auth');
    const [alice, bob] = [newKeys(), newKeys()];
    const client = await pool.connectAs(relay.url, alice);
    expect((await client.auth(alice)).ok).toBe(true); // the same pubkey again is fine
    const second = await client.auth(bob);
    expect(second.ok).toBe(false);
    expect(prefixOf(second.message)).toBe('invalid');
    expect((await client.publish(textNote(alice, 'alice', [[TAG.protected]]))).ok).toBe(true);
    expect((await client.publish(textNote(bob, 'bob', [[TAG.protected]]))).ok).toBe(false);
  });

  faultIt('tag-allow-list', 'a valid KeyPackage with an alt tag is refused; with client and relays tags, accepted', async () => {
    const relay = await relayWith('tag-allow-list');
    const owner = newKeys();
    const client = await pool.connectAs(relay.url, owner);
    const tagged = await client.publish(await keyPackage(owner, { extraTags: [['alt', 'MLS KeyPackage']] }));
    expect(tagged.ok).toBe(false);
    expect(prefixOf(tagged.message)).toBe('invalid');
    expect((await client.publish(await keyPackage(owner, { extraTags: [['client', 'kpsuite'], ['relays', relay.url]] }))).ok).toBe(true);
    expect(await inventory(relay.url, owner, pool.opts)).toHaveLength(1);
  });

  faultIt('unchecked-sig-443', 'a KeyPackage with a bad signature is stored; a note with one, and a KeyPackage with a bad id, are refused', async () => {
    const relay = await relayWith('unchecked-sig-443');
    const owner = newKeys();
    const client = await pool.connectAs(relay.url, owner);
    const forged = withBadSig(await keyPackage(owner));
    expect(await client.publish(forged)).toEqual({ ok: true, message: '' });
    expect(idsOf(await inventory(relay.url, owner, pool.opts))).toEqual([forged.id]);
    expect((await client.publish(withBadId(await keyPackage(owner)))).ok).toBe(false);
    expect((await client.publish(withBadSig(textNote(owner, 'note')))).ok).toBe(false);
  });

  faultIt('case-insensitive-id', 'a KeyPackage under its id in upper case is stored as a second copy; a bad signature is still refused', async () => {
    const relay = await relayWith('case-insensitive-id');
    const owner = newKeys();
    const client = await pool.connectAs(relay.url, owner);
    const kp = await keyPackage(owner);
    expect((await client.publish(kp)).ok).toBe(true);
    const upper = { ...kp, id: kp.id.toUpperCase() };
    expect(await client.publish(upper)).toEqual({ ok: true, message: '' });
    expect(idsOf(await inventory(relay.url, owner, pool.opts)).sort()).toEqual([kp.id, upper.id].sort());
    expect((await client.publish(withBadSig(await keyPackage(owner)))).ok).toBe(false);
  });

  faultIt('unchecked-tags', 'a KeyPackage without a version tag is stored; one with bad content is still refused', async () => {
    const relay = await relayWith('unchecked-tags');
    const owner = newKeys();
    const client = await pool.connectAs(relay.url, owner);
    const untagged = await keyPackage(owner, { tags: [] });
    expect(await client.publish(untagged)).toEqual({ ok: true, message: '' });
    expect(idsOf(await inventory(relay.url, owner, pool.opts))).toEqual([untagged.id]);
    expect(prefixOf((await client.publish(await keyPackage(owner, { content: 'not hex' }))).message)).toBe('invalid');
  });

  faultIt('opaque-content', 'KeyPackages with empty or non-hex content are stored; one without tags is still refused', async () => {
    const relay = await relayWith('opaque-content');
    const owner = newKeys();
    const client = await pool.connectAs(relay.url, owner);
    const [empty, text] = [await keyPackage(owner, { content: '' }), await keyPackage(owner, { content: 'not hex' })];
    expect((await client.publish(empty)).ok).toBe(true);
    expect((await client.publish(text)).ok).toBe(true);
    expect(idsOf(await inventory(relay.url, owner, pool.opts)).sort()).toEqual(idsOf([empty, text]).sort());
    expect(prefixOf((await client.publish(await keyPackage(owner, { tags: [] }))).message)).toBe('invalid');
  });

  faultIt('mls-refusal-unprefixed', "a KeyPackage carrying someone else's credential is refused without the invalid: prefix", async () => {
    const relay = await relayWith('mls-refusal-unprefixed');
    const [mallory, bob] = [newKeys(), newKeys()];
    const client = await pool.connectAs(relay.url, mallory);
    const reply = await client.publish(await keyPackage(mallory, { mls: { identity: Buffer.from(bob.pubkey, 'hex') } }));
    expect(reply.ok).toBe(false);
    expect(prefixOf(reply.message)).toBeUndefined();
    expect(reply.message).toMatch(/^not a usable MLS KeyPackage: the credential identity is not the event's pubkey/);
    expect(await inventory(relay.url, mallory, pool.opts)).toEqual([]);
  });

  faultIt('ignore-protected', 'a ["-"] KeyPackage is accepted from a connection where nobody is authenticated', async () => {
    const relay = await relayWith('ignore-protected', JUDGED_AT_ONCE);
    const owner = newKeys();
    const anon = await pool.connect(relay.url);
    const event = await keyPackage(owner, { extraTags: [[TAG.protected]] });
    expect(await anon.publish(event)).toEqual({ ok: true, message: '' });
    expect(idsOf(await inventory(relay.url, owner, pool.opts))).toEqual([event.id]);
  });

  faultIt('accept-expired', 'a KeyPackage that expired a minute ago is accepted (and then not served)', async () => {
    const relay = await relayWith('accept-expired');
    const owner = newKeys();
    const client = await pool.connectAs(relay.url, owner);
    const expired = await keyPackage(owner, { extraTags: [[TAG.expiration, String(Math.floor(Date.now() / 1000) - 60)]] });
    expect(await client.publish(expired)).toEqual({ ok: true, message: '' });
    expect(await inventory(relay.url, owner, pool.opts)).toEqual([]);
  });

  faultIt('concurrent-messages', 'a burst of REQs on one connection gets the same non-last KeyPackage twice', async () => {
    const relay = await relayWith('concurrent-messages');
    const owner = newKeys();
    const kps = await publishKeyPackages(relay.url, owner, 5, pool.opts);
    const requester = await pool.connectAs(relay.url, newKeys());
    const results = await Promise.all(Array.from({ length: 4 }, () => requester.req([{ kinds: [K], authors: [owner.pubkey] }])));
    const counts = countBy(results.flatMap((r) => idsOf(r.events)));
    expect(kps.slice(0, 4).some((kp) => (counts.get(kp.id) ?? 0) >= 2)).toBe(true);
  });

  faultIt('close-under-load', 'a connection with 3 KeyPackage REQs in flight is closed with 1013', async () => {
    const relay = await relayWith('close-under-load');
    const owner = newKeys();
    await publishKeyPackages(relay.url, owner, 5, pool.opts);
    const requester = await pool.connectAs(relay.url, newKeys());
    const results = await Promise.allSettled(Array.from({ length: 3 }, () => requester.req([{ kinds: [K], authors: [owner.pubkey] }])));
    expect(results.some((r) => r.status === 'rejected')).toBe(true);
    expect(requester.closedWith?.code).toBe(1013);
    // One at a time is served.
    const calm = await pool.connectAs(relay.url, newKeys());
    expect((await calm.req([{ kinds: [K], authors: [owner.pubkey], limit: 1 }])).events).toHaveLength(1);
  });

  faultIt('under-delivery', 'a 447 without n gets 1 KeyPackage, with n 2 gets 2', async () => {
    const relay = await relayWith('under-delivery');
    const owner = newKeys();
    await publishKeyPackages(relay.url, owner, 5, pool.opts);
    const keys = newKeys();
    const client = await pool.connectAs(relay.url, keys);
    await liveSub(client, { kinds: [K], authors: [owner.pubkey] });
    expect((await client.requestKeyPackages(keys, owner.pubkey)).deliveries).toHaveLength(1);
    expect((await client.requestKeyPackages(keys, owner.pubkey, 2)).deliveries).toHaveLength(2);
  });

  faultIt('lower-served-cap', 'advertises served_per_window 4 and refuses the third hand-out', async () => {
    const relay = await relayWith('lower-served-cap', { limits: { served_per_window: 4 } });
    const info = (await (await fetch(relay.httpUrl, { headers: { Accept: 'application/nostr+json' } })).json()) as { keypackages: { served_per_window: number } };
    expect(info.keypackages.served_per_window).toBe(4);
    const owner = newKeys();
    await publishKeyPackages(relay.url, owner, 5, pool.opts);
    const requester = await pool.connectAs(relay.url, newKeys());
    expect((await requester.req([{ kinds: [K], authors: [owner.pubkey], limit: 2 }])).events).toHaveLength(2);
    const third = await requester.req([{ kinds: [K], authors: [owner.pubkey], limit: 1 }]);
    expect(prefixOf(third.closed ?? '')).toBe('rate-limited');
  });

  faultIt('first-subscription-only', 'a 447 hand-out reaches only the first of two matching subscriptions', async () => {
    const relay = await relayWith('first-subscription-only');
    const owner = newKeys();
    await publishKeyPackages(relay.url, owner, 3, pool.opts);
    const keys = newKeys();
    const client = await pool.connectAs(relay.url, keys);
    const first = await liveSub(client, { kinds: [K], authors: [owner.pubkey] });
    await liveSub(client, { authors: [owner.pubkey] });
    const res = await client.requestKeyPackages(keys, owner.pubkey, 1);
    expect(res.ok).toBe(true);
    expect(res.deliveries.map((d) => d.subId)).toEqual([first]);
  });

  faultIt('stranger-delete', "a kind 5 from a stranger removes the owner's KeyPackage", async () => {
    const relay = await relayWith('stranger-delete');
    const owner = newKeys();
    const kps = await publishKeyPackages(relay.url, owner, 2, pool.opts);
    const strangerKeys = newKeys();
    const stranger = await pool.connectAs(relay.url, strangerKeys);
    expect((await stranger.publish(deletion(strangerKeys, [kps[0]!.id]))).ok).toBe(true);
    expect(idsOf(await inventory(relay.url, owner, pool.opts))).toEqual([kps[1]!.id]);
  });

  faultIt('crash-on-bad-filter', 'an invalid filter closes every connection with 1011', async () => {
    const relay = await relayWith('crash-on-bad-filter');
    const [bad, bystander] = await Promise.all([pool.connect(relay.url), pool.connect(relay.url)]);
    bad.send(['REQ', 'bad', { kinds: 'x' }]);
    await Promise.all([bad.closed, bystander.closed]);
    expect([bad.closedWith?.code, bystander.closedWith?.code]).toEqual([1011, 1011]);
    // It still accepts new connections (a supervisor restarted it).
    const again = await pool.connect(relay.url);
    expect(again.isOpen).toBe(true);
  });

  it('every kp-relay fault switch has a test here (the marmot- ones are in marmot-faults.test.ts)', () => {
    expect([...covered].sort()).toEqual(FAULT_NAMES.filter((f) => !f.startsWith('marmot-')).sort());
  });
});
