/**
 * Every scenario, briefly, from Node against the reference relay (which
 * refuses KeyPackages that are not genuine MLS, kp-pub-mls): each passes its
 * thresholds; contend fails them against a relay that hands a KeyPackage out
 * twice (double-handout) or consumes the last (consume-last). What a run
 * publishes comes from the fixture, a set per run, and nothing but AUTH (and
 * the 447s of inviters, whose members are picked at run time) is signed then.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { FaultName } from '../../reference-relay/faults.js';
import { startRelay } from '../../reference-relay/server.js';
import { KIND } from '../../protocol/profile.js';
import { query, subId } from '../core/nostr.js';
import type { Signer } from '../core/runtime.js';
import type { ScenarioName } from '../core/scenario.js';
import { asK6SetupData } from '../core/setup-data.js';
import { WHOLE } from '../core/instance.js';
import { settingsFrom } from '../core/settings.js';
import { makeFixture } from '../node/fixture.js';
import { MetricStore } from '../node/metrics.js';
import { runNode, type NodeRunOptions, type NodeRunResult } from '../node/run.js';
import { NodeRuntime, wasmSigner } from '../node/runtime.js';
import { authedSocket } from '../scenarios/common.js';
import type { GroupsData } from '../scenarios/groups.js';
import { SCENARIOS } from '../scenarios/index.js';

async function run(scenario: ScenarioName, env: Record<string, string>, faults: FaultName[] = [], more: Partial<NodeRunOptions> = {}): Promise<NodeRunResult & { log: string[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'kp-load-'));
  const relay = await startRelay({ port: 0, db: join(dir, 'relay.sqlite'), faults, mlsChecks: true });
  const log: string[] = [];
  try {
    return { ...(await runNode({ scenario, env: { RELAY_URL: relay.url, ...env }, log: (l) => log.push(l), graceMs: 3000, ...more })), log };
  } finally {
    await relay.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

// Failed thresholds; one without samples (e.g. no member needed to replenish in a short run) is not a failure, as under k6.
const failed = (r: NodeRunResult): string[] => r.summary.thresholds.filter((t) => t.ok === false).map((t) => `${t.metric} ${t.expression} (actual ${t.actual})`);

describe('load scenarios on the reference relay (Node driver)', () => {
  it('publish: every KeyPackage accepted', async () => {
    const r = await run('publish', { RATE: '5', DURATION: '1s', BATCH: '3' });
    expect(failed(r)).toEqual([]);
    expect(r.exitCode).toBe(0);
    expect(r.summary.metrics.kp_publish_ok_ms?.values.count).toBeGreaterThanOrEqual(12);
  });

  it('contend: M−1 hand-outs at most, no duplicates, the last one kept', async () => {
    const r = await run('contend', { KPS: '8', RACERS: '8' });
    expect(failed(r)).toEqual([]);
    expect(r.summary.metrics.contend_nonlast_handouts?.values.count).toBe(7);
    expect(r.summary.metrics.contend_last_resort_handouts?.values.count).toBeGreaterThan(0);
  });

  it('contend fails against double-handout (duplicates)', async () => {
    const r = await run('contend', { KPS: '8', RACERS: '8' }, ['double-handout']);
    expect(r.exitCode).toBe(99);
    expect(failed(r).some((f) => f.startsWith('contend_duplicates'))).toBe(true);
  });

  it('contend fails against consume-last (nothing left for the owner)', async () => {
    const r = await run('contend', { KPS: '8', RACERS: '8' }, ['consume-last']);
    expect(r.exitCode).toBe(99);
    expect(failed(r)).toEqual([expect.stringMatching(/^contend_owner_left_one rate==1/)]);
  });

  it('rate: every refusal is the one the NIP-11 limits predict, by REQ and 447', async () => {
    const r = await run('rate', { REQUESTERS: '2' });
    expect(failed(r)).toEqual([]);
    expect(r.exitCode).toBe(0);
    expect(r.summary.metrics.rate_checked?.values.count).toBeGreaterThan(0);
    const m = r.summary.metrics;
    expect(m.rate_observed_refusals?.values.count).toBe(m.rate_expected_refusals?.values.count);
    expect(m.rate_expected_refusals?.values.count).toBeGreaterThan(0);
    expect(m.kp_447_ok_ms?.values.count).toBeGreaterThan(0);
  });

  it('rate fails against no-rate-limit', async () => {
    const r = await run('rate', { REQUESTERS: '2' }, ['no-rate-limit']);
    expect(r.exitCode).toBe(99);
    expect(r.summary.notRun).toBeUndefined();
    expect(r.summary.metrics.rate_checked?.values.count).toBeGreaterThan(0);
    expect(failed(r).some((f) => f.startsWith('rate_limit_matches_model'))).toBe(true);
  });

  it('groups: every invite complete, members replenish from their own slices, notes flow', async () => {
    // One KeyPackage each, below LOW_WATER: every stock check publishes; two checks sharing a slice would get "duplicate:" (refused).
    const r = await run('groups', { RATE: '3', DURATION: '2s', MEMBERS: '12', INITIAL_KPS: '1', NOTE_RATE: '4', P447: '1' });
    expect(failed(r)).toEqual([]);
    const m = r.summary.metrics;
    expect(m.groups_invites?.values.count).toBeGreaterThan(0);
    expect(m.groups_replenished?.values.count).toBeGreaterThan(0);
    expect([m.kp_publish_refused?.values.count ?? 0, m.groups_stock_exhausted?.values.count ?? 0]).toEqual([0, 0]);
    expect(m.nip01_req_eose_ms?.values.count).toBeGreaterThan(0);
  });

  it("groups: a member's second stock check publishes from the next slice of its stock, never one published before", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kp-load-'));
    const relay = await startRelay({ port: 0, db: join(dir, 'relay.sqlite') });
    try {
      const s = settingsFrom({ RELAY_URL: relay.url, MEMBERS: '2', INITIAL_KPS: '1' });
      const fixture = await makeFixture({ owners: 2, keyPackagesPerOwner: 1 + 2 * 3, requests: [], notes: 0 });
      const plan = SCENARIOS.groups.plan(s, fixture);
      const store = new MetricStore(plan.metrics);
      const rt = new NodeRuntime(store);
      const data = asK6SetupData(await plan.setup(rt, WHOLE)) as GroupsData;
      const check = (iteration: number): Promise<void> => plan.roles.find((r) => r.name === 'members')!.run(rt, data, { role: 'members', vu: 1, iteration, deadline: Date.now() + 5000 });
      // Check 0 of member 0 tops its one KeyPackage up to REFILL_TO (4); a requester then takes it down to the last resort.
      await check(0);
      const member = data.members[0]!.pubkey;
      const sock = await authedSocket(rt, relay.url, rt.signer.newSecretKey(), 5000);
      for (let i = 0; i < 2; i++) await query(rt, sock, subId('drain'), [{ kinds: [KIND.keyPackage], authors: [member], limit: 2 }], 5000);
      await sock.close();
      // Check 1 of member 0 (iteration MEMBERS): three more, all new to the relay.
      await check(2);
      expect([store.valuesOf('groups_replenished', 1)?.count, store.valuesOf('kp_publish_refused', 1)?.count, store.samples('kp_publish_refused')]).toEqual([6, 0, 6]);
    } finally {
      await relay.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('groups: a member whose pre-made stock is gone stops replenishing, counted; invites stay complete', async () => {
    const fixture = await makeFixture({ owners: 6, keyPackagesPerOwner: 1, requests: [], notes: 0 });
    const r = await run('groups', { RATE: '2', DURATION: '2s', MEMBERS: '6', INITIAL_KPS: '1', CHECK_RATE: '4' }, [], { fixture });
    expect(failed(r)).toEqual([]);
    const m = r.summary.metrics;
    expect(m.groups_stock_exhausted?.values.count).toBeGreaterThan(0);
    expect(m.groups_replenished?.values.count ?? 0).toBe(0);
    expect(r.summary.notes.some((n) => /pre-made stock ran out/.test(n))).toBe(true);
  });

  it('soak: latency drift and relay memory watched', async () => {
    const r = await run('soak', { RATE: '1', DURATION: '2500ms', MEMBERS: '8', NOTE_RATE: '2', PROBE_EVERY_MS: '200', BASELINE_PROBES: '3' });
    expect(failed(r)).toEqual([]);
    expect(r.summary.metrics.soak_relay_rss_mib?.values.max).toBeGreaterThan(0);
    expect(r.summary.metrics.soak_latency_drift?.values.count).toBeGreaterThan(0);
  });

  it('signs no KeyPackage at run time, and for contend and rate nothing but AUTH', async () => {
    for (const [scenario, env] of [
      ['contend', { KPS: '6', RACERS: '6' }],
      ['rate', { REQUESTERS: '2' }],
      ['groups', { RATE: '3', DURATION: '2s', MEMBERS: '8', INITIAL_KPS: '1', P447: '1' }],
    ] as const) {
      const kinds: number[] = [];
      const signer: Signer = {
        ...wasmSigner,
        sign: (t, secret) => {
          kinds.push(t.kind);
          return wasmSigner.sign(t, secret);
        },
      };
      const r = await run(scenario, env, [], { signer });
      expect(failed(r), scenario).toEqual([]);
      expect(kinds.length, scenario).toBeGreaterThan(0);
      expect(kinds.filter((k) => k === KIND.keyPackage), scenario).toEqual([]);
      // Inviters pick their members at run time, so their 447s are signed then.
      const allowed: number[] = scenario === 'groups' ? [KIND.auth, KIND.keyPackageRequest] : [KIND.auth];
      expect(kinds.filter((k) => !allowed.includes(k)), scenario).toEqual([]);
    }
  });

  it('claims a set per run: a second contend against one relay takes the next set; with none left it is not run', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kp-load-'));
    const relay = await startRelay({ port: 0, db: join(dir, 'relay.sqlite') });
    try {
      const fixture = await makeFixture({ sets: 2, owners: 1, keyPackagesPerOwner: 4, requests: [[], [0, 0, 0], [], [0, 0, 0]], notes: 0 });
      const once = () => runNode({ scenario: 'contend', env: { RELAY_URL: relay.url, KPS: '4', RACERS: '4', ROUNDS: '3' }, fixture, graceMs: 3000 });
      for (const r of [await once(), await once()]) {
        expect(failed(r)).toEqual([]);
        expect(r.summary.metrics.contend_nonlast_handouts?.values.count).toBe(3);
      }
      const third = await once();
      expect(third.exitCode).toBe(2);
      expect(third.summary.notRun).toMatch(/every set of pre-made KeyPackages in the fixture \(2\) was published to this relay by earlier runs/);
    } finally {
      await relay.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
