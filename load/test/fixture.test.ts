/**
 * The pre-made fixture: genuine MLS KeyPackages of their owners, oldest first,
 * pre-signed kind 447s naming the owners of their own set, and pools sized
 * for what a run publishes.
 */
import { describe, expect, it } from 'vitest';
import { eventProblem, keysFromHex } from '../../protocol/crypto.js';
import { keyPackageMlsProblem } from '../../protocol/mls.js';
import { DEFAULT_KEYPACKAGE_LIMITS, KIND, TAG } from '../../protocol/profile.js';
import { bundleNeeds } from '../build.js';
import { keyPackagesOf, preSigned, setOf } from '../core/fixture.js';
import { settingsFrom } from '../core/settings.js';
import { makeFixture } from '../node/fixture.js';
import { fixtureNeeds } from '../scenarios/index.js';
import { ratePlanFor } from '../scenarios/rate.js';

describe('a made fixture', async () => {
  // Two sets of two owners with three KeyPackages each; requester 1 asks owner 1 then owner 0.
  const f = await makeFixture({ sets: 2, owners: 2, keyPackagesPerOwner: 3, requests: [[], [1, 0]], notes: 2 });

  it('holds what was asked, set by set', () => {
    expect([f.sets, f.owners.length, f.keyPackages.length, f.requesters.length, f.requests.length, f.notes.length]).toEqual([2, 4, 12, 4, 4, 2]);
    expect(setOf(f.owners, f.sets, 1)).toEqual([f.owners[2], f.owners[3]]);
  });

  it('holds genuine MLS KeyPackages of their owners, oldest first', async () => {
    for (const owner of Array.from(f.owners)) {
      expect(keysFromHex(owner.secret).pubkey).toBe(owner.pubkey);
      const kps = keyPackagesOf(f, owner);
      expect(kps).toHaveLength(3);
      for (const kp of kps) {
        expect([kp.kind, kp.pubkey, eventProblem(kp), await keyPackageMlsProblem(kp)]).toEqual([KIND.keyPackage, owner.pubkey, undefined, undefined]);
      }
      const times = kps.map((kp) => kp.created_at);
      expect(times).toEqual([...times].sort((a, b) => a - b));
      expect(new Set(times).size).toBe(3);
    }
    expect(keyPackagesOf(f, f.owners[0]!, 2, 2)).toEqual([f.keyPackages[2]]);
  });

  it("pre-signs each requester's kind 447s for the owners of its own set, no n tag", () => {
    for (const set of [0, 1]) {
      const [, requester] = setOf(f.requesters, f.sets, set);
      const owners = setOf(f.owners, f.sets, set).map((o) => o.pubkey);
      const [first, second] = [preSigned(f, requester!, 0, owners[1]!), preSigned(f, requester!, 1, owners[0]!)];
      for (const r of [first, second]) {
        expect([r?.kind, r?.pubkey, eventProblem(r)]).toEqual([KIND.keyPackageRequest, requester!.pubkey, undefined]);
        expect(r?.tags.some((t) => t[0] === TAG.count)).toBe(false);
      }
      expect(first!.id).not.toBe(second!.id);
      // Another owner, or past the requester's list: to be signed at run time.
      expect(preSigned(f, requester!, 0, owners[0]!)).toBeUndefined();
      expect(preSigned(f, requester!, 2, owners[1]!)).toBeUndefined();
    }
  });
});

describe('fixture sizes', () => {
  it('contend: one owner with KPS, a request per round for each kind 447 racer', () => {
    const needs = fixtureNeeds('contend', settingsFrom({ KPS: '7', RACERS: '4', ROUNDS: '3' }));
    expect(needs).toMatchObject({ owners: 1, keyPackagesPerOwner: 7, requests: [[], [0, 0, 0], [], [0, 0, 0]] });
  });

  it('rate: the owners and requests the limits need, from the relay when known, a block of owners per requester', () => {
    const s = settingsFrom({ REQUESTERS: '2' });
    const plan = ratePlanFor(DEFAULT_KEYPACKAGE_LIMITS, 2);
    // Requester 1 (by 447) asks its own owners, the second block.
    expect(fixtureNeeds('rate', s)).toMatchObject({ owners: 2 * plan.owners, keyPackagesPerOwner: 1, requests: [[], plan.steps.map((st) => plan.owners + st.owner)] });
    const tight = { ...DEFAULT_KEYPACKAGE_LIMITS, queries_per_window: 2, served_per_window: 9 };
    expect(fixtureNeeds('rate', s, tight).owners).toBe(2 * ratePlanFor(tight, 2).owners);
  });

  it('contend: OWNERS owners, each with its RACERS racers, whose 447s name their own owner', () => {
    const needs = fixtureNeeds('contend', settingsFrom({ OWNERS: '2', RACERS: '2', ROUNDS: '2' }));
    expect(needs).toMatchObject({ owners: 2, requests: [[], [0, 0], [], [1, 1]] });
  });

  it('groups: initial KeyPackages plus a slice per stock check, capped', () => {
    // 12 members checked 1.2/s for 60 s: 73 checks at most, 7 per member, 3 KeyPackages each after the 3 initial ones.
    expect(fixtureNeeds('groups', settingsFrom({ MEMBERS: '12' }))).toMatchObject({ owners: 12, keyPackagesPerOwner: 3 + 7 * 3 });
    expect(fixtureNeeds('soak', settingsFrom({}), undefined, { keyPackages: 600, notes: 10 })).toMatchObject({ owners: 60, keyPackagesPerOwner: 10, notes: 10 });
  });

  it('bundles: several runs where cheap, the default run at least, under the build cap', () => {
    expect(bundleNeeds('contend').sets).toBe(3);
    expect(bundleNeeds('rate').sets).toBe(3);
    expect(bundleNeeds('publish').sets).toBe(1);
    for (const name of ['groups', 'soak'] as const) {
      const n = bundleNeeds(name);
      expect(n.sets).toBe(1);
      expect(n.owners * n.keyPackagesPerOwner).toBeLessThanOrEqual(2000);
    }
  });
});
