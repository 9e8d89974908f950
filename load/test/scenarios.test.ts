/**
 * Every scenario, briefly, from Node against the reference relay: each passes
 * its thresholds; contend fails them against a relay that hands a
 * KeyPackage out twice (double-handout) or consumes the last (consume-last).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { FaultName } from '../../reference-relay/faults.js';
import { startRelay } from '../../reference-relay/server.js';
import type { ScenarioName } from '../core/scenario.js';
import { runNode, type NodeRunResult } from '../node/run.js';

async function run(scenario: ScenarioName, env: Record<string, string>, faults: FaultName[] = []): Promise<NodeRunResult & { log: string[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'kp-load-'));
  const relay = await startRelay({ port: 0, db: join(dir, 'relay.sqlite'), faults });
  const log: string[] = [];
  try {
    return { ...(await runNode({ scenario, env: { RELAY_URL: relay.url, ...env }, log: (l) => log.push(l), graceMs: 3000 })), log };
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

  it('groups: every invite complete, members replenish, notes flow', async () => {
    const r = await run('groups', { RATE: '3', DURATION: '2s', MEMBERS: '12', INITIAL_KPS: '2', NOTE_RATE: '4', P447: '1' });
    expect(failed(r)).toEqual([]);
    expect(r.summary.metrics.groups_invites?.values.count).toBeGreaterThan(0);
    expect(r.summary.metrics.nip01_req_eose_ms?.values.count).toBeGreaterThan(0);
  });

  it('soak: latency drift and relay memory watched', async () => {
    const r = await run('soak', { RATE: '1', DURATION: '2500ms', MEMBERS: '8', NOTE_RATE: '2', PROBE_EVERY_MS: '200', BASELINE_PROBES: '3' });
    expect(failed(r)).toEqual([]);
    expect(r.summary.metrics.soak_relay_rss_mib?.values.max).toBeGreaterThan(0);
    expect(r.summary.metrics.soak_latency_drift?.values.count).toBeGreaterThan(0);
  });
});
