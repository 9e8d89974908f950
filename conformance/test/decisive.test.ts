/**
 * A failing verdict marks the frame it rests on in the record's wire log: the
 * last-resort tests against a relay that consumes the last KeyPackage point at
 * bob's answer (the EOSE of his REQ; the OK of his 447, then silence), say what
 * happened in the message, and a passing run marks nothing.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { startRelay, type RunningRelay } from '../../reference-relay/server.js';
import type { FaultName } from '../../reference-relay/faults.js';
import { prepareRun } from '../check.js';
import { runSuite } from '../runner.js';
import { ALL_TESTS } from '../cases/index.js';
import type { TestRecord } from '../../report/schema.js';

const IDS = ['kp-handout-last-resort/req', 'kp-handout-last-resort/447'];
const QUIET_MS = 200;

const open = new Set<RunningRelay>();
afterAll(async () => {
  await Promise.all([...open].map((r) => r.close()));
});

async function runAgainst(faults: FaultName[]): Promise<Map<string, TestRecord>> {
  const relay = await startRelay({ port: 0, db: ':memory:', limits: { queries_per_window: 4, served_per_window: 12 }, faults });
  open.add(relay);
  try {
    const { runOptions } = await prepareRun(relay.url, { timeoutMs: 3000, quietMs: QUIET_MS, limits: {} });
    const { records } = await runSuite(ALL_TESTS, runOptions, { only: IDS, exclude: [] }, 2);
    return new Map(records.filter((r) => IDS.includes(r.id)).map((r) => [r.id, r]));
  } finally {
    await relay.close();
    open.delete(relay);
  }
}

const decisive = (r: TestRecord | undefined): TestRecord['wire'] => (r?.wire ?? []).filter((e) => e.decisive === true);

describe('the decisive frame of a failing test', () => {
  it('is marked on the relay answer the verdict rests on (fault consume-last)', async () => {
    const records = await runAgainst(['consume-last']);
    const req = records.get('kp-handout-last-resort/req');
    expect(req?.outcome).toBe('fail');
    const [reqFrame, ...moreReq] = decisive(req);
    expect(moreReq).toEqual([]);
    // Bob's REQ came back empty: his EOSE, not the owner's bookkeeping read that followed it.
    expect(reqFrame?.dir).toBe('received');
    expect(reqFrame?.frame).toMatch(/^bob \["EOSE",/);
    expect(reqFrame?.quietAfterMs).toBeUndefined();
    expect(req?.message).toMatch(/^bob's REQ returned no KeyPackage \(EOSE only\); the last resort [0-9a-f]{12} was consumed after alice received it$/);

    const by447 = records.get('kp-handout-last-resort/447');
    expect(by447?.outcome).toBe('fail');
    const [okFrame, ...more447] = decisive(by447);
    expect(more447).toEqual([]);
    // Nothing arrived: the last frame before the wait (bob's OK for his 447), with the wait.
    expect(okFrame?.frame).toMatch(/^bob \["OK",/);
    expect(okFrame?.quietAfterMs).toBe(QUIET_MS);
    expect(by447?.message).toMatch(/^bob's 447 .* delivered no KeyPackage; the last resort [0-9a-f]{12} was consumed after alice received it$/);
  }, 30_000);

  it('is not marked when the tests pass', async () => {
    const records = await runAgainst([]);
    expect([...records.values()].map((r) => r.outcome)).toEqual(['pass', 'pass']);
    for (const r of records.values()) expect(decisive(r)).toEqual([]);
  }, 30_000);
});
