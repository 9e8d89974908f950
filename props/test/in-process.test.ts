/**
 * The reference relay, driven in process, keeps every invariant over many
 * random command sequences (KPSUITE_PROPS_RUNS raises the count), and a
 * failure's seed and path replay it exactly.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_KEYPACKAGE_LIMITS } from '../../protocol/profile.js';
import { inProcessFactory } from '../in-process-target.js';
import { runProperty, type PropertyOutcome } from '../property.js';
import { PROPERTY_LIMITS } from '../props.js';
import { RUNS } from './support.js';

function expectPass(outcome: PropertyOutcome): void {
  const f = outcome.failure;
  expect(outcome.error).toBeUndefined();
  expect(f && `${f.anchor}: ${f.detail}\n  ${f.commands.join('\n  ')}\n  seed ${f.seed} path ${f.path}`).toBeUndefined();
  expect(outcome.failed).toBe(false);
  expect(outcome.numRuns).toBe(RUNS);
}

describe('the reference relay in process', () => {
  it(`keeps every invariant over ${RUNS} sequences with small limits, and the sequences reach them`, async () => {
    const outcome = await runProperty({ factory: inProcessFactory({ limits: PROPERTY_LIMITS }), runs: RUNS });
    expectPass(outcome);
    // Not vacuous: every kind of command ran, and answers of every kind came back.
    const s = outcome.stats;
    for (const command of ['publish', 'req', '447', '447-partial', 'race', 'inventory', 'delete', 'republish', 'expire', 'clock']) {
      expect(s[`command ${command}`] ?? 0, command).toBeGreaterThan(0);
    }
    const shapes = ['req filter ids', 'req filter no-kinds', 'req with several filters', 'req on a connection with several AUTHs', '447 on a connection with several AUTHs'];
    for (const shape of shapes) expect(s[shape] ?? 0, shape).toBeGreaterThan(0);
    for (const answer of ['req served 2', '447 served 1', 'req refused auth-required', '447 refused auth-required', '447 refused invalid']) {
      expect(s[answer] ?? 0, answer).toBeGreaterThan(0);
    }
    const limited = Object.entries(s).filter(([k]) => k.includes('rate-limited'));
    expect(limited.length, 'no query was ever rate-limited').toBeGreaterThan(0);
  });

  it(`keeps every invariant over ${RUNS / 2} sequences with the profile's default limits`, async () => {
    const outcome = await runProperty({ factory: inProcessFactory({ limits: DEFAULT_KEYPACKAGE_LIMITS }), runs: RUNS / 2 });
    expect(outcome.failure).toBeUndefined();
    expect(outcome.numRuns).toBe(RUNS / 2);
  });

  it('replays a failure from its seed and path: same anchor, same commands', async () => {
    const factory = inProcessFactory({ limits: PROPERTY_LIMITS, faults: ['newest-first'] });
    const first = await runProperty({ factory, runs: RUNS });
    expect(first.failure).toBeDefined();
    const { seed, path } = first.failure!;
    const again = await runProperty({ factory, runs: RUNS, seed, path });
    expect(again.numRuns).toBe(1);
    expect(again.failure?.anchor).toBe(first.failure!.anchor);
    expect(again.failure?.commands).toEqual(first.failure!.commands);
    expect(again.failure?.detail).toBe(first.failure!.detail);
  });

  it('replays a race in the order it was sent', async () => {
    const factory = inProcessFactory({ limits: PROPERTY_LIMITS, faults: ['double-handout'] });
    const first = await runProperty({ factory, runs: RUNS });
    expect(first.failure?.commands.some((c) => c.startsWith('race('))).toBe(true);
    const again = await runProperty({ factory, runs: 1, seed: first.failure!.seed, path: first.failure!.path });
    expect(again.failure?.commands).toEqual(first.failure!.commands);
  });
});
