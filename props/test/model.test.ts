/** The model on its own: hand-out, last resort, windows, refusal, and how races are explained. */
import { describe, expect, it } from 'vitest';
import { keyPackage } from '../../fixtures/events.js';
import { newKeys } from '../../protocol/crypto.js';
import type { NostrEvent } from '../../protocol/messages.js';
import { InvariantViolation, settle, type AskRun, type AskSpec } from '../invariants.js';
import { Model } from '../model.js';
import { splitPath } from '../property.js';

const LIMITS = { max_per_query: 2, queries_per_window: 2, served_per_window: 3, window_seconds: 60 };
const T0 = 1_800_000_000_000;
const owner = newKeys();

function withKeyPackages(n: number): Model {
  const m = new Model(LIMITS, T0);
  for (let i = 0; i < n; i++) m.publish(keyPackage(owner, { createdAt: 1000 + i }), 0, m.takeSeq(0));
  return m;
}

const spec = (requester: number): AskSpec => ({ path: 'req', requester, owners: [0], max: 2, charged: true, label: `A${requester}'s REQ` });

describe('model', () => {
  it('hands out oldest first and keeps the last one (kp-handout-order, kp-handout-last-resort)', () => {
    const m = withKeyPackages(3);
    const [a, b, c] = m.stored(0);
    const first = m.handOut(1, [{ owner: 0, max: 2 }]);
    expect(first.kind === 'served' && first.plans[0]!.send).toEqual([a, b]);
    const second = m.handOut(2, [{ owner: 0, max: 2 }]);
    expect(second.kind === 'served' && second.plans[0]).toMatchObject({ send: [{ event: c!.event }], consumed: [], lastResort: c!.event.id });
    expect(m.stored(0).map((kp) => kp.event.id)).toEqual([c!.event.id]);
  });

  it('refuses the query past queries_per_window, charges nothing for it, and forgets charges after the window', () => {
    const m = withKeyPackages(1);
    expect(m.handOut(1, [{ owner: 0, max: 1 }]).kind).toBe('served');
    expect(m.handOut(1, [{ owner: 0, max: 1 }]).kind).toBe('served');
    expect(m.handOut(1, [{ owner: 0, max: 1 }])).toMatchObject({ kind: 'refused', prefix: 'rate-limited', limit: 'queries' });
    expect(m.charges).toHaveLength(2);
    m.advance(59);
    expect(m.handOut(1, [{ owner: 0, max: 1 }]).kind).toBe('refused');
    m.advance(1);
    expect(m.handOut(1, [{ owner: 0, max: 1 }]).kind).toBe('served');
  });

  it('refuses a query whose hand-out would pass served_per_window, last resorts counted', () => {
    const m = new Model({ ...LIMITS, queries_per_window: 10 }, T0);
    m.publish(keyPackage(owner, { createdAt: 1000 }), 0, m.takeSeq(0));
    for (let i = 0; i < 3; i++) expect(m.handOut(1, [{ owner: 0, max: 2 }]).kind).toBe('served');
    expect(m.servedIn(1)).toBe(3);
    expect(m.handOut(1, [{ owner: 0, max: 2 }])).toMatchObject({ kind: 'refused', limit: 'served' });
    m.advance(60);
    expect(m.servedIn(1)).toBe(0);
  });

  it('explains racing answers by some serial order, and names the broken rule when none fits', () => {
    const m = withKeyPackages(2);
    const [a, b] = m.stored(0).map((kp) => kp.event) as [NostrEvent, NostrEvent];
    const run = (requester: number, events: NostrEvent[]): AskRun => ({
      spec: spec(requester),
      observed: { kind: 'served', events, late: [] },
      apply: (mm: Model) => mm.handOut(requester, [{ owner: 0, max: 2 }]),
    });
    // The second answer only fits if A2 went first.
    expect(() => settle(m.clone(), [run(1, [b]), run(2, [a, b])])).not.toThrow();
    const both = (): unknown => settle(m.clone(), [run(1, [a, b]), run(2, [a, b])]);
    expect(both).toThrow(InvariantViolation);
    expect(both).toThrow(/^kp-handout-exactly-once: A\d's REQ handed out A0#0 again/);
  });

  it('splits a replay path into fast-check path and commands replay path', () => {
    expect(splitPath('3:1:0@AB:C')).toEqual({ fcPath: '3:1:0', replayPath: 'AB:C' });
    expect(splitPath('7')).toEqual({ fcPath: '7', replayPath: undefined });
    expect(() => splitPath('3:x')).toThrow(/--path must look like/);
  });
});
