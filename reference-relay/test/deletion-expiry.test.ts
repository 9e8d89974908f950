/** PROFILE.md §7 Deletion (kp-del-owner) and the expiry half of §2.6 (kp-pub-expired), on a clock the tests move. */
import { describe, expect, it } from 'vitest';
import { newKeys, type Keys } from '../../protocol/crypto.js';
import type { NostrEvent } from '../../protocol/messages.js';
import { KIND, PREFIX, TAG, prefixOf } from '../../protocol/profile.js';
import { inventory, publishKeyPackages } from '../../client/choreography.js';
import { deletion, keyPackage, textNote } from '../../fixtures/events.js';
import { ManualClock, nowSecondsOf } from '../clock.js';
import { idsOf, liveSub, sortedIds, sharedRelay } from './harness.js';

const K = KIND.keyPackage;
// Moves forward by a few seconds per test only: AUTH created_at (wall clock) must stay within 600 s of it.
const clock = new ManualClock();
const relay = sharedRelay({ clock });
const pool = relay.pool;

async function reqHandout(owner: Keys): Promise<NostrEvent[]> {
  const client = await pool.connectAs(relay.url, newKeys());
  const res = await client.req([{ kinds: [K], authors: [owner.pubkey] }]);
  if (res.closed !== undefined) throw new Error(`hand-out REQ closed: ${res.closed}`);
  return res.events;
}

/** Relay time plus `seconds`, as an expiration tag. */
function expiresIn(seconds: number): string[] {
  return [TAG.expiration, String(nowSecondsOf(clock) + seconds)];
}

describe('kp-del-owner', () => {
  it('kp-del-owner: a kind 5 from the owner removes a KeyPackage: never served again', async () => {
    const owner = newKeys();
    const kps = await publishKeyPackages(relay.url, owner, 3, pool.opts);
    const own = await pool.connectAs(relay.url, owner);
    expect((await own.publish(deletion(owner, [kps[0]!.id]))).ok).toBe(true);
    expect(sortedIds(await inventory(relay.url, owner, pool.opts))).toEqual(sortedIds(kps.slice(1)));
    const requester = await pool.connectAs(relay.url, newKeys());
    expect((await requester.req([{ kinds: [K], ids: [kps[0]!.id] }])).events).toEqual([]);
    expect(sortedIds(await reqHandout(owner))).toEqual(sortedIds(kps.slice(1)));
  });

  it('kp-del-owner: the last KeyPackage can be deleted too; then nobody gets it', async () => {
    const owner = newKeys();
    const [only] = await publishKeyPackages(relay.url, owner, 1, pool.opts);
    const own = await pool.connectAs(relay.url, owner);
    expect((await own.publish(deletion(owner, [only!.id]))).ok).toBe(true);
    expect(await inventory(relay.url, owner, pool.opts)).toEqual([]);
    expect(await reqHandout(owner)).toEqual([]);
    const keys = newKeys();
    const client = await pool.connectAs(relay.url, keys);
    await liveSub(client);
    const res = await client.requestKeyPackages(keys, owner.pubkey, 1);
    expect(res.ok).toBe(true);
    expect(res.deliveries).toEqual([]);
  });

  it('kp-del-owner: the owner-signed kind 5 works whoever relays it (no AUTH needed)', async () => {
    const owner = newKeys();
    const kps = await publishKeyPackages(relay.url, owner, 2, pool.opts);
    const anon = await pool.connect(relay.url);
    expect((await anon.publish(deletion(owner, [kps[1]!.id]))).ok).toBe(true);
    expect(idsOf(await inventory(relay.url, owner, pool.opts))).toEqual([kps[0]!.id]);
  });

  it('kp-del-owner: a kind 5 from someone else removes nothing', async () => {
    const owner = newKeys();
    const kps = await publishKeyPackages(relay.url, owner, 2, pool.opts);
    const mallory = newKeys();
    const client = await pool.connectAs(relay.url, mallory);
    await client.publish(deletion(mallory, idsOf(kps)));
    expect(sortedIds(await inventory(relay.url, owner, pool.opts))).toEqual(sortedIds(kps));
    expect(sortedIds(await reqHandout(owner))).toEqual(sortedIds(kps));
  });
});

describe('kp-pub-expired', () => {
  it('kp-pub-expired: an expiration equal to the relay clock is not in the future: "invalid:"', async () => {
    const owner = newKeys();
    const client = await pool.connectAs(relay.url, owner);
    const reply = await client.publish(await keyPackage(owner, { extraTags: [expiresIn(0)] }));
    expect(reply.ok).toBe(false);
    expect(prefixOf(reply.message)).toBe(PREFIX.invalid);
    expect(await inventory(relay.url, owner, pool.opts)).toEqual([]);
  });

  it('kp-pub-expired: a KeyPackage expiring in a few seconds is served before, not after', async () => {
    const owner = newKeys();
    const kp = await keyPackage(owner, { extraTags: [expiresIn(5)] });
    const own = await pool.connectAs(relay.url, owner);
    expect((await own.publish(kp)).ok).toBe(true);
    expect(await reqHandout(owner)).toEqual([kp]); // a last resort, kept
    clock.advanceSeconds(6);
    expect(await reqHandout(owner)).toEqual([]);
    expect(await inventory(relay.url, owner, pool.opts)).toEqual([]);
    const keys = newKeys();
    const client = await pool.connectAs(relay.url, keys);
    await liveSub(client);
    expect((await client.requestKeyPackages(keys, owner.pubkey, 1)).deliveries).toEqual([]);
  });

  it('kp-pub-expired: an expired KeyPackage is never a last resort: the other one left is kept', async () => {
    const owner = newKeys();
    const [durable] = await publishKeyPackages(relay.url, owner, 1, pool.opts);
    const own = await pool.connectAs(relay.url, owner);
    const shortLived = await keyPackage(owner, { extraTags: [expiresIn(5)] });
    expect((await own.publish(shortLived)).ok).toBe(true);
    clock.advanceSeconds(6);
    expect(await reqHandout(owner)).toEqual([durable]);
    expect(await reqHandout(owner)).toEqual([durable]);
    expect(await inventory(relay.url, owner, pool.opts)).toEqual([durable]);
  });

  it('kp-pub-expired: a stored event of another kind is not served after its expiration', async () => {
    const author = newKeys();
    const client = await pool.connect(relay.url);
    const note = textNote(author, 'short-lived', [expiresIn(5)]);
    expect((await client.publish(note)).ok).toBe(true);
    expect((await client.req([{ ids: [note.id] }])).events).toEqual([note]);
    clock.advanceSeconds(6);
    expect((await client.req([{ ids: [note.id] }])).events).toEqual([]);
  });
});
