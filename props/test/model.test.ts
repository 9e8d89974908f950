/** The model on its own: hand-out, last resort, windows, refusal, scope, multi-AUTH, partial subscriptions, and how races are explained. */
import { describe, expect, it } from 'vitest';
import { keyPackage } from '../../fixtures/events.js';
import { newKeys } from '../../protocol/crypto.js';
import type { Filter, NostrEvent } from '../../protocol/messages.js';
import { KIND } from '../../protocol/profile.js';
import { checkAsk, InvariantViolation, settle, type AskRun, type AskSpec } from '../invariants.js';
import { Model, type Expected } from '../model.js';
import { splitPath } from '../property.js';

const LIMITS = { max_per_query: 2, queries_per_window: 2, served_per_window: 3, window_seconds: 60 };
const T0 = 1_800_000_000_000;
const keys = [newKeys(), newKeys(), newKeys(), newKeys()];
const PUBKEYS = keys.map((k) => k.pubkey);

/** Genuine KeyPackages of A0, made once: the model reads only ids, created_at and tags. */
const A0_KPS = await Promise.all(Array.from({ length: 3 }, (_, i) => keyPackage(keys[0]!, { createdAt: 1000 + i })));

function withKeyPackages(n: number): Model {
  const m = new Model(LIMITS, T0, PUBKEYS);
  for (let i = 0; i < n; i++) m.publish(A0_KPS[i]!, 0, m.takeSeq(0));
  for (const a of [1, 2, 3]) m.conn(`A${a}`, [a]);
  return m;
}

const forA0 = (limit?: number): Filter[] => [{ kinds: [KIND.keyPackage], authors: [PUBKEYS[0]!], ...(limit === undefined ? {} : { limit }) }];
const ask = (m: Model, requester: number, limit?: number): Expected => m.req(`A${requester}`, forA0(limit));
const sent = (e: Expected): string[] => (e.kind === 'served' ? e.parts.flatMap((p) => p.send.map((kp) => kp.event.id)) : []);
const spec: AskSpec = { path: 'req', label: 'the REQ' };

describe('model', () => {
  it('hands out oldest first and keeps the last one (kp-handout-order, kp-handout-last-resort)', () => {
    const m = withKeyPackages(3);
    const [a, b, c] = m.stored(0).map((kp) => kp.event.id);
    expect(sent(ask(m, 1))).toEqual([a, b]);
    const second = ask(m, 2);
    expect(second.kind === 'served' && second.parts[0]).toMatchObject({ consumed: [], lastResort: c });
    expect(m.stored(0).map((kp) => kp.event.id)).toEqual([c]);
  });

  it('refuses the query past queries_per_window, charges nothing for it, and forgets charges after the window', () => {
    const m = withKeyPackages(1);
    expect(ask(m, 1, 1).kind).toBe('served');
    expect(ask(m, 1, 1).kind).toBe('served');
    expect(ask(m, 1, 1)).toMatchObject({ kind: 'refused', prefix: 'rate-limited', limit: 'queries', rule: 'kp-rate-queries' });
    expect(m.charges).toHaveLength(2);
    m.advance(59);
    expect(ask(m, 1, 1).kind).toBe('refused');
    m.advance(1);
    expect(ask(m, 1, 1).kind).toBe('served');
  });

  it('refuses a query whose hand-out would pass served_per_window, last resorts counted', () => {
    const m = new Model({ ...LIMITS, queries_per_window: 10 }, T0, PUBKEYS);
    m.publish(A0_KPS[0]!, 0, m.takeSeq(0));
    m.conn('A1', [1]);
    for (let i = 0; i < 3; i++) expect(ask(m, 1).kind).toBe('served');
    expect(m.servedIn(1)).toBe(3);
    expect(ask(m, 1)).toMatchObject({ kind: 'refused', limit: 'served' });
    m.advance(60);
    expect(m.servedIn(1)).toBe(0);
  });

  it('reads scope from the filter: ids name owners, a filter without kinds asks for nobody (kp-req-scope, kp-req-unscoped)', () => {
    const m = withKeyPackages(3);
    const [a, b, c] = m.stored(0).map((kp) => kp.event.id);
    // "oldest first is among the named KeyPackages"
    expect(sent(m.req('A1', [{ kinds: [KIND.keyPackage], ids: [c!, b!], limit: 1 }]))).toEqual([b]);
    expect(m.req('A1', [{ authors: [PUBKEYS[0]!] }])).toMatchObject({ kind: 'served', parts: [] });
    // A consumed id names no stored KeyPackage: not charged, nothing handed out.
    const charges = m.charges.length;
    expect(m.req('A1', [{ kinds: [KIND.keyPackage], ids: [b!] }])).toMatchObject({ kind: 'served', parts: [] });
    expect(m.charges).toHaveLength(charges);
    expect(m.stored(0).map((kp) => kp.event.id)).toEqual([a, c]);
  });

  it('blames KeyPackages returned for a filter that asks for nobody on kp-req-unscoped', () => {
    const m = withKeyPackages(2);
    const before = m.clone();
    const expected = m.req('A1', [{ authors: [PUBKEYS[0]!] }]);
    const [first] = m.published(0).map((kp) => kp.event);
    expect(checkAsk(before, spec, expected, { kind: 'served', events: [first!], late: [] })?.anchor).toBe('kp-req-unscoped');
    expect(checkAsk(before, spec, expected, { kind: 'served', events: [], late: [] })).toBeUndefined();
  });

  it('charges every authenticated non-owner, and makes the owner among them an owner\'s query (kp-auth-multi)', () => {
    const m = withKeyPackages(3);
    m.conn('A1+A2', [1, 2]);
    expect(sent(m.req('A1+A2', forA0(1)))).toHaveLength(1);
    expect(m.charges.map((c) => c.requester)).toEqual([1, 2]);
    m.conn('A0+A3', [0, 3]);
    const own = m.req('A0+A3', forA0());
    expect(own).toMatchObject({ kind: 'served', parts: [{ role: 'own' }] });
    expect(m.stored(0)).toHaveLength(2);
  });

  it('delivers a 447 only what fully matches a subscription, on every one it matches (kp-447-delivery)', () => {
    const m = withKeyPackages(3);
    const [, b, c] = m.stored(0);
    m.conn('A1', [1]).subs.set('s1', [{ kinds: [KIND.keyPackage], authors: [PUBKEYS[0]!], since: b!.event.created_at, limit: 0 }]);
    m.conn('A1').subs.set('s2', [{ ids: [c!.event.id], limit: 0 }]);
    const e = m.request('A1', 1, 0, 2);
    expect(sent(e)).toEqual([b!.event.id, c!.event.id]);
    expect(e.kind === 'served' && Object.fromEntries(e.deliverOn!)).toEqual({ [b!.event.id]: ['s1'], [c!.event.id]: ['s1', 's2'] });
    expect(m.request('A2', 2, 0, 1)).toMatchObject({ kind: 'refused', rule: 'kp-447-subscription' });
  });

  it('blames a short answer on kp-handout-max with expected and received counts', () => {
    const m = withKeyPackages(3);
    const before = m.clone();
    const expected = ask(m, 1);
    const [first] = m.published(0).map((kp) => kp.event);
    const v = checkAsk(before, spec, expected, { kind: 'served', events: [first!], late: [] });
    expect(v?.anchor).toBe('kp-handout-max');
    expect(v?.detail).toMatch(/handed out 1 of A0's KeyPackages .*expected 2: min\(cap 2, available 3\) = 2/);
  });

  it('explains racing answers by some serial order, and names the broken rule when none fits', () => {
    const m = withKeyPackages(2);
    const [a, b] = m.stored(0).map((kp) => kp.event) as [NostrEvent, NostrEvent];
    const run = (requester: number, events: NostrEvent[]): AskRun => ({
      spec: { path: 'req', label: `A${requester}'s REQ` },
      observed: { kind: 'served', events, late: [] },
      apply: (mm: Model) => ask(mm, requester),
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
