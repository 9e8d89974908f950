/**
 * The Marmot slot property (marmot-relay/1 §1): it holds against the reference
 * relay, and fails, blamed on the fault's anchor, with each Marmot slot fault.
 */
import { describe, expect, it } from 'vitest';
import type { FaultName } from '../../reference-relay/faults.js';
import { startRelay } from '../../reference-relay/server.js';
import { MarmotPool, runMarmotProperty, type MarmotOutcome } from '../marmot-commands.js';
import { MARMOT_FAULT_CASES, SEED } from './support.js';

const RUNS = Number(process.env.KPSUITE_MARMOT_RUNS ?? 100);
const MAX_SHRUNK = 6;

/** One pool for every sequence, as each gets a fresh relay (what `kpsuite props` does with its embedded relay). */
const pool = MarmotPool.fresh();

async function run(faults: FaultName[]): Promise<MarmotOutcome> {
  return runMarmotProperty({
    pool,
    runs: RUNS,
    ...(SEED === undefined ? {} : { seed: SEED }),
    relay: async () => {
      const relay = await startRelay({ host: '127.0.0.1', port: 0, db: ':memory:', faults });
      return { url: relay.url, close: () => relay.close() };
    },
  });
}

const show = (o: MarmotOutcome): string => (o.failure ? `${o.failure.anchor}: ${o.failure.detail}\n  ${o.failure.commands.join('\n  ')}` : String(o.error ?? 'passed'));

describe('marmot-slots property (PROFILE-MARMOT.md §1)', () => {
  it('holds against the reference relay', async () => {
    const outcome = await run([]);
    expect(outcome.error, show(outcome)).toBeUndefined();
    expect(outcome.failed, show(outcome)).toBe(false);
    expect(outcome.numRuns).toBe(RUNS);
  });

  it.each(MARMOT_FAULT_CASES)('fault $fault fails $anchor', async ({ fault, anchor }) => {
    const outcome = await run([fault]);
    if (process.env.KPSUITE_PROPS_VERBOSE) console.log(`${fault} (${outcome.numRuns} runs, ${outcome.durationMs} ms):\n${show(outcome)}`);
    expect(outcome.error, show(outcome)).toBeUndefined();
    expect(outcome.failed, `no sequence of ${RUNS} failed`).toBe(true);
    expect(outcome.failure?.anchor, show(outcome)).toBe(anchor);
    expect(outcome.failure!.commands.length, show(outcome)).toBeLessThanOrEqual(MAX_SHRUNK);
  });

  it('does not see marmot-consume-30443: its fetches never mix kinds 443 and 30443', async () => {
    const outcome = await run(['marmot-consume-30443']);
    expect(outcome.error, show(outcome)).toBeUndefined();
    expect(outcome.failed, show(outcome)).toBe(false);
  });
});
