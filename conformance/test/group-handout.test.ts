/**
 * The REQ, kind 447, hand-out and rate-limit tests (PROFILE.md §3–§6) against
 * the reference relay: all pass on a clean relay; with one fault switch on,
 * a test of an anchor that fault breaks fails and no test of another anchor does.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { startRelay, type RunningRelay } from '../../reference-relay/server.js';
import { FAULTS, type FaultName } from '../../reference-relay/faults.js';
import { prepareRun } from '../check.js';
import { runSuite } from '../runner.js';
import { handoutTests } from '../cases/handout.js';
import { rateLimitTests } from '../cases/rate-limits.js';
import { reqTests } from '../cases/req.js';
import { request447Tests } from '../cases/request-447.js';
import type { TestRecord } from '../../report/schema.js';

const GROUP = [...reqTests, ...request447Tests, ...handoutTests, ...rateLimitTests];

// Small limits keep the rate-limit tests short; the tests read them from NIP-11.
const LIMITS = { queries_per_window: 4, served_per_window: 12 };

/** Faults that break an anchor of §3–§6: some test here must catch each. */
const FAULTS_UNDER_TEST: FaultName[] = ['consume-last', 'double-handout', 'no-rate-limit', 'no-auth', 'zero-sig', 'newest-first', 'ok-before-delivery'];
/** Faults that break other sections: no test here may fail because of them. */
const OTHER_FAULTS: FaultName[] = ['accept-replay', 'broadcast-live'];

const open = new Set<RunningRelay>();
afterAll(async () => {
  await Promise.all([...open].map((r) => r.close()));
});

async function runAgainst(faults: FaultName[]): Promise<TestRecord[]> {
  const relay = await startRelay({ port: 0, db: ':memory:', limits: LIMITS, faults });
  open.add(relay);
  try {
    const { runOptions } = await prepareRun(relay.url, { timeoutMs: 3000, quietMs: 200, limits: {} });
    expect(runOptions.limits, 'the reference relay advertises its limits').toBeDefined();
    const { records } = await runSuite(GROUP, runOptions, { only: [], exclude: [] }, 4);
    return records;
  } finally {
    await relay.close();
    open.delete(relay);
  }
}

const line = (r: TestRecord): string => `${r.id} → ${r.outcome}: ${r.message ?? ''} (expected ${r.expected ?? '-'}, observed ${r.observed ?? '-'})`;

describe('REQ, kind 447, hand-out and rate-limit tests', () => {
  it('have unique ids of the form <anchor>/<side>', () => {
    const idList = GROUP.map((c) => c.id);
    expect(new Set(idList).size).toBe(idList.length);
    for (const c of GROUP) expect(c.id.startsWith(`${c.anchor}/`), c.id).toBe(true);
  });

  it('all pass against the reference relay', async () => {
    const records = await runAgainst([]);
    expect(records.length).toBe(GROUP.length);
    expect(records.filter((r) => r.outcome !== 'pass').map(line)).toEqual([]);
  });

  it.each(FAULTS_UNDER_TEST)('catch --fault %s, and only on the anchors it breaks', async (fault) => {
    const records = await runAgainst([fault]);
    const anchors: readonly string[] = FAULTS[fault].breaks;
    const caught = records.filter((r) => r.outcome === 'fail' && anchors.includes(r.anchor));
    const collateral = records.filter((r) => (r.outcome === 'fail' || r.outcome === 'error') && !anchors.includes(r.anchor));
    expect(caught.map((r) => r.id), `no test of ${anchors.join(', ')} failed`).not.toEqual([]);
    expect(collateral.map(line)).toEqual([]);
    expect(records.filter((r) => r.outcome === 'error').map(line)).toEqual([]);
  });

  it.each(OTHER_FAULTS)('do not fail because of --fault %s, which breaks another section', async (fault) => {
    const records = await runAgainst([fault]);
    expect(records.filter((r) => r.outcome === 'fail' || r.outcome === 'error').map(line)).toEqual([]);
  });
});
