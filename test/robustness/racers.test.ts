/**
 * kp-handout-exactly-once, kp-handout-last-resort, kp-rate-queries and
 * kp-rate-served (PROFILE.md §5, §6): 200 requesters on 200 authenticated
 * connections fire their asks at once (half REQ, half kind 447 into a
 * `limit: 0` subscription), each one more than queries_per_window allows,
 * at `kpsuite relay` with lowered limits; bench/racers.ts runs 1,000 and holds
 * the audit of every frame received.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { race, RACER_LIMITS } from '../../bench/racers.js';
import { keyPackages } from '../../fixtures/events.js';
import { newKeys, type Keys } from '../../protocol/crypto.js';
import type { NostrEvent } from '../../protocol/messages.js';
import { spawnRelay } from '../support/spawn-relay.js';

const RACERS = 200;
let owner: Keys;
let kps: NostrEvent[];

beforeAll(async () => {
  owner = newKeys();
  // N = 151 ≤ RACERS + 1: every requester's first ask takes one while more than the last is stored.
  kps = await keyPackages(owner, 151);
}, 30_000);

describe('a race of 200 requesters for one owner\'s KeyPackages', () => {
  it('hands each KeyPackage out once, keeps the last for several, and holds every requester to the limits', async () => {
    const report = await race(spawnRelay, owner, kps, { racers: RACERS, limits: RACER_LIMITS, connectBatch: 50, timeoutMs: 15_000 });
    expect(report.violations).toEqual([]);
    expect(report.distinctHandedOut).toBe(kps.length);
    expect(report.storedAfter).toBe(1);
    expect(report.lastResortServes).toBeGreaterThan(1);
    // More asks than the limits allow were fired: some were refused, all of them rate-limited: (asserted per ask above).
    expect(report.refusals['rate-limited']).toBeGreaterThan(0);
  }, 45_000);

  it('the audit fails a relay that sends a hand-out before consuming it (--fault double-handout)', async () => {
    const report = await race((args) => spawnRelay([...args, '--fault', 'double-handout']), owner, kps, {
      racers: RACERS,
      limits: RACER_LIMITS,
      connectBatch: 50,
      timeoutMs: 15_000,
    });
    expect(report.violations.some((v) => /was handed out \d+ times; only the last resort may be/.test(v))).toBe(true);
  }, 45_000);
});
