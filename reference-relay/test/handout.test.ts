/** PROFILE.md §5 Hand-out (shared by REQ and kind 447). */
import { describe, expect, it } from 'vitest';
import { eventProblem, newKeys, type Keys } from '../../protocol/crypto.js';
import type { NostrEvent } from '../../protocol/messages.js';
import { KIND, TAG } from '../../protocol/profile.js';
import { inventory, publishKeyPackages } from '../../client/choreography.js';
import { keyPackage, keyPackages, oldestFirst } from '../../fixtures/events.js';
import { newSubId, nowSeconds } from '../../client/relay-client.js';
import { countBy, idsOf, liveSub, sortedIds, sharedRelay } from './harness.js';

const K = KIND.keyPackage;
const relay = sharedRelay(); // default limits: max_per_query 2
const pool = relay.pool;

/** One REQ hand-out to a fresh requester on its own connection. */
async function reqHandout(owner: Keys, limit?: number): Promise<NostrEvent[]> {
  const client = await pool.connectAs(relay.url, newKeys());
  const res = await client.req([{ kinds: [K], authors: [owner.pubkey], ...(limit === undefined ? {} : { limit }) }]);
  if (res.closed !== undefined) throw new Error(`hand-out REQ closed: ${res.closed}`);
  return res.events;
}

/** One kind 447 hand-out to a fresh requester on its own connection. */
async function requestHandout(owner: Keys, n?: number): Promise<NostrEvent[]> {
  const keys = newKeys();
  const client = await pool.connectAs(relay.url, keys);
  await liveSub(client);
  const res = await client.requestKeyPackages(keys, owner.pubkey, n);
  if (!res.ok) throw new Error(`447 refused: ${res.message}`);
  return res.deliveries.map((d) => d.event);
}

describe('kp-handout-max', () => {
  it('kp-handout-max: a REQ hands out at most min(limit, max_per_query)', async () => {
    const owner = newKeys();
    await publishKeyPackages(relay.url, owner, 6, pool.opts);
    expect(await reqHandout(owner, 5)).toHaveLength(2);
    expect(await reqHandout(owner, 1)).toHaveLength(1);
    expect(await inventory(relay.url, owner, pool.opts)).toHaveLength(3);
  });

  it('kp-handout-max: a 447 hands out at most n', async () => {
    const owner = newKeys();
    await publishKeyPackages(relay.url, owner, 4, pool.opts);
    expect(await requestHandout(owner, 1)).toHaveLength(1);
    expect(await inventory(relay.url, owner, pool.opts)).toHaveLength(3);
  });
});

describe('kp-handout-order', () => {
  it('kp-handout-order: oldest first by created_at, REQ and 447 alike', async () => {
    const owner = newKeys();
    const kps = await publishKeyPackages(relay.url, owner, 5, pool.opts);
    expect(idsOf(await reqHandout(owner, 1))).toEqual([kps[0]!.id]);
    expect(idsOf(await requestHandout(owner, 1))).toEqual([kps[1]!.id]);
    expect(sortedIds(await reqHandout(owner, 2))).toEqual(sortedIds(kps.slice(2, 4)));
  });

  it('kp-handout-order: on equal created_at, the lower id goes first, whatever the publishing order', async () => {
    const owner = newKeys();
    const at = nowSeconds() - 30;
    const same = await Promise.all(Array.from({ length: 4 }, () => keyPackage(owner, { createdAt: at })));
    const publishOrder = [...same].sort((a, b) => (a.id < b.id ? 1 : -1)); // highest id first
    const own = await pool.connectAs(relay.url, owner);
    for (const kp of publishOrder) expect((await own.publish(kp)).ok).toBe(true);
    const expected = [...same].sort(oldestFirst);
    expect(idsOf(await reqHandout(owner, 1))).toEqual([expected[0]!.id]);
    expect(idsOf(await requestHandout(owner, 1))).toEqual([expected[1]!.id]);
  });

  it('kp-handout-order: with ids, oldest first among the named KeyPackages', async () => {
    const owner = newKeys();
    const kps = await publishKeyPackages(relay.url, owner, 4, pool.opts);
    const client = await pool.connectAs(relay.url, newKeys());
    const res = await client.req([{ kinds: [K], ids: [kps[3]!.id, kps[1]!.id, kps[2]!.id], limit: 1 }]);
    expect(idsOf(res.events)).toEqual([kps[1]!.id]);
    expect(sortedIds(await inventory(relay.url, owner, pool.opts))).toEqual(sortedIds([kps[0]!, kps[2]!, kps[3]!]));
  });
});

describe('kp-handout-consume', () => {
  it('kp-handout-consume: a handed-out KeyPackage is never returned to anyone again', async () => {
    const owner = newKeys();
    const kps = await publishKeyPackages(relay.url, owner, 5, pool.opts);
    const first = await reqHandout(owner);
    const second = await requestHandout(owner, 2);
    expect(sortedIds(first)).toEqual(sortedIds(kps.slice(0, 2)));
    expect(sortedIds(second)).toEqual(sortedIds(kps.slice(2, 4)));
    // The stored event itself is what is sent.
    for (const e of [...first, ...second]) expect(e).toEqual(kps.find((k) => k.id === e.id));
    expect(idsOf(await inventory(relay.url, owner, pool.opts))).toEqual([kps[4]!.id]);
    // Even asking for them by id finds nothing now.
    const client = await pool.connectAs(relay.url, newKeys());
    const byIds = await client.req([{ kinds: [K], ids: idsOf(kps.slice(0, 4)) }]);
    expect(byIds.events).toEqual([]);
  });
});

describe('kp-handout-intact', () => {
  it('kp-handout-intact: what REQ and 447 hand out is the published event, unchanged, with a signature that verifies', async () => {
    const owner = newKeys();
    const extraTags = [[TAG.protected], ['client', 'kp-test'], ['relays', 'wss://a.example', 'wss://b.example']];
    const kps = await keyPackages(owner, 4, { extraTags }); // MIP-00: base64 with its encoding tag
    const own = await pool.connectAs(relay.url, owner);
    for (const kp of kps) expect((await own.publish(kp)).ok).toBe(true);
    const got = [...(await reqHandout(owner)), ...(await requestHandout(owner, 2))];
    expect(sortedIds(got)).toEqual(sortedIds(kps));
    for (const e of got) {
      expect(e).toEqual(kps.find((k) => k.id === e.id));
      expect(eventProblem(e)).toBeUndefined();
    }
  });
});

describe('kp-handout-last-resort', () => {
  it('kp-handout-last-resort: the last KeyPackage is handed out and kept: two requesters both get it', async () => {
    const owner = newKeys();
    const [only] = await publishKeyPackages(relay.url, owner, 1, pool.opts);
    expect(await reqHandout(owner)).toEqual([only]);
    expect(await requestHandout(owner)).toEqual([only]);
    expect(await inventory(relay.url, owner, pool.opts)).toEqual([only]);
  });

  it('kp-handout-last-resort: 3 KeyPackages, max_per_query 2: the first requester gets the 2 oldest, the next ones the kept last', async () => {
    const owner = newKeys();
    const kps = await publishKeyPackages(relay.url, owner, 3, pool.opts);
    expect(sortedIds(await reqHandout(owner))).toEqual(sortedIds(kps.slice(0, 2)));
    expect(idsOf(await reqHandout(owner))).toEqual([kps[2]!.id]);
    expect(idsOf(await requestHandout(owner))).toEqual([kps[2]!.id]);
    expect(idsOf(await inventory(relay.url, owner, pool.opts))).toEqual([kps[2]!.id]);
  });

  it('kp-handout-last-resort: once the owner publishes more, the former last resort is handed out and consumed', async () => {
    const owner = newKeys();
    const [old] = await publishKeyPackages(relay.url, owner, 1, pool.opts);
    expect(idsOf(await reqHandout(owner))).toEqual([old!.id]);
    const fresh = await keyPackage(owner);
    const own = await pool.connectAs(relay.url, owner);
    expect((await own.publish(fresh)).ok).toBe(true);
    expect(idsOf(await reqHandout(owner, 1))).toEqual([old!.id]);
    expect(idsOf(await inventory(relay.url, owner, pool.opts))).toEqual([fresh.id]);
    expect(idsOf(await reqHandout(owner))).toEqual([fresh.id]);
    expect(idsOf(await inventory(relay.url, owner, pool.opts))).toEqual([fresh.id]);
  });
});

describe('kp-handout-exactly-once', () => {
  it('kp-handout-exactly-once: concurrent requesters on separate connections, by REQ and 447, never share a non-last KeyPackage', async () => {
    const owner = newKeys();
    const M = 7;
    const kps = await publishKeyPackages(relay.url, owner, M, pool.opts);
    const requesters = await Promise.all(
      Array.from({ length: 12 }, async (_, i) => {
        const keys = newKeys();
        const client = await pool.connectAs(relay.url, keys);
        if (i % 2 === 1) await liveSub(client);
        return { keys, client, by447: i % 2 === 1 };
      }),
    );
    // Fire every request at once, then collect.
    const results = await Promise.all(
      requesters.map(async ({ keys, client, by447 }) => {
        if (by447) {
          const res = await client.requestKeyPackages(keys, owner.pubkey);
          expect(res.ok).toBe(true);
          return res.deliveries.map((d) => d.event.id);
        }
        const res = await client.req([{ kinds: [K], authors: [owner.pubkey] }]);
        expect(res.eose).toBe(true);
        return idsOf(res.events);
      }),
    );
    for (const got of results) expect(new Set(got).size).toBe(got.length);
    const remaining = await inventory(relay.url, owner, pool.opts);
    expect(remaining).toHaveLength(1);
    const last = remaining[0]!.id;
    const counts = countBy(results.flat());
    for (const [id, n] of counts) if (id !== last) expect(n, `KeyPackage ${id.slice(0, 8)} handed out ${n} times`).toBe(1);
    // Demand (12 requests of up to 2) exceeds supply: every KeyPackage went out.
    expect([...counts.keys()].sort()).toEqual(sortedIds(kps));
  });

  it('kp-handout-exactly-once: concurrent REQs on one connection never share a non-last KeyPackage', async () => {
    const owner = newKeys();
    const kps = await publishKeyPackages(relay.url, owner, 5, pool.opts);
    const client = await pool.connectAs(relay.url, newKeys());
    const subIds = Array.from({ length: 6 }, () => newSubId('race'));
    const results = await Promise.all(subIds.map((subId) => client.req([{ kinds: [K], authors: [owner.pubkey] }], subId)));
    const remaining = await inventory(relay.url, owner, pool.opts);
    expect(remaining).toHaveLength(1);
    const counts = countBy(results.flatMap((r) => idsOf(r.events)));
    for (const [id, n] of counts) if (id !== remaining[0]!.id) expect(n).toBe(1);
    expect([...counts.keys()].sort()).toEqual(sortedIds(kps));
  });
});
