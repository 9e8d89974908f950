/** PROFILE.md §8.2 kp-robust-durable: what was stored and consumed survives a restart on the same database file. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { newKeys } from '../../protocol/crypto.js';
import { KIND, PREFIX, prefixOf } from '../../protocol/profile.js';
import { inventory, publishKeyPackages } from '../../client/choreography.js';
import { deletion } from '../../fixtures/events.js';
import { ClientPool, idsOf, sortedIds, startTestRelay, type RunningRelay } from './harness.js';

const pool = new ClientPool();
let dir: string;
const relays: RunningRelay[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'kp-relay-durable-'));
});
afterEach(async ({ task }) => {
  await pool.closeAll(task.result?.state === 'fail');
  await Promise.all(relays.splice(0).map((r) => r.close()));
  rmSync(dir, { recursive: true, force: true });
});

async function startOn(db: string): Promise<RunningRelay> {
  const relay = await startTestRelay({ db });
  relays.push(relay);
  return relay;
}

async function stop(relay: RunningRelay): Promise<void> {
  await pool.closeClients();
  relays.splice(relays.indexOf(relay), 1);
  await relay.close();
}

describe('kp-robust-durable', () => {
  it('kp-robust-durable: stored, consumed and deleted KeyPackages are remembered across a restart', async () => {
    const db = join(dir, 'relay.sqlite');
    const owner = newKeys();
    const first = await startOn(db);
    const kps = await publishKeyPackages(first.url, owner, 5, pool.opts);
    const requester = await pool.connectAs(first.url, newKeys());
    const handedOut = await requester.req([{ kinds: [KIND.keyPackage], authors: [owner.pubkey] }]);
    expect(sortedIds(handedOut.events)).toEqual(sortedIds(kps.slice(0, 2)));
    const own = await pool.connectAs(first.url, owner);
    expect((await own.publish(deletion(owner, [kps[2]!.id]))).ok).toBe(true);
    await stop(first);

    const second = await startOn(db);
    expect(sortedIds(await inventory(second.url, owner, pool.opts))).toEqual(sortedIds(kps.slice(3)));
    const anon = await pool.connect(second.url);
    for (const gone of kps.slice(0, 3)) {
      const replay = await anon.publish(gone);
      expect(replay.ok).toBe(false);
      expect(prefixOf(replay.message)).toBe(PREFIX.duplicate);
    }
    // Hand-out continues where it stopped: the oldest remaining, then the kept last resort.
    const next = await pool.connectAs(second.url, newKeys());
    const res = await next.req([{ kinds: [KIND.keyPackage], authors: [owner.pubkey], limit: 1 }]);
    expect(idsOf(res.events)).toEqual([kps[3]!.id]);
    expect(idsOf(await inventory(second.url, owner, pool.opts))).toEqual([kps[4]!.id]);
  });

  it('kp-robust-durable: a last resort handed out before the restart is still stored after it', async () => {
    const db = join(dir, 'relay.sqlite');
    const owner = newKeys();
    const first = await startOn(db);
    const [only] = await publishKeyPackages(first.url, owner, 1, pool.opts);
    const requester = await pool.connectAs(first.url, newKeys());
    expect((await requester.req([{ kinds: [KIND.keyPackage], authors: [owner.pubkey] }])).events).toEqual([only]);
    await stop(first);

    const second = await startOn(db);
    expect(await inventory(second.url, owner, pool.opts)).toEqual([only]);
  });
});
