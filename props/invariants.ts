/**
 * The invariants, each named after the PROFILE.md anchor it checks. The
 * commands compare what the relay answered with what the model says a
 * conforming relay must answer; the first invariant that does not hold is
 * thrown as an InvariantViolation carrying its anchor.
 */
import { isDeepStrictEqual } from 'node:util';
import type { NostrEvent } from '../protocol/messages.js';
import { KIND, prefixOf } from '../protocol/profile.js';
import { actorName, oldestFirst, type Expected, type Model, type ModelKp, type Part } from './model.js';

export const INVARIANTS = {
  'kp-handout-last-resort': "the owner's last stored KeyPackage is handed out but never consumed",
  'kp-handout-exactly-once': 'no KeyPackage but a last resort is handed out twice, to two requesters or to one',
  'kp-handout-consume':
    'conservation: every published KeyPackage is stored, consumed by exactly one hand-out, deleted by its owner, or expired',
  'kp-handout-max': 'a charged query hands out exactly min(cap, available) KeyPackages of its owner: never more, never fewer',
  'kp-handout-order': 'KeyPackages are handed out oldest first (created_at, then id)',
  'kp-rate-queries': 'at most queries_per_window charged queries per requester and owner per window',
  'kp-rate-served': 'at most served_per_window KeyPackages handed out per requester per window, last resorts included',
  'kp-rate-refusal': 'a query over a limit is refused rate-limited, consumes nothing and is not charged',
  'kp-pub-no-replay': 'a consumed or deleted KeyPackage is never accepted or served again',
  'kp-req-auth': 'a REQ for KeyPackages without AUTH is CLOSED auth-required and hands out nothing',
  'kp-447-auth': 'a kind 447 whose signer is not authenticated is refused auth-required and hands out nothing',
  'kp-447-subscription': 'a kind 447 without an open subscription for the owner is refused invalid, uncharged',
  'kp-447-ok-after-delivery': "a kind 447's OK comes after all of its deliveries",
  'kp-handout-intact': 'a handed-out KeyPackage is the event its owner published, unchanged',
  'kp-pub-accept': 'a valid KeyPackage is accepted with OK true',
  'kp-pub-expired': 'an expired KeyPackage is never served',
  'kp-pub-no-broadcast': "a new KeyPackage is never pushed to other people's live subscriptions",
  'kp-del-owner': "the owner's kind 5 is accepted and removes the KeyPackages it names",
  'kp-req-owner': "the owner's own query returns its stored KeyPackages newest first, limit applied",
  'kp-req-handout': 'a REQ within the limits is answered, with the KeyPackages its filters can receive',
  'kp-req-unscoped': 'a filter that does not ask for an owner returns no KeyPackages of pubkeys not authenticated on the connection',
  'kp-447-delivery': 'a kind 447 within the limits is answered, each KeyPackage on every open subscription it matches',
} as const;

export type Anchor = keyof typeof INVARIANTS;

export class InvariantViolation extends Error {
  constructor(
    readonly anchor: Anchor,
    readonly detail: string,
    /** The model just before the failing query, in the closest explanation: for a follow-up audit. */
    readonly state?: Model,
    /** A relay giving less than due: the weakest explanation, tried last. */
    readonly weak = false,
  ) {
    super(`${anchor}: ${detail}`);
    this.name = 'InvariantViolation';
  }
}

/** One query (REQ with its filters, or one 447) as the command sent it. */
export interface AskSpec {
  path: 'req' | '447';
  /** e.g. `A1's REQ for A0 (limit 2)`. */
  label: string;
}

export type Observed =
  | { kind: 'refused'; message: string }
  /** `subs`: the subscription each EVENT came on (447: one KeyPackage may come on several). */
  | { kind: 'served'; events: NostrEvent[]; late: NostrEvent[]; subs?: { subId: string; event: NostrEvent }[] };

interface AskCase {
  /** The model before this ask. */
  model: Model;
  spec: AskSpec;
  expected: Expected;
  observed: Observed;
}

const names = (kps: readonly ModelKp[]): string => (kps.length === 0 ? 'nothing' : kps.map((kp) => kp.name).join(', '));
/** The distinct events of an answer (a 447 may deliver one KeyPackage on several subscriptions). */
const served = (o: Observed): NostrEvent[] => (o.kind === 'served' ? o.events : []);
const known = (c: AskCase): ModelKp[] => served(c.observed).flatMap((e) => c.model.kps.get(e.id) ?? []);
const answer = (o: Observed): string =>
  o.kind === 'refused' ? `refused with "${o.message}"` : `answered with ${o.events.length === 0 ? 'no KeyPackage' : o.events.map((e) => e.id.slice(0, 8)).join(', ')}`;
const liveness = (spec: AskSpec): Anchor => (spec.path === 'req' ? 'kp-req-handout' : 'kp-447-delivery');
const parts = (e: Expected): Part[] => (e.kind === 'served' ? e.parts : []);
/** By id: the expectation was computed on another copy of the model (settle). */
const has = (kps: readonly ModelKp[], kp: ModelKp): boolean => kps.some((k) => k.event.id === kp.event.id);
/** `min(cap 2, available 3) = 2`, summed over the owner's charged queries of one message. */
const sizes = (p: Part): string => p.queries.map((q) => `min(cap ${q.cap}, available ${q.available}) = ${Math.min(q.cap, q.available)}`).join(' + ');

function fateNote(model: Model, kp: ModelKp): string {
  const h = model.handOutOf(kp.event.id);
  if (kp.fate === 'consumed' && h) return `handed out to ${h.requesters.map(actorName).join('+')} and consumed at step ${h.step}`;
  if (kp.fate === 'deleted') return `deleted by its owner at step ${kp.fateStep ?? '?'}`;
  return kp.fate;
}

/** The per-owner lists a served answer holds, in answer order. */
function byOwner(kps: readonly ModelKp[]): Map<number, ModelKp[]> {
  const out = new Map<number, ModelKp[]>();
  for (const kp of kps) out.set(kp.owner, [...(out.get(kp.owner) ?? []), kp]);
  return out;
}

type Found = [Anchor, string] | [Anchor, string, 'weak'];
type AskCheck = (c: AskCase) => Found | undefined;

/** In precedence order: the most specific explanation of a wrong answer comes first. */
const ASK_CHECKS: readonly AskCheck[] = [
  ({ spec, expected, observed }) => {
    if (expected.kind !== 'refused' || expected.prefix !== 'auth-required') return undefined;
    if (observed.kind === 'served') return [expected.rule, `${spec.label} without AUTH was ${answer(observed)} instead of refused auth-required`];
    if (prefixOf(observed.message) !== 'auth-required') return [expected.rule, `${spec.label} without AUTH was ${answer(observed)}, not auth-required`];
    return undefined;
  },
  ({ spec, observed }) =>
    observed.kind === 'served' && observed.late.length > 0
      ? ['kp-447-ok-after-delivery', `${spec.label}: ${observed.late.length} KeyPackage(s) arrived after its OK`]
      : undefined,
  ({ model, spec, observed }) => {
    for (const e of served(observed)) {
      const kp = model.kps.get(e.id);
      // Other kinds (an unscoped filter's kind 5s, say) are ordinary NIP-01 answers.
      if (!kp && e.kind !== KIND.keyPackage) continue;
      if (!kp) return ['kp-handout-intact', `${spec.label} handed out ${e.id.slice(0, 8)}, which is no KeyPackage an owner published here`];
      const diff = (['pubkey', 'created_at', 'kind', 'tags', 'content', 'sig'] as const).find((f) => !isDeepStrictEqual(kp.event[f], e[f]));
      if (diff) return ['kp-handout-intact', `${spec.label} handed out ${kp.name} with a different ${diff} than its owner published`];
    }
    return undefined;
  },
  // kp-handout-max, "never more than the cap": counted per owner over the message's charged queries.
  (c) => {
    const got = byOwner(known(c));
    for (const p of parts(c.expected)) {
      const kps = got.get(p.owner) ?? [];
      const cap = p.queries.reduce((n, q) => n + q.cap, 0);
      if (p.role === 'handout' && kps.length > cap) {
        return ['kp-handout-max', `${c.spec.label} handed out ${kps.length} of ${actorName(p.owner)}'s KeyPackages (${names(kps)}); the cap is ${cap}`];
      }
    }
    return undefined;
  },
  (c) => {
    const kp = known(c).find((k) => k.fate === 'deleted');
    return kp ? ['kp-pub-no-replay', `${c.spec.label} handed out ${kp.name}, ${fateNote(c.model, kp)}`] : undefined;
  },
  (c) => {
    const kps = known(c);
    const again = kps.find((k) => k.fate === 'consumed');
    if (again) return ['kp-handout-exactly-once', `${c.spec.label} handed out ${again.name} again: it was ${fateNote(c.model, again)}`];
    const twice = kps.find((k, i) => kps.indexOf(k) !== i);
    return twice ? ['kp-handout-exactly-once', `${c.spec.label} handed out ${twice.name} twice in one answer`] : undefined;
  },
  (c) => {
    const kp = known(c).find((k) => k.fate === 'stored' && c.model.isExpired(k));
    return kp ? ['kp-pub-expired', `${c.spec.label} handed out ${kp.name}, which expired at ${kp.expiresAt} (relay clock ${c.model.nowSeconds()})`] : undefined;
  },
  ({ spec, expected, observed }) => {
    if (expected.kind !== 'refused' || expected.prefix !== 'rate-limited' || observed.kind !== 'served') return undefined;
    return [expected.rule, `${spec.label} was ${answer(observed)} instead of refused rate-limited: ${expected.detail}`];
  },
  ({ spec, expected, observed }) => {
    if (expected.kind !== 'refused' || expected.prefix !== 'invalid') return undefined;
    if (observed.kind === 'served') return [expected.rule, `${spec.label} was ${answer(observed)} ${expected.detail}`];
    if (prefixOf(observed.message) !== 'invalid') return [expected.rule, `${spec.label} was ${answer(observed)}, not invalid (${expected.detail})`];
    return undefined;
  },
  // KeyPackages of people the query did not hand out: another owner, or a stored one outside what it can receive.
  (c) => {
    if (c.expected.kind !== 'served') return undefined;
    const { authed } = c.expected;
    for (const kp of known(c)) {
      if (authed.includes(kp.owner)) continue;
      const p = c.expected.parts.find((x) => x.owner === kp.owner);
      if (!p) {
        const anchor: Anchor = c.spec.path === 'req' ? 'kp-req-unscoped' : 'kp-447-delivery';
        return [anchor, `${c.spec.label} returned ${kp.name}, a KeyPackage of ${actorName(kp.owner)}, whom it did not ask for and who is not authenticated on the connection`];
      }
      if (!has(p.receivable, kp)) {
        const where = c.spec.path === 'req' ? 'its filter' : 'any open subscription of the connection';
        return [liveness(c.spec), `${c.spec.label} handed out ${kp.name}, which does not fully match ${where}`];
      }
    }
    return undefined;
  },
  // kp-handout-order: oldest first within each owner's part, and the oldest receivable ones.
  (c) => {
    const got = byOwner(known(c));
    for (const p of parts(c.expected)) {
      if (p.role !== 'handout') continue;
      const kps = got.get(p.owner) ?? [];
      const sorted = [...kps].sort(oldestFirst);
      const label = `${c.spec.label} handed out ${names(kps)}`;
      if (kps.some((kp, i) => kp !== sorted[i])) return ['kp-handout-order', `${label}, not oldest first (${names(sorted)})`];
      if (kps.some((kp) => !has(p.send, kp))) return ['kp-handout-order', `${label}; the oldest it could receive were ${names(p.send)}`];
    }
    return undefined;
  },
  // kp-req-owner / kp-447-owner: the owner's own query returns what ordinary rules return.
  (c) => {
    const got = byOwner(known(c));
    for (const p of parts(c.expected)) {
      if (p.role !== 'own') continue;
      const kps = got.get(p.owner) ?? [];
      if (c.spec.path === '447') {
        // kp-447-owner "delivered as in §4.4": nothing else, never more; fewer is a short answer (below).
        const extra = kps.find((kp) => !has(p.send, kp));
        if (extra || kps.length > p.send.length) return ['kp-447-delivery', `${c.spec.label}, an owner's query for ${actorName(p.owner)}, returned ${names(kps)}; expected ${names(p.send)}`];
        continue;
      }
      // By created_at: NIP-01 only says ties "should" go lowest id first.
      const times = (xs: readonly ModelKp[]): number[] => xs.map((kp) => kp.event.created_at).sort((a, b) => a - b);
      if (!isDeepStrictEqual(times(kps), times(p.send)) || kps.some((kp) => !c.model.isLive(kp))) {
        const anchor: Anchor = c.spec.path === 'req' ? 'kp-req-owner' : 'kp-447-delivery';
        return [anchor, `${c.spec.label}, an owner's query for ${actorName(p.owner)}, returned ${names(kps)}; expected ${names(p.send)}`];
      }
    }
    return undefined;
  },
  ({ model, spec, expected, observed }) => {
    if (observed.kind !== 'refused') return undefined;
    const limited = prefixOf(observed.message) === 'rate-limited';
    if (expected.kind === 'refused' && expected.prefix === 'rate-limited' && !limited) {
      return ['kp-rate-refusal', `${spec.label} was ${answer(observed)}, not rate-limited (${expected.detail})`];
    }
    if (expected.kind !== 'served' || !limited) return undefined;
    const charged = expected.parts.some(
      (p) => p.role === 'handout' && model.refusedIfRefusalsCharged(expected.authed.filter((a) => a !== p.owner), p.owner, p.send.length),
    );
    return charged ? ['kp-rate-refusal', `${spec.label} was ${answer(observed)}; only charging earlier refused queries explains that`] : undefined;
  },
  // kp-447-delivery: "on every open subscription of that connection whose filters match it".
  ({ model, spec, expected, observed }) => {
    if (expected.kind !== 'served' || !expected.deliverOn || observed.kind !== 'served' || !observed.subs) return undefined;
    for (const [id, subs] of expected.deliverOn) {
      const on = new Set(observed.subs.filter((d) => d.event.id === id).map((d) => d.subId));
      const missing = on.size > 0 ? subs.filter((s) => !on.has(s)) : [];
      if (missing.length > 0) return ['kp-447-delivery', `${spec.label} delivered ${model.kps.get(id)?.name ?? id.slice(0, 8)} on ${[...on].join(', ')} but not on ${missing.join(', ')}, which match it`];
    }
    return undefined;
  },
  // Whatever is left is a relay answering less than it must.
  ({ spec, expected, observed, model }) => {
    if (expected.kind === 'refused') {
      return observed.kind === 'served' ? [liveness(spec), `${spec.label} was ${answer(observed)} instead of refused (${expected.detail})`, 'weak'] : undefined;
    }
    if (observed.kind === 'refused') {
      const why = prefixOf(observed.message) === 'rate-limited' ? stricterLimit(model, expected) : undefined;
      if (why) return [why[0], `${spec.label} was ${answer(observed)} although ${why[1]}`];
      return [liveness(spec), `${spec.label} was ${answer(observed)} although it is within the limits`, 'weak'];
    }
    const got = byOwner(known({ model, spec, expected, observed }));
    for (const p of expected.parts) {
      const kps = got.get(p.owner) ?? [];
      if ((p.role === 'handout' || spec.path === '447') && kps.length < p.send.length) {
        // kp-handout-max, "never fewer while more are stored".
        const detail = `${spec.label} handed out ${kps.length} of ${actorName(p.owner)}'s KeyPackages (${names(kps)}); expected ${p.send.length}: ${sizes(p)} (${names(p.send)})`;
        return ['kp-handout-max', detail, 'weak'];
      }
    }
    return undefined;
  },
];

/**
 * A rate-limited refusal of a query within the advertised limits: which
 * limit the relay applied more strictly, when only one can have refused it:
 * the first query for the pair in the window can only be refused by
 * kp-rate-served (queries_per_window ≥ 1). Otherwise it stays a shortfall.
 */
function stricterLimit(model: Model, expected: Expected): [Anchor, string] | undefined {
  const { queries_per_window: q, served_per_window: s } = model.limits;
  for (const p of parts(expected)) {
    if (p.role !== 'handout') continue;
    const requesters = expected.kind === 'served' ? expected.authed.filter((a) => a !== p.owner) : [];
    for (const r of requesters) {
      const queries = model.queriesIn(r, p.owner);
      const served = model.servedIn(r);
      const state = `${actorName(r)} had made ${queries} charged queries for ${actorName(p.owner)} (queries_per_window ${q}) and been handed ${served} KeyPackages (served_per_window ${s}) in the window, and this would add ${p.send.length}`;
      if (queries === 0 && p.send.length > 0) return ['kp-rate-served', state];
    }
  }
  return undefined;
}

export function checkAsk(model: Model, spec: AskSpec, expected: Expected, observed: Observed): InvariantViolation | undefined {
  for (const check of ASK_CHECKS) {
    const found = check({ model, spec, expected, observed });
    if (found) return new InvariantViolation(found[0], found[1], undefined, found[2] === 'weak');
  }
  return undefined;
}

/** One query of a command, with the model step that predicts its answer. */
export interface AskRun {
  spec: AskSpec;
  observed: Observed;
  /** Applies the query to the model and returns what a conforming relay answers. */
  apply(model: Model): Expected;
}

function permutations(n: number): number[][] {
  if (n <= 1) return [[...Array(n).keys()]];
  // Command order first: it is the closest explanation when none fits.
  return permutations(n - 1).flatMap((p) => Array.from({ length: n }, (_, k) => [...p.slice(0, n - 1 - k), n - 1, ...p.slice(n - 1 - k)]));
}

/**
 * kp-handout-exactly-once "whatever the interleaving": racing queries are
 * correct when some serial order of them explains every answer. Adopts that
 * order's state into `model` and returns the expected outcomes in command
 * order, or throws the violation of the order that got furthest.
 */
export function settle(model: Model, runs: readonly AskRun[]): Expected[] {
  let best: { violation: InvariantViolation; at: number; order: number[]; state: Model } | undefined;
  for (const order of permutations(runs.length)) {
    const m = model.clone();
    const outcomes: Expected[] = [];
    let failed: { violation: InvariantViolation; at: number; state: Model } | undefined;
    for (const [at, i] of order.entries()) {
      const run = runs[i]!;
      const before = m.clone();
      const expected = run.apply(m);
      outcomes[i] = expected;
      const violation = checkAsk(before, run.spec, expected, run.observed);
      if (violation) {
        failed = { violation, at, state: before };
        break;
      }
    }
    if (!failed) {
      model.assign(m);
      return outcomes;
    }
    // The order that explains most answers; among equals, a specific rule over a shortfall.
    if (!best || failed.at > best.at || (failed.at === best.at && best.violation.weak && !failed.violation.weak)) best = { ...failed, order };
  }
  const { violation, order, state } = best!;
  if (runs.length < 2) throw new InvariantViolation(violation.anchor, violation.detail, state, violation.weak);
  const serial = order.map((i) => runs[i]!.spec.label).join(', then ');
  const detail = `${violation.detail} (no serial order of the racing queries explains the answers; closest: ${serial})`;
  throw new InvariantViolation(violation.anchor, detail, state, violation.weak);
}

/** Why an owner's inventory (own query, no limit) disagrees with the model, after step `model.step`. */
export function checkInventory(
  model: Model,
  owner: number,
  events: readonly NostrEvent[],
  /** Owners this command asked for only in refused queries (kp-rate-refusal: those consume nothing). */
  refusedOnly: ReadonlySet<number>,
): InvariantViolation | undefined {
  const who = actorName(owner);
  const present = new Set(events.map((e) => e.id));
  for (const e of events) {
    const kp = model.kps.get(e.id);
    if (e.kind !== KIND.keyPackage) continue;
    if (!kp) return new InvariantViolation('kp-handout-consume', `${who}'s stored KeyPackages include ${e.id.slice(0, 8)}, which the relay never accepted`);
    if (kp.fate !== 'stored') return new InvariantViolation('kp-handout-consume', `${kp.name} is still stored although it was ${fateNote(model, kp)}`);
    if (model.isExpired(kp)) return new InvariantViolation('kp-pub-expired', `${kp.name} is still served to its owner after it expired at ${kp.expiresAt}`);
  }
  for (const kp of model.stored(owner)) {
    if (present.has(kp.event.id)) continue;
    if (refusedOnly.has(owner)) {
      return new InvariantViolation('kp-rate-refusal', `${kp.name} disappeared when a query for ${who}'s KeyPackages was refused rate-limited`);
    }
    if (model.isLastResort(kp) && model.handedOutAsLastResort(kp.event.id)) {
      const h = model.handouts.filter((x) => x.lastResort === kp.event.id).at(-1)!;
      return new InvariantViolation(
        'kp-handout-last-resort',
        `${kp.name}, ${who}'s last KeyPackage, was consumed when it was handed out to ${h.requesters.map(actorName).join('+')} at step ${h.step}`,
      );
    }
    return new InvariantViolation('kp-handout-consume', `${kp.name} is gone, though it was never handed out, deleted or expired`);
  }
  return undefined;
}

/** kp-req-owner: the owner's query with `limit`: its newest stored KeyPackages, newest first. */
export function checkOwnerQuery(model: Model, owner: number, limit: number | undefined, events: readonly NostrEvent[]): InvariantViolation | undefined {
  const stored = model.stored(owner);
  const want = limit === undefined ? stored.length : Math.min(limit, stored.length);
  const newest = [...stored].sort((a, b) => b.event.created_at - a.event.created_at).slice(0, want);
  const label = `${actorName(owner)}'s own query${limit === undefined ? '' : ` (limit ${limit})`}`;
  if (events.length !== want) return new InvariantViolation('kp-req-owner', `${label} returned ${events.length} KeyPackage(s); ${want} expected`);
  if (events.some((e, i) => i > 0 && e.created_at > events[i - 1]!.created_at)) return new InvariantViolation('kp-req-owner', `${label} is not newest first`);
  const times = (xs: readonly { created_at: number }[]): number[] => xs.map((x) => x.created_at).sort((a, b) => a - b);
  if (!isDeepStrictEqual(times(events), times(newest.map((kp) => kp.event)))) return new InvariantViolation('kp-req-owner', `${label} did not return the newest ones`);
  return undefined;
}

/**
 * EVENTs no answer took, on a connection where `holders` are authenticated: a KeyPackage handed to the holder arrived after
 * its 447's OK (kp-447-ok-after-delivery); any other not the holder's own was
 * pushed unasked (kp-pub-no-broadcast).
 */
export function checkStrays(model: Model, holders: readonly number[], strays: readonly { subId: string; event: NostrEvent }[]): InvariantViolation | undefined {
  const who = holders.length === 0 ? 'the unauthenticated connection' : `the connection of ${holders.map(actorName).join('+')}`;
  for (const { subId, event } of strays) {
    // kp-pub-no-broadcast: "except on connections where its owner is authenticated".
    if (event.kind !== KIND.keyPackage || holders.some((h) => model.pubkeys[h] === event.pubkey)) continue;
    const name = model.kps.get(event.id)?.name ?? event.id.slice(0, 8);
    const handed = model.handouts.find((h) => h.requesters.some((r) => holders.includes(r)) && h.ids.includes(event.id));
    if (handed) return new InvariantViolation('kp-447-ok-after-delivery', `${who} received ${name}, handed to it at step ${handed.step}, after the OK of its 447`);
    return new InvariantViolation('kp-pub-no-broadcast', `${who} received ${name} on its live subscription ${subId} without asking for it`);
  }
  return undefined;
}
