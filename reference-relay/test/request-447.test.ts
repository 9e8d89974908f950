/** PROFILE.md §4 Asking with a KeyPackage request (kind 447). */
import { describe, expect, it } from 'vitest';
import { newKeys, type Keys } from '../../protocol/crypto.js';
import type { Filter } from '../../protocol/messages.js';
import { KIND, PREFIX, TAG, prefixOf } from '../../protocol/profile.js';
import { inventory, publishKeyPackages } from '../../client/choreography.js';
import { nowSeconds, type RelayClient } from '../../client/relay-client.js';
import { idsOf, keyPackageRequest, liveSub, sharedRelay, signedEvent, sortedIds, withBadSig } from './harness.js';

const K = KIND.keyPackage;
const relay = sharedRelay(); // default limits: max_per_query 2
const pool = relay.pool;
// For the tests of a refusal itself: a relay that judges at once, without kp-auth-grace's wait (tested in auth-grace.test.ts).
const judgedAtOnce = sharedRelay({ authGraceMs: 0 });

/** A requester's authenticated connection with one live `{kinds:[443]}` subscription. */
async function requesterWithSub(filter: Filter = { kinds: [K] }): Promise<{ client: RelayClient; keys: Keys; subId: string }> {
  const keys = newKeys();
  const client = await pool.connectAs(relay.url, keys);
  const subId = await liveSub(client, filter);
  return { client, keys, subId };
}

describe('kp-447-auth', () => {
  it('kp-447-auth: a 447 whose signer is not authenticated gets OK false "auth-required:" and nothing is handed out', async () => {
    const [relay, pool] = [judgedAtOnce, judgedAtOnce.pool];
    const owner = newKeys();
    await publishKeyPackages(relay.url, owner, 2, pool.opts);
    const anon = await pool.connect(relay.url);
    await liveSub(anon);
    const res = await anon.requestKeyPackages(newKeys(), owner.pubkey, 1);
    expect(res.ok).toBe(false);
    expect(prefixOf(res.message)).toBe(PREFIX.authRequired);
    expect(res.deliveries).toEqual([]);
    expect(await inventory(relay.url, owner, pool.opts)).toHaveLength(2);
  });

  it('kp-447-auth: another pubkey authenticated on the connection does not stand in for the signer', async () => {
    const owner = newKeys();
    await publishKeyPackages(relay.url, owner, 2, pool.opts);
    const { client } = await requesterWithSub();
    const res = await client.requestKeyPackages(newKeys(), owner.pubkey, 1);
    expect(res.ok).toBe(false);
    expect(prefixOf(res.message)).toBe(PREFIX.authRequired);
    expect(res.deliveries).toEqual([]);
    expect(await inventory(relay.url, owner, pool.opts)).toHaveLength(2);
  });
});

describe('kp-447-form', () => {
  const other = newKeys().pubkey;
  const cases: [string, (signer: Keys, owner: string) => string[][]][] = [
    ['no p tag', () => []],
    ['two p tags', (_s, o) => [[TAG.pubkey, o], [TAG.pubkey, other]]],
    ['a p tag naming the signer', (s) => [[TAG.pubkey, s.pubkey]]],
    ['a p tag that is not a hex pubkey', () => [[TAG.pubkey, 'not-a-pubkey']]],
    ['n = 0', (_s, o) => [[TAG.pubkey, o], [TAG.count, '0']]],
    ['n = 3, above max_per_query 2', (_s, o) => [[TAG.pubkey, o], [TAG.count, '3']]],
    ['n = "two"', (_s, o) => [[TAG.pubkey, o], [TAG.count, 'two']]],
    ['n = "1.5"', (_s, o) => [[TAG.pubkey, o], [TAG.count, '1.5']]],
    ['n = "-1"', (_s, o) => [[TAG.pubkey, o], [TAG.count, '-1']]],
    ['two n tags', (_s, o) => [[TAG.pubkey, o], [TAG.count, '1'], [TAG.count, '1']]],
  ];
  for (const [what, tags] of cases) {
    it(`kp-447-form: a 447 with ${what} gets OK false "invalid:" and hands out nothing`, async () => {
      const owner = newKeys();
      await publishKeyPackages(relay.url, owner, 2, pool.opts);
      const { client, keys } = await requesterWithSub();
      const res = await client.sendRequest(keyPackageRequest(keys, tags(keys, owner.pubkey)));
      expect(res.ok).toBe(false);
      expect(prefixOf(res.message)).toBe(PREFIX.invalid);
      expect(res.deliveries).toEqual([]);
      expect(await inventory(relay.url, owner, pool.opts)).toHaveLength(2);
    });
  }
});

describe('kp-447-subscription', () => {
  const cases: [string, Filter | undefined][] = [
    ['no subscription at all', undefined],
    ['only a subscription for kind 1', { kinds: [1] }],
    ["only a subscription for another author's KeyPackages", { kinds: [K], authors: ['ab'.repeat(32)] }],
  ];
  for (const [what, filter] of cases) {
    it(`kp-447-subscription: with ${what} the 447 gets OK false "invalid:" and nothing is consumed`, async () => {
      const owner = newKeys();
      await publishKeyPackages(relay.url, owner, 2, pool.opts);
      const keys = newKeys();
      const client = await pool.connectAs(relay.url, keys);
      if (filter !== undefined) await liveSub(client, filter);
      const res = await client.requestKeyPackages(keys, owner.pubkey, 1);
      expect(res.ok).toBe(false);
      expect(prefixOf(res.message)).toBe(PREFIX.invalid);
      expect((await client.quietFor(150)).filter((m) => m[0] === 'EVENT')).toEqual([]);
      expect(await inventory(relay.url, owner, pool.opts)).toHaveLength(2);
    });
  }

  it('kp-447-subscription: a subscription closed with CLOSE no longer counts', async () => {
    const owner = newKeys();
    await publishKeyPackages(relay.url, owner, 2, pool.opts);
    const { client, keys, subId } = await requesterWithSub();
    client.closeSub(subId);
    const res = await client.requestKeyPackages(keys, owner.pubkey, 1);
    expect(res.ok).toBe(false);
    expect(prefixOf(res.message)).toBe(PREFIX.invalid);
    expect(await inventory(relay.url, owner, pool.opts)).toHaveLength(2);
  });

  it('kp-447-subscription: a subscription without kinds that names the owner in authors can receive', async () => {
    const owner = newKeys();
    const kps = await publishKeyPackages(relay.url, owner, 2, pool.opts);
    const { client, keys, subId } = await requesterWithSub({ authors: [owner.pubkey] });
    const res = await client.requestKeyPackages(keys, owner.pubkey, 1);
    expect(res.ok).toBe(true);
    expect(res.deliveries).toEqual([{ subId, event: kps[0] }]);
  });
});

describe('kp-447-delivery', () => {
  it('kp-447-delivery: the n oldest KeyPackages arrive on every matching subscription of the connection, and only there', async () => {
    const owner = newKeys();
    const kps = await publishKeyPackages(relay.url, owner, 3, pool.opts);
    const keys = newKeys();
    const client = await pool.connectAs(relay.url, keys);
    const all = await liveSub(client, { kinds: [K] });
    const byOwner = await liveSub(client, { kinds: [K], authors: [owner.pubkey] });
    const notes = await liveSub(client, { kinds: [1] });
    const res = await client.requestKeyPackages(keys, owner.pubkey, 2);
    expect(res.ok).toBe(true);
    for (const sub of [all, byOwner]) {
      const got = res.deliveries.filter((d) => d.subId === sub).map((d) => d.event);
      expect(sortedIds(got)).toEqual(sortedIds(kps.slice(0, 2)));
      // What is sent is the stored event, signature and all.
      for (const e of got) expect(e).toEqual(kps.find((k) => k.id === e.id));
    }
    expect(res.deliveries.filter((d) => d.subId === notes)).toEqual([]);
    expect(res.deliveries).toHaveLength(4);
    expect(idsOf(await inventory(relay.url, owner, pool.opts))).toEqual([kps[2]!.id]);
  });

  it('kp-447-delivery: without an n tag, max_per_query (2) are handed out', async () => {
    const owner = newKeys();
    const kps = await publishKeyPackages(relay.url, owner, 4, pool.opts);
    const { client, keys } = await requesterWithSub();
    const res = await client.requestKeyPackages(keys, owner.pubkey);
    expect(res.ok).toBe(true);
    expect(sortedIds(res.deliveries.map((d) => d.event))).toEqual(sortedIds(kps.slice(0, 2)));
  });

  it('kp-447-delivery: only KeyPackages that fully match a subscription (here: since) are handed out', async () => {
    const owner = newKeys();
    const kps = await publishKeyPackages(relay.url, owner, 3, pool.opts);
    const { client, keys } = await requesterWithSub({ kinds: [K], authors: [owner.pubkey], since: kps[1]!.created_at });
    const res = await client.requestKeyPackages(keys, owner.pubkey, 1);
    expect(res.ok).toBe(true);
    expect(res.deliveries.map((d) => d.event.id)).toEqual([kps[1]!.id]);
    expect(sortedIds(await inventory(relay.url, owner, pool.opts))).toEqual(sortedIds([kps[0]!, kps[2]!]));
  });
});

describe('kp-447-ok-after-delivery', () => {
  it('kp-447-ok-after-delivery: every delivery arrives before the OK, none after it', async () => {
    const owner = newKeys();
    const kps = await publishKeyPackages(relay.url, owner, 3, pool.opts);
    const { client, keys, subId } = await requesterWithSub();
    const second = await liveSub(client, { authors: [owner.pubkey] });
    const res = await client.requestKeyPackages(keys, owner.pubkey, 2);
    expect(res.ok).toBe(true);
    expect(res.deliveries.filter((d) => d.subId === subId)).toHaveLength(2);
    expect(res.deliveries.filter((d) => d.subId === second)).toHaveLength(2);
    const late = await client.quietFor(200);
    expect(late.filter((m) => m[0] === 'EVENT')).toEqual([]);
    expect(await inventory(relay.url, owner, pool.opts)).toEqual([kps[2]]);
  });
});

describe('kp-447-empty', () => {
  it('kp-447-empty: when the owner has no KeyPackage the 447 gets OK true with an informative message', async () => {
    const { client, keys } = await requesterWithSub();
    const res = await client.requestKeyPackages(keys, newKeys().pubkey, 1);
    expect(res.ok).toBe(true);
    expect(res.message.length).toBeGreaterThan(0);
    expect(res.deliveries).toEqual([]);
  });

  it('kp-447-empty: when no KeyPackage fully matches the subscription, OK true, nothing delivered or consumed', async () => {
    const owner = newKeys();
    await publishKeyPackages(relay.url, owner, 2, pool.opts);
    const { client, keys } = await requesterWithSub({ kinds: [K], authors: [owner.pubkey], since: nowSeconds() + 3600 });
    const res = await client.requestKeyPackages(keys, owner.pubkey, 2);
    expect(res.ok).toBe(true);
    expect(res.message.length).toBeGreaterThan(0);
    expect(res.deliveries).toEqual([]);
    expect(await inventory(relay.url, owner, pool.opts)).toHaveLength(2);
  });
});

describe('kp-447-owner', () => {
  it('kp-447-owner: with the owner also authenticated, up to n are delivered and nothing is consumed', async () => {
    const owner = newKeys();
    const kps = await publishKeyPackages(relay.url, owner, 3, pool.opts);
    const keys = newKeys();
    const client = await pool.connectAs(relay.url, keys, owner);
    await liveSub(client);
    for (let round = 0; round < 2; round++) {
      const res = await client.requestKeyPackages(keys, owner.pubkey, 2);
      expect(res.ok).toBe(true);
      expect(res.deliveries).toHaveLength(2);
      for (const d of res.deliveries) expect(idsOf(kps)).toContain(d.event.id);
    }
    expect(sortedIds(await inventory(relay.url, owner, pool.opts))).toEqual(sortedIds(kps));
  });
});

describe('kp-447-not-stored', () => {
  it('kp-447-not-stored: a 447 is neither stored nor broadcast', async () => {
    const owner = newKeys();
    await publishKeyPackages(relay.url, owner, 2, pool.opts);
    const watcher = await pool.connectAs(relay.url, owner);
    const watchSub = await liveSub(watcher, { kinds: [KIND.keyPackageRequest] });
    const { client, keys } = await requesterWithSub();
    const res = await client.requestKeyPackages(keys, owner.pubkey, 1);
    expect(res.ok).toBe(true);

    const stored = await client.req([{ kinds: [KIND.keyPackageRequest] }]);
    expect(stored.events).toEqual([]);
    const byOwnerTag = await watcher.req([{ kinds: [KIND.keyPackageRequest], '#p': [owner.pubkey] }]);
    expect(byOwnerTag.events).toEqual([]);
    await watcher.quietFor(200);
    expect(watcher.received.filter((m) => m[0] === 'EVENT' && m[1] === watchSub)).toEqual([]);
  });

  it('kp-447-not-stored: a gift wrap (kind 1059) is opaque and stored like any event', async () => {
    const owner = newKeys();
    const wrap = signedEvent(newKeys(), KIND.giftWrap, [[TAG.pubkey, owner.pubkey]], 'opaque-ciphertext');
    const sender = await pool.connect(relay.url);
    expect((await sender.publish(wrap)).ok).toBe(true);
    const reader = await pool.connectAs(relay.url, owner);
    const res = await reader.req([{ kinds: [KIND.giftWrap], '#p': [owner.pubkey] }]);
    expect(res.events).toEqual([wrap]);
  });
});

describe('kp-447-order', () => {
  const [relay, pool] = [judgedAtOnce, judgedAtOnce.pool];
  it('kp-447-order: the signature is checked before AUTH: a badly signed 447 on an unauthenticated connection gets "invalid:"', async () => {
    const owner = newKeys();
    const anon = await pool.connect(relay.url);
    const res = await anon.sendRequest(withBadSig(keyPackageRequest(newKeys(), [[TAG.pubkey, owner.pubkey]])));
    expect(res.ok).toBe(false);
    expect(prefixOf(res.message)).toBe(PREFIX.invalid);
  });

  it('kp-447-order: expiration is checked before AUTH: an expired 447 on an unauthenticated connection gets "invalid:"', async () => {
    const owner = newKeys();
    const anon = await pool.connect(relay.url);
    const expired = keyPackageRequest(newKeys(), [[TAG.pubkey, owner.pubkey], [TAG.expiration, String(nowSeconds() - 10)]]);
    const res = await anon.sendRequest(expired);
    expect(res.ok).toBe(false);
    expect(prefixOf(res.message)).toBe(PREFIX.invalid);
  });

  it('kp-447-order: AUTH is checked before the form: a malformed 447 from an unauthenticated signer gets "auth-required:"', async () => {
    const anon = await pool.connect(relay.url);
    await liveSub(anon);
    const res = await anon.sendRequest(keyPackageRequest(newKeys(), []));
    expect(res.ok).toBe(false);
    expect(prefixOf(res.message)).toBe(PREFIX.authRequired);
  });

  it('kp-447-order: the form is checked before the subscription: a malformed 447 without a subscription says why its form is wrong', async () => {
    const keys = newKeys();
    const client = await pool.connectAs(relay.url, keys);
    const noSub = await client.requestKeyPackages(keys, newKeys().pubkey, 1);
    const malformed = await client.sendRequest(keyPackageRequest(keys, [[TAG.pubkey, keys.pubkey]]));
    expect(prefixOf(noSub.message)).toBe(PREFIX.invalid);
    expect(prefixOf(malformed.message)).toBe(PREFIX.invalid);
    // Both are "invalid:", but for different reasons: the form's problem comes first.
    expect(malformed.message).not.toBe(noSub.message);
  });
});
