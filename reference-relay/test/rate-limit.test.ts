/**
 * PROFILE.md §6 Rate limits, with small limits and a clock the tests move:
 * max_per_query 2, queries_per_window 3, served_per_window 5, window 60 s.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { newKeys, type Keys } from '../../protocol/crypto.js';
import { KIND, PREFIX, TAG, prefixOf } from '../../protocol/profile.js';
import { inventory, publishKeyPackages } from '../../client/choreography.js';
import type { RelayClient, ReqResult } from '../../client/relay-client.js';
import { ManualClock } from '../clock.js';
import { ClientPool, keyPackageRequest, liveSub, startTestRelay, type RunningRelay } from './harness.js';

const K = KIND.keyPackage;
const LIMITS = { max_per_query: 2, queries_per_window: 3, served_per_window: 5, window_seconds: 60 };

let relay: RunningRelay;
let clock: ManualClock;
const pool = new ClientPool();

beforeEach(async () => {
  clock = new ManualClock();
  relay = await startTestRelay({ limits: LIMITS, clock });
});
afterEach(async ({ task }) => {
  await pool.closeAll(task.result?.state === 'fail');
  await relay?.close();
});

/** A charged REQ for `owner`'s KeyPackages (limit 1 unless told). */
function ask(client: RelayClient, owner: Keys, limit = 1): Promise<ReqResult> {
  return client.req([{ kinds: [K], authors: [owner.pubkey], limit }]);
}

function expectServed(res: ReqResult, count: number): void {
  expect(res.closed).toBeUndefined();
  expect(res.eose).toBe(true);
  expect(res.events).toHaveLength(count);
}

function expectRateLimited(res: ReqResult): void {
  expect(res.eose).toBe(false);
  expect(prefixOf(res.closed ?? '')).toBe(PREFIX.rateLimited);
  expect(res.events).toEqual([]);
}

describe('kp-rate-queries', () => {
  it('kp-rate-queries: the 4th charged REQ of a (requester, owner) pair in the window is refused; another owner is unaffected', async () => {
    const owner = newKeys();
    const other = newKeys();
    await publishKeyPackages(relay.url, owner, 10, pool.opts);
    await publishKeyPackages(relay.url, other, 2, pool.opts);
    const client = await pool.connectAs(relay.url, newKeys());
    for (let i = 0; i < 3; i++) expectServed(await ask(client, owner), 1);
    expectRateLimited(await ask(client, owner));
    expect(await inventory(relay.url, owner, pool.opts)).toHaveLength(7);
    expectServed(await ask(client, other), 1);
  });

  it('kp-rate-queries: the window slides: a query leaves the count window_seconds after it was made', async () => {
    const owner = newKeys();
    await publishKeyPackages(relay.url, owner, 10, pool.opts);
    const client = await pool.connectAs(relay.url, newKeys());
    expectServed(await ask(client, owner), 1); // t = 0
    clock.advanceSeconds(20);
    expectServed(await ask(client, owner), 1); // t = 20
    clock.advanceSeconds(20);
    expectServed(await ask(client, owner), 1); // t = 40
    clock.advanceSeconds(10);
    expectRateLimited(await ask(client, owner)); // t = 50: 3 in window
    clock.advanceSeconds(11);
    expectServed(await ask(client, owner), 1); // t = 61: the t = 0 query has left
    expectRateLimited(await ask(client, owner)); // the t = 20 one has not
    clock.advanceSeconds(20);
    expectServed(await ask(client, owner), 1); // t = 81
    expect(await inventory(relay.url, owner, pool.opts)).toHaveLength(5);
  });

  it('kp-rate-queries: a query that finds nothing is charged', async () => {
    const empty = newKeys();
    const client = await pool.connectAs(relay.url, newKeys());
    for (let i = 0; i < 3; i++) expectServed(await ask(client, empty), 0);
    expectRateLimited(await ask(client, empty));
  });

  it('kp-rate-queries: REQ filters and 447 requests count against the same pair; a 447 over the limit gets OK false "rate-limited:"', async () => {
    const owner = newKeys();
    await publishKeyPackages(relay.url, owner, 10, pool.opts);
    const keys = newKeys();
    const client = await pool.connectAs(relay.url, keys);
    await liveSub(client);
    expectServed(await ask(client, owner), 1);
    expectServed(await ask(client, owner), 1);
    expect((await client.requestKeyPackages(keys, owner.pubkey, 1)).ok).toBe(true);
    const refused = await client.requestKeyPackages(keys, owner.pubkey, 1);
    expect(refused.ok).toBe(false);
    expect(prefixOf(refused.message)).toBe(PREFIX.rateLimited);
    expect(refused.deliveries).toEqual([]);
    expectRateLimited(await ask(client, owner));
    expect(await inventory(relay.url, owner, pool.opts)).toHaveLength(7);
  });

  it('kp-rate-queries: a REQ with two authenticated requesters is charged to each of them', async () => {
    const owner = newKeys();
    await publishKeyPackages(relay.url, owner, 10, pool.opts);
    const r1 = newKeys();
    const r2 = newKeys();
    const both = await pool.connectAs(relay.url, r1, r2);
    for (let i = 0; i < 3; i++) expectServed(await ask(both, owner), 1);
    expectRateLimited(await ask(await pool.connectAs(relay.url, r1), owner));
    expectRateLimited(await ask(await pool.connectAs(relay.url, r2), owner));
    expectServed(await ask(await pool.connectAs(relay.url, newKeys()), owner), 1);
  });

  it('kp-rate-queries: a filter naming two owners is one charged query for each of them', async () => {
    const a = newKeys();
    const b = newKeys();
    await publishKeyPackages(relay.url, a, 4, pool.opts);
    await publishKeyPackages(relay.url, b, 4, pool.opts);
    const client = await pool.connectAs(relay.url, newKeys());
    expectServed(await client.req([{ kinds: [K], authors: [a.pubkey, b.pubkey], limit: 1 }]), 2);
    expectServed(await ask(client, a), 1);
    expectServed(await ask(client, a), 1);
    expectRateLimited(await ask(client, a));
    expectServed(await ask(client, b), 1);
  });

  it('kp-rate-queries: two filters of one REQ for the same owner are two charged queries', async () => {
    const owner = newKeys();
    await publishKeyPackages(relay.url, owner, 6, pool.opts);
    const client = await pool.connectAs(relay.url, newKeys());
    expectServed(await ask(client, owner), 1);
    expectServed(await ask(client, owner), 1);
    const filter = { kinds: [K], authors: [owner.pubkey], limit: 1 };
    expectRateLimited(await client.req([filter, filter])); // 2 + 2 > 3
    expect(await inventory(relay.url, owner, pool.opts)).toHaveLength(4);
    expectServed(await ask(client, owner), 1);
  });

  it('kp-rate-queries: a 447 is charged to its signer only, not to the other pubkeys of the connection', async () => {
    const owner = newKeys();
    await publishKeyPackages(relay.url, owner, 10, pool.opts);
    const r1 = newKeys();
    const r2 = newKeys();
    const client = await pool.connectAs(relay.url, r1, r2);
    await liveSub(client);
    for (let i = 0; i < 3; i++) expect((await client.requestKeyPackages(r1, owner.pubkey, 1)).ok).toBe(true);
    const r1Again = await client.requestKeyPackages(r1, owner.pubkey, 1);
    expect(prefixOf(r1Again.message)).toBe(PREFIX.rateLimited);
    for (let i = 0; i < 3; i++) {
      const r2Res = await client.requestKeyPackages(r2, owner.pubkey, 1);
      expect(r2Res.ok).toBe(true);
      expect(r2Res.deliveries).toHaveLength(1);
    }
  });
});

describe('kp-rate-served', () => {
  it('kp-rate-served: last resorts count against served_per_window', async () => {
    const c = newKeys();
    const d = newKeys();
    const e = newKeys();
    for (const owner of [c, d]) await publishKeyPackages(relay.url, owner, 1, pool.opts);
    await publishKeyPackages(relay.url, e, 2, pool.opts);
    const client = await pool.connectAs(relay.url, newKeys());
    for (let i = 0; i < 3; i++) expectServed(await ask(client, c), 1);
    for (let i = 0; i < 2; i++) expectServed(await ask(client, d), 1);
    // 5 last resorts served: a new pair is refused for the served cap.
    expectRateLimited(await ask(client, e));
    expect(await inventory(relay.url, e, pool.opts)).toHaveLength(2);
    clock.advanceSeconds(61);
    expectServed(await ask(client, e), 1);
  });

  it('kp-rate-served: a query whose hand-out would pass the cap is refused whole, a smaller one is served', async () => {
    const a = newKeys();
    const b = newKeys();
    await publishKeyPackages(relay.url, a, 6, pool.opts);
    await publishKeyPackages(relay.url, b, 6, pool.opts);
    const client = await pool.connectAs(relay.url, newKeys());
    expectServed(await ask(client, a, 2), 2);
    expectServed(await ask(client, b, 2), 2);
    expectRateLimited(await ask(client, a, 2)); // 4 + 2 > 5
    expect(await inventory(relay.url, a, pool.opts)).toHaveLength(4);
    expectServed(await ask(client, a, 1), 1); // 4 + 1 = 5
  });

  it('kp-rate-served: a REQ hand-out counts for every authenticated requester on the connection', async () => {
    const a = newKeys();
    const b = newKeys();
    await publishKeyPackages(relay.url, a, 6, pool.opts);
    await publishKeyPackages(relay.url, b, 6, pool.opts);
    const r1 = newKeys();
    const both = await pool.connectAs(relay.url, r1, newKeys());
    expectServed(await ask(both, a, 2), 2);
    expectServed(await ask(both, b, 2), 2);
    const alone = await pool.connectAs(relay.url, r1);
    expectRateLimited(await ask(alone, a, 2)); // r1 was served 4
    expectServed(await ask(alone, a, 1), 1);
  });

  it('kp-req-refuse-whole: a REQ whose filters together would pass the served cap is refused whole', async () => {
    const owners = [newKeys(), newKeys(), newKeys()] as const;
    for (const owner of owners) await publishKeyPackages(relay.url, owner, 4, pool.opts);
    const client = await pool.connectAs(relay.url, newKeys());
    expectServed(await ask(client, owners[0], 2), 2);
    expectServed(await ask(client, owners[0], 2), 2);
    // 4 served: one more fits, two do not.
    const both = await client.req([
      { kinds: [K], authors: [owners[1].pubkey], limit: 1 },
      { kinds: [K], authors: [owners[2].pubkey], limit: 1 },
    ]);
    expectRateLimited(both);
    expect(await inventory(relay.url, owners[1], pool.opts)).toHaveLength(4);
    expect(await inventory(relay.url, owners[2], pool.opts)).toHaveLength(4);
    expectServed(await ask(client, owners[2], 1), 1);
  });

  it('kp-rate-served: a KeyPackage delivered on two subscriptions of one connection counts once', async () => {
    const owners = [newKeys(), newKeys(), newKeys(), newKeys()] as const;
    for (const owner of owners) await publishKeyPackages(relay.url, owner, 3, pool.opts);
    const keys = newKeys();
    const client = await pool.connectAs(relay.url, keys);
    await liveSub(client, { kinds: [K] });
    await liveSub(client, { kinds: [K], authors: owners.map((o) => o.pubkey) });
    const first = await client.requestKeyPackages(keys, owners[0].pubkey, 2);
    const second = await client.requestKeyPackages(keys, owners[1].pubkey, 2);
    expect(first.deliveries).toHaveLength(4);
    expect(second.deliveries).toHaveLength(4);
    const third = await client.requestKeyPackages(keys, owners[2].pubkey, 1);
    expect(third.ok).toBe(true); // 2 + 2 + 1 = 5 KeyPackages, 10 frames
    expect(third.deliveries).toHaveLength(2);
    const fourth = await client.requestKeyPackages(keys, owners[3].pubkey, 1);
    expect(fourth.ok).toBe(false);
    expect(prefixOf(fourth.message)).toBe(PREFIX.rateLimited);
  });
});

describe('kp-rate-refusal', () => {
  it('kp-rate-refusal: refused queries consume nothing and are not charged', async () => {
    const owner = newKeys();
    await publishKeyPackages(relay.url, owner, 10, pool.opts);
    const keys = newKeys();
    const client = await pool.connectAs(relay.url, keys);
    await liveSub(client);
    for (let i = 0; i < 3; i++) expectServed(await ask(client, owner), 1); // t = 0
    clock.advanceSeconds(10);
    expectRateLimited(await ask(client, owner)); // t = 10
    expectRateLimited(await ask(client, owner));
    expect((await client.requestKeyPackages(keys, owner.pubkey, 1)).ok).toBe(false);
    expect(await inventory(relay.url, owner, pool.opts)).toHaveLength(7);
    // Had the t = 10 refusals been charged, they would still fill the window at t = 61.
    clock.advanceSeconds(51);
    for (let i = 0; i < 3; i++) expectServed(await ask(client, owner), 1);
    expect(await inventory(relay.url, owner, pool.opts)).toHaveLength(4);
  });
});

describe('queries that are not charged', () => {
  it('kp-req-scope: limit:0 filters are not charged', async () => {
    const owner = newKeys();
    await publishKeyPackages(relay.url, owner, 10, pool.opts);
    const client = await pool.connectAs(relay.url, newKeys());
    for (let i = 0; i < 4; i++) expectServed(await ask(client, owner, 0), 0);
    for (let i = 0; i < 3; i++) expectServed(await ask(client, owner), 1);
  });

  it('kp-req-unscoped: filters that do not ask for KeyPackages are not charged', async () => {
    const owner = newKeys();
    await publishKeyPackages(relay.url, owner, 10, pool.opts);
    const client = await pool.connectAs(relay.url, newKeys());
    for (let i = 0; i < 4; i++) {
      expect((await client.req([{ authors: [owner.pubkey] }])).eose).toBe(true);
      expect((await client.req([{ kinds: [K] }])).eose).toBe(true);
    }
    for (let i = 0; i < 3; i++) expectServed(await ask(client, owner), 1);
  });

  it("kp-req-owner: an owner's query is not charged, also to a requester authenticated with the owner", async () => {
    const owner = newKeys();
    await publishKeyPackages(relay.url, owner, 10, pool.opts);
    const requester = newKeys();
    const both = await pool.connectAs(relay.url, requester, owner);
    for (let i = 0; i < 4; i++) expectServed(await ask(both, owner, 10), 10);
    const alone = await pool.connectAs(relay.url, requester);
    for (let i = 0; i < 3; i++) expectServed(await ask(alone, owner), 1);
  });

  it('kp-447-owner: a 447 with the owner authenticated on the connection is not charged', async () => {
    const owner = newKeys();
    await publishKeyPackages(relay.url, owner, 10, pool.opts);
    const requester = newKeys();
    const both = await pool.connectAs(relay.url, requester, owner);
    await liveSub(both);
    for (let i = 0; i < 4; i++) {
      const res = await both.requestKeyPackages(requester, owner.pubkey, 2);
      expect(res.ok).toBe(true);
      expect(res.deliveries).toHaveLength(2);
    }
    expect(await inventory(relay.url, owner, pool.opts)).toHaveLength(10);
    const alone = await pool.connectAs(relay.url, requester);
    for (let i = 0; i < 3; i++) expectServed(await ask(alone, owner), 1);
  });

  it('kp-447-subscription: a 447 refused for want of a subscription is not charged', async () => {
    const owner = newKeys();
    await publishKeyPackages(relay.url, owner, 10, pool.opts);
    const keys = newKeys();
    const client = await pool.connectAs(relay.url, keys);
    for (let i = 0; i < 4; i++) {
      const res = await client.requestKeyPackages(keys, owner.pubkey, 1);
      expect(prefixOf(res.message)).toBe(PREFIX.invalid);
    }
    await liveSub(client);
    for (let i = 0; i < 3; i++) expect((await client.requestKeyPackages(keys, owner.pubkey, 1)).ok).toBe(true);
  });

  it('kp-447-empty: a 447 for an owner without KeyPackages is charged', async () => {
    const empty = newKeys();
    const keys = newKeys();
    const client = await pool.connectAs(relay.url, keys);
    await liveSub(client);
    for (let i = 0; i < 3; i++) expect((await client.requestKeyPackages(keys, empty.pubkey, 1)).ok).toBe(true);
    const refused = await client.requestKeyPackages(keys, empty.pubkey, 1);
    expect(refused.ok).toBe(false);
    expect(prefixOf(refused.message)).toBe(PREFIX.rateLimited);
  });
});

describe('kp-447-order', () => {
  it('kp-447-order: form and subscription are checked before the rate limits', async () => {
    const owner = newKeys();
    await publishKeyPackages(relay.url, owner, 10, pool.opts);
    const keys = newKeys();
    const first = await pool.connectAs(relay.url, keys);
    for (let i = 0; i < 3; i++) expectServed(await ask(first, owner), 1);
    // Same requester, a connection without a subscription: the subscription check answers first.
    const noSub = await pool.connectAs(relay.url, keys);
    const withoutSub = await noSub.requestKeyPackages(keys, owner.pubkey, 1);
    expect(prefixOf(withoutSub.message)).toBe(PREFIX.invalid);
    await liveSub(noSub);
    const malformed = await noSub.sendRequest(keyPackageRequest(keys, [[TAG.pubkey, owner.pubkey], [TAG.count, '0']]));
    expect(prefixOf(malformed.message)).toBe(PREFIX.invalid);
    const limited = await noSub.requestKeyPackages(keys, owner.pubkey, 1);
    expect(prefixOf(limited.message)).toBe(PREFIX.rateLimited);
  });
});
