/**
 * The suite must have teeth: against the reference relay everything passes;
 * against a relay with one fault switch on, the tests of the anchors that
 * fault breaks fail, and no test of any other anchor does.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { startRelay, type RunningRelay } from '../../reference-relay/server.js';
import { FAULTS, FAULT_NAMES, type FaultName } from '../../reference-relay/faults.js';
import { prepareRun } from '../check.js';
import { runSuite } from '../runner.js';
import { ALL_TESTS } from '../cases/index.js';
import type { TestRecord } from '../../report/schema.js';

// Small limits keep the rate-limit tests short; the suite reads them from NIP-11.
const LIMITS = { queries_per_window: 4, served_per_window: 12 };

const relays: RunningRelay[] = [];
afterAll(async () => {
  await Promise.all(relays.map((r) => r.close()));
});

async function runAgainst(faults: FaultName[]): Promise<TestRecord[]> {
  const relay = await startRelay({ port: 0, db: ':memory:', limits: LIMITS, faults });
  relays.push(relay);
  try {
    const { runOptions } = await prepareRun(relay.url, { timeoutMs: 3000, quietMs: 200, limits: {} });
    const { records } = await runSuite(ALL_TESTS, runOptions, { only: [], exclude: [] }, 4);
    return records;
  } finally {
    await relay.close();
  }
}

const describeRecord = (r: TestRecord): string => `${r.id} → ${r.outcome}: ${r.message ?? ''} (expected ${r.expected ?? '-'}, observed ${r.observed ?? '-'})`;
const broken = (r: TestRecord): boolean => r.outcome === 'fail' || r.outcome === 'non-strict' || r.outcome === 'error';

describe('conformance suite against the reference relay', () => {
  it('passes every test, MUST and SHOULD alike', async () => {
    const records = await runAgainst([]);
    expect(records.length).toBeGreaterThan(0);
    expect(records.filter((r) => r.outcome !== 'pass').map(describeRecord)).toEqual([]);
  });
});

/** Faults that break only a SHOULD: judged by their own expectation below, not as a MUST failure. */
const SHOULD_ONLY: readonly FaultName[] = ['lazy-challenge'];

describe.each(FAULT_NAMES.filter((f) => !SHOULD_ONLY.includes(f)))('conformance suite against a relay with --fault %s', (fault) => {
  it(`fails a test of ${FAULTS[fault].breaks.join(' / ')} and no test of another anchor`, async () => {
    const records = await runAgainst([fault]);
    const anchors: readonly string[] = FAULTS[fault].breaks;
    const caught = records.filter((r) => broken(r) && anchors.includes(r.anchor));
    const collateral = records.filter((r) => broken(r) && !anchors.includes(r.anchor));
    expect(caught.map((r) => r.id), `no test of ${anchors.join(', ')} failed`).not.toEqual([]);
    expect(caught.some((r) => r.outcome === 'fail')).toBe(true);
    // A broken MUST is a fail and a broken SHOULD non-strict, never an error of the suite.
    expect(caught.filter((r) => r.outcome !== (r.level === 'MUST' ? 'fail' : 'non-strict')).map(describeRecord)).toEqual([]);
    expect(collateral.map(describeRecord)).toEqual([]);
  });
});

describe('conformance suite against a relay with --fault lazy-challenge (NIP-42 AUTH only with the first refusal)', () => {
  it('passes everything but the SHOULD of a challenge on connect, which is non-strict', async () => {
    const records = await runAgainst(['lazy-challenge']);
    expect(records.filter((r) => r.outcome !== 'pass').map((r) => `${r.id} → ${r.outcome}`)).toEqual(['kp-auth-challenge/on-connect → non-strict']);
  });
});
