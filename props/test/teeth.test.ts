/**
 * The property suite has teeth: against a relay with a fault switched on, a
 * bounded run fails, names an anchor the fault breaks, and shrinks to a short
 * sequence. Invariants no fault breaks are shown to fail against "mutants":
 * targets that break their rule on purpose.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { NostrEvent } from '../../protocol/messages.js';
import { KIND, type KeyPackageLimits } from '../../protocol/profile.js';
import { FAULTS, type FaultName } from '../../reference-relay/faults.js';
import type { CommandName } from '../arbitraries.js';
import { inProcessFactory } from '../in-process-target.js';
import type { Anchor } from '../invariants.js';
import { runProperty, type PropertyOutcome } from '../property.js';
import { PROPERTY_LIMITS } from '../props.js';
import type { TargetFactory } from '../target.js';
import { referenceRelayFactory } from '../ws-target.js';
import { consumesOnRefusal, forward, mutate, RUNS } from './support.js';

const MAX_SHRUNK = 6;

function expectCaught(outcome: PropertyOutcome, anchor: Anchor): void {
  const { failure } = outcome;
  const summary = failure && `${failure.anchor}: ${failure.detail}\n  ${failure.commands.join('\n  ')}\n  seed ${failure.seed} path ${failure.path}`;
  expect(outcome.error).toBeUndefined();
  expect(outcome.failed, `no sequence of ${RUNS} failed`).toBe(true);
  expect(failure?.anchor, summary).toBe(anchor);
  expect(failure!.commands.length, summary).toBeLessThanOrEqual(MAX_SHRUNK);
}

interface FaultCase {
  fault: FaultName;
  anchor: Anchor;
  limits?: Partial<KeyPackageLimits>;
  exclude?: CommandName[];
}

const FAULT_CASES: FaultCase[] = [
  { fault: 'consume-last', anchor: 'kp-handout-last-resort' },
  { fault: 'double-handout', anchor: 'kp-handout-exactly-once' },
  { fault: 'no-rate-limit', anchor: 'kp-rate-queries', limits: { queries_per_window: 2, served_per_window: 50 } },
  { fault: 'no-rate-limit', anchor: 'kp-rate-served', limits: { queries_per_window: 50, served_per_window: 3 } },
  { fault: 'accept-replay', anchor: 'kp-pub-no-replay' },
  { fault: 'newest-first', anchor: 'kp-handout-order' },
  { fault: 'no-auth', anchor: 'kp-req-auth', exclude: ['447'] },
  { fault: 'no-auth', anchor: 'kp-447-auth', exclude: ['req-anon'] },
  { fault: 'zero-sig', anchor: 'kp-handout-intact' },
  { fault: 'broadcast-live', anchor: 'kp-pub-no-broadcast' },
  { fault: 'ok-before-delivery', anchor: 'kp-447-ok-after-delivery' },
];

describe.each(FAULT_CASES)('in process, fault $fault', ({ fault, anchor, limits, exclude }) => {
  it(`fails ${anchor} within ${RUNS} sequences, shrunk to at most ${MAX_SHRUNK} commands`, async () => {
    const breaks: readonly string[] = FAULTS[fault].breaks;
    expect(breaks).toContain(anchor);
    const factory = inProcessFactory({ limits: { ...PROPERTY_LIMITS, ...limits }, faults: [fault] });
    expectCaught(await runProperty({ factory, runs: RUNS, exclude: exclude ?? [] }), anchor);
  });
});

describe('over WebSocket, racing on separate connections', () => {
  const factories: TargetFactory[] = [];
  afterAll(async () => {
    await Promise.all(factories.map((f) => f.close()));
  });

  it.each([
    ['double-handout', 'kp-handout-exactly-once'],
    ['consume-last', 'kp-handout-last-resort'],
    ['ok-before-delivery', 'kp-447-ok-after-delivery'],
  ] as const)('fault %s fails %s', async (fault, anchor) => {
    const factory = await referenceRelayFactory({ limits: PROPERTY_LIMITS, faults: [fault], db: ':memory:' });
    factories.push(factory);
    expectCaught(await runProperty({ factory, runs: RUNS, quietMs: 20 }), anchor);
  });
});

/** The model's limits differ from the relay's: the relay is stricter or looser than it advertises. */
function advertising(model: Partial<KeyPackageLimits>, relay: Partial<KeyPackageLimits>): TargetFactory {
  return { ...inProcessFactory({ limits: { ...PROPERTY_LIMITS, ...relay } }), limits: { ...PROPERTY_LIMITS, ...model } };
}

const isKeyPackage = (e: NostrEvent): boolean => e.kind === KIND.keyPackage;

/** Hands KeyPackages out but shows consumed ones to their owner again: as if it never consumed them. */
function neverConsumes(): TargetFactory {
  const handedOut = new Map<string, NostrEvent>();
  return mutate(inProcessFactory({ limits: PROPERTY_LIMITS }), (conn) => {
    let self: string | undefined;
    return forward(conn, {
      async auth(keys) {
        self = keys.pubkey;
        return conn.auth(keys);
      },
      async req(filters) {
        const res = await conn.req(filters);
        const authors = filters[0]?.authors ?? [];
        if (self !== undefined && authors.includes(self)) {
          const seen = new Set(res.events.map((e) => e.id));
          res.events.push(...[...handedOut.values()].filter((e) => e.pubkey === self && !seen.has(e.id)));
        } else {
          for (const e of res.events.filter(isKeyPackage)) handedOut.set(e.id, e);
        }
        return res;
      },
      async sendRequest(event) {
        const res = await conn.sendRequest(event);
        for (const d of res.deliveries) handedOut.set(d.event.id, d.event);
        return res;
      },
    });
  });
}

interface MutantCase {
  anchor: Anchor;
  does: string;
  factory: () => TargetFactory;
  exclude?: CommandName[];
}

const MUTANTS: MutantCase[] = [
  { anchor: 'kp-handout-max', does: 'hands out 3 per query while advertising 2', factory: () => advertising({}, { max_per_query: 3 }) },
  { anchor: 'kp-handout-consume', does: 'never consumes what it hands out', factory: neverConsumes },
  {
    anchor: 'kp-rate-refusal',
    does: 'consumes a KeyPackage when it refuses a query',
    // Tight limits, so refusals meet owners with KeyPackages to lose.
    factory: () => consumesOnRefusal(inProcessFactory({ limits: { ...PROPERTY_LIMITS, queries_per_window: 1, served_per_window: 3 } })),
    // In a race a served query for the same owner may have taken it: only kp-handout-consume can tell then.
    exclude: ['race'],
  },
  {
    anchor: 'kp-req-handout',
    does: 'refuses REQs below the advertised queries_per_window',
    factory: () => advertising({}, { queries_per_window: 1 }),
    exclude: ['447', 'race'],
  },
  {
    anchor: 'kp-447-delivery',
    does: 'refuses 447s below the advertised queries_per_window',
    factory: () => advertising({}, { queries_per_window: 1 }),
    exclude: ['req', 'req-anon', 'race'],
  },
  {
    anchor: 'kp-447-subscription',
    does: 'accepts a 447 without an open subscription',
    factory: () =>
      mutate(inProcessFactory({ limits: PROPERTY_LIMITS }), (conn) =>
        forward(conn, {
          async sendRequest(event) {
            const res = await conn.sendRequest(event);
            return res.message.startsWith('invalid: no open subscription') ? { ok: true, message: '', deliveries: [], late: [] } : res;
          },
        }),
      ),
  },
  {
    anchor: 'kp-pub-accept',
    does: 'refuses valid KeyPackages',
    factory: () =>
      mutate(inProcessFactory({ limits: PROPERTY_LIMITS }), (conn) =>
        forward(conn, { publish: async (e) => (isKeyPackage(e) ? { ok: false, message: 'blocked: no KeyPackages here' } : conn.publish(e)) }),
      ),
  },
  {
    anchor: 'kp-del-owner',
    does: 'refuses deletions',
    factory: () =>
      mutate(inProcessFactory({ limits: PROPERTY_LIMITS }), (conn) =>
        forward(conn, { publish: async (e) => (e.kind === KIND.deletion ? { ok: false, message: 'blocked: no deletions' } : conn.publish(e)) }),
      ),
  },
  {
    anchor: 'kp-req-owner',
    does: "returns the owner's own KeyPackages oldest first",
    factory: () =>
      mutate(inProcessFactory({ limits: PROPERTY_LIMITS }), (conn) => {
        let self: string | undefined;
        return forward(conn, {
          async auth(keys) {
            self = keys.pubkey;
            return conn.auth(keys);
          },
          async req(filters) {
            const res = await conn.req(filters);
            if (self !== undefined && filters[0]?.authors?.includes(self)) res.events.reverse();
            return res;
          },
        });
      }),
  },
  {
    anchor: 'kp-pub-expired',
    does: 'serves KeyPackages past their expiration (its clock stands still)',
    factory: () =>
      mutate(
        inProcessFactory({ limits: PROPERTY_LIMITS }),
        (conn) => conn,
        (t) => ({ nowMs: () => t.clock!.nowMs(), advanceSeconds: () => undefined }),
      ),
    // Its windows stand still too; without queries only expiry tells.
    exclude: ['req', 'req-anon', '447', 'race'],
  },
];

describe.each(MUTANTS)('in process, a relay that $does', ({ anchor, factory, exclude }) => {
  it(`fails ${anchor}`, async () => {
    expectCaught(await runProperty({ factory: factory(), runs: RUNS, exclude: exclude ?? [] }), anchor);
  });
});
