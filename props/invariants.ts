/**
 * The invariants, each named after the PROFILE.md anchor it checks. The
 * commands compare what the relay answered with what the model says a
 * conforming relay must answer; the first invariant that does not hold is
 * thrown as an InvariantViolation carrying its anchor.
 */
import { isDeepStrictEqual } from 'node:util';
import { oldestFirst } from '../fixtures/events.js';
import type { NostrEvent } from '../protocol/messages.js';
import { KIND, prefixOf } from '../protocol/profile.js';
import { actorName, type Expected, type Model, type ModelKp } from './model.js';

export const INVARIANTS = {
  'kp-handout-last-resort': "the owner's last stored KeyPackage is handed out but never consumed",
  'kp-handout-exactly-once': 'no KeyPackage but a last resort is handed out twice, to two requesters or to one',
  'kp-handout-consume':
    'conservation: every published KeyPackage is stored, consumed by exactly one hand-out, deleted by its owner, or expired',
  'kp-handout-max': 'at most min(limit or n, max_per_query) KeyPackages per owner per query',
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
  'kp-req-handout': 'a REQ within the limits hands out the oldest min(limit, max_per_query) stored KeyPackages',
  'kp-447-delivery': 'a kind 447 within the limits delivers the oldest n stored KeyPackages before its OK',
} as const;

export type Anchor = keyof typeof INVARIANTS;

export class InvariantViolation extends Error {
  constructor(
    readonly anchor: Anchor,
    readonly detail: string,
    /** The model just before the failing query, in the closest explanation: for a follow-up audit. */
    readonly state?: Model,
  ) {
    super(`${anchor}: ${detail}`);
    this.name = 'InvariantViolation';
  }
}

/** Anchors of a relay handing out less than it must: the weakest explanation, tried last. */
export const LIVENESS: readonly Anchor[] = ['kp-req-handout', 'kp-447-delivery'];

/** One charged (or limit:0) query as the command sent it. */
export interface AskSpec {
  path: 'req' | '447';
  /** undefined: nobody is authenticated (REQ), or not the signer (447). */
  requester: number | undefined;
  owners: readonly number[];
  max: number;
  /** false for limit:0, which hands out nothing and is not charged (kp-req-scope). */
  charged: boolean;
  /** e.g. `A1's REQ for A0 (limit 2)`. */
  label: string;
}

export type Observed =
  | { kind: 'refused'; message: string }
  | { kind: 'served'; events: NostrEvent[]; late: NostrEvent[] };

interface AskCase {
  /** The model before this ask. */
  model: Model;
  spec: AskSpec;
  expected: Expected;
  observed: Observed;
}

const names = (kps: readonly ModelKp[]): string => (kps.length === 0 ? 'nothing' : kps.map((kp) => kp.name).join(', '));
const served = (o: Observed): NostrEvent[] => (o.kind === 'served' ? o.events : []);
const known = (c: AskCase): ModelKp[] => served(c.observed).flatMap((e) => c.model.kps.get(e.id) ?? []);
const answer = (o: Observed): string =>
  o.kind === 'refused' ? `refused with "${o.message}"` : `answered with ${o.events.length === 0 ? 'no KeyPackage' : o.events.map((e) => e.id.slice(0, 8)).join(', ')}`;
const liveness = (spec: AskSpec): Anchor => (spec.path === 'req' ? 'kp-req-handout' : 'kp-447-delivery');

function fateNote(model: Model, kp: ModelKp): string {
  const h = model.handOutOf(kp.event.id);
  if (kp.fate === 'consumed' && h) return `handed out to ${actorName(h.requester)} and consumed at step ${h.step}`;
  if (kp.fate === 'deleted') return `deleted by its owner at step ${kp.fateStep ?? '?'}`;
  return kp.fate;
}

/** The per-owner lists a served answer holds, in answer order. */
function byOwner(kps: readonly ModelKp[]): Map<number, ModelKp[]> {
  const out = new Map<number, ModelKp[]>();
  for (const kp of kps) out.set(kp.owner, [...(out.get(kp.owner) ?? []), kp]);
  return out;
}

type AskCheck = (c: AskCase) => [Anchor, string] | undefined;

/** In precedence order: the most specific explanation of a wrong answer comes first. */
const ASK_CHECKS: readonly AskCheck[] = [
  ({ spec, observed }) => {
    if (spec.requester !== undefined || !spec.charged) return undefined;
    const anchor: Anchor = spec.path === 'req' ? 'kp-req-auth' : 'kp-447-auth';
    if (observed.kind === 'served') return [anchor, `${spec.label} without AUTH was ${answer(observed)} instead of refused auth-required`];
    if (prefixOf(observed.message) !== 'auth-required') return [anchor, `${spec.label} without AUTH was ${answer(observed)}, not auth-required`];
    return undefined;
  },
  ({ spec, observed }) =>
    observed.kind === 'served' && observed.late.length > 0
      ? ['kp-447-ok-after-delivery', `${spec.label}: ${observed.late.length} KeyPackage(s) arrived after its OK`]
      : undefined,
  ({ model, spec, observed }) => {
    for (const e of served(observed)) {
      const kp = model.kps.get(e.id);
      if (!kp) return ['kp-handout-intact', `${spec.label} handed out ${e.id.slice(0, 8)}, which is no KeyPackage an owner published here`];
      const diff = (['pubkey', 'created_at', 'kind', 'tags', 'content', 'sig'] as const).find((f) => !isDeepStrictEqual(kp.event[f], e[f]));
      if (diff) return ['kp-handout-intact', `${spec.label} handed out ${kp.name} with a different ${diff} than its owner published`];
    }
    return undefined;
  },
  (c) => {
    for (const [owner, kps] of byOwner(known(c))) {
      if (kps.length > c.spec.max) {
        return ['kp-handout-max', `${c.spec.label} handed out ${kps.length} of ${actorName(owner)}'s KeyPackages (${names(kps)}); at most ${c.spec.max}`];
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
    const anchor: Anchor = expected.limit === 'served' ? 'kp-rate-served' : 'kp-rate-queries';
    return [anchor, `${spec.label} was ${answer(observed)} instead of refused rate-limited: ${expected.detail}`];
  },
  ({ spec, expected, observed }) => {
    if (expected.kind !== 'refused' || expected.prefix !== 'invalid') return undefined;
    if (observed.kind === 'served') return ['kp-447-subscription', `${spec.label} was ${answer(observed)} ${expected.detail}`];
    if (prefixOf(observed.message) !== 'invalid') return ['kp-447-subscription', `${spec.label} was ${answer(observed)}, not invalid (${expected.detail})`];
    return undefined;
  },
  (c) => {
    if (c.expected.kind !== 'served') return undefined;
    const got = byOwner(known(c));
    for (const plan of c.expected.plans) {
      const kps = got.get(plan.owner) ?? [];
      const sorted = [...kps].sort((a, b) => oldestFirst(a.event, b.event));
      const label = `${c.spec.label} handed out ${names(kps)}`;
      if (kps.some((kp, i) => kp !== sorted[i])) return ['kp-handout-order', `${label}, not oldest first (${names(sorted)})`];
      const notOldest = kps.length >= plan.send.length && kps.some((kp, i) => kp.event.id !== plan.send[i]?.event.id);
      if (notOldest) return ['kp-handout-order', `${label}; the oldest stored were ${names(plan.send)}`];
    }
    return undefined;
  },
  ({ model, spec, expected, observed }) => {
    if (observed.kind !== 'refused') return undefined;
    const limited = prefixOf(observed.message) === 'rate-limited';
    if (expected.kind === 'refused' && expected.prefix === 'rate-limited' && !limited) {
      return ['kp-rate-refusal', `${spec.label} was ${answer(observed)}, not rate-limited (${expected.detail})`];
    }
    if (expected.kind !== 'served' || !limited || spec.requester === undefined) return undefined;
    const requester = spec.requester;
    const charged = expected.plans.some((p) => model.refusedIfRefusalsCharged(requester, p.owner, p.send.length));
    return charged ? ['kp-rate-refusal', `${spec.label} was ${answer(observed)}; only charging earlier refused queries explains that`] : undefined;
  },
  // Whatever is left is a relay handing out less than it must.
  ({ spec, expected, observed, model }) => {
    if (expected.kind === 'refused') {
      return observed.kind === 'served' ? [liveness(spec), `${spec.label} was ${answer(observed)} instead of refused (${expected.detail})`] : undefined;
    }
    if (observed.kind === 'refused') return [liveness(spec), `${spec.label} was ${answer(observed)} although it is within the limits`];
    const foreign = observed.events.find((e) => !spec.owners.some((o) => model.kps.get(e.id)?.owner === o));
    if (foreign) return [liveness(spec), `${spec.label} returned ${foreign.id.slice(0, 8)}, a KeyPackage of an owner it did not ask for`];
    const got = byOwner(known({ model, spec, expected, observed }));
    for (const plan of expected.plans) {
      const kps = got.get(plan.owner) ?? [];
      if (kps.length < plan.send.length) {
        return [liveness(spec), `${spec.label} handed out ${names(kps)}; expected ${names(plan.send)} (${model.stored(plan.owner).length} stored, at most ${spec.max})`];
      }
    }
    return undefined;
  },
];

export function checkAsk(model: Model, spec: AskSpec, expected: Expected, observed: Observed): InvariantViolation | undefined {
  for (const check of ASK_CHECKS) {
    const found = check({ model, spec, expected, observed });
    if (found) return new InvariantViolation(found[0], found[1]);
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
    const weaker = (v: InvariantViolation): boolean => LIVENESS.includes(v.anchor);
    if (!best || failed.at > best.at || (failed.at === best.at && weaker(best.violation) && !weaker(failed.violation))) best = { ...failed, order };
  }
  const { violation, order, state } = best!;
  if (runs.length < 2) throw new InvariantViolation(violation.anchor, violation.detail, state);
  const serial = order.map((i) => runs[i]!.spec.label).join(', then ');
  const detail = `${violation.detail} (no serial order of the racing queries explains the answers; closest: ${serial})`;
  throw new InvariantViolation(violation.anchor, detail, state);
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
        `${kp.name}, ${who}'s last KeyPackage, was consumed when it was handed out to ${actorName(h.requester)} at step ${h.step}`,
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
 * EVENTs no answer took, on the connection of `holder` (an actor, or undefined
 * for the unauthenticated one): a KeyPackage handed to the holder arrived after
 * its 447's OK (kp-447-ok-after-delivery); any other not the holder's own was
 * pushed unasked (kp-pub-no-broadcast).
 */
export function checkStrays(model: Model, holder: number | undefined, holderPubkey: string | undefined, strays: readonly { subId: string; event: NostrEvent }[]): InvariantViolation | undefined {
  const who = holder === undefined ? 'the unauthenticated connection' : actorName(holder);
  for (const { subId, event } of strays) {
    if (event.kind !== KIND.keyPackage || event.pubkey === holderPubkey) continue;
    const name = model.kps.get(event.id)?.name ?? event.id.slice(0, 8);
    const handed = model.handouts.find((h) => h.requester === holder && h.ids.includes(event.id));
    if (handed) return new InvariantViolation('kp-447-ok-after-delivery', `${who} received ${name}, handed to it at step ${handed.step}, after the OK of its 447`);
    return new InvariantViolation('kp-pub-no-broadcast', `${who} received ${name} on its live subscription ${subId} without asking for it`);
  }
  return undefined;
}
