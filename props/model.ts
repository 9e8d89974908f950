/**
 * PROFILE.md §2–§7 as a model: what a conforming relay holds and must answer,
 * given what was published, handed out, deleted, expired and charged so far.
 * Actors are indices (A0, A1, …); times are the relay's clock.
 */
import { oldestFirst } from '../fixtures/events.js';
import type { NostrEvent } from '../protocol/messages.js';
import type { KeyPackageLimits } from '../protocol/profile.js';

export type Fate = 'stored' | 'consumed' | 'deleted';

export interface ModelKp {
  readonly event: NostrEvent;
  readonly owner: number;
  /** `A0#3`: owner and publish sequence, for messages. */
  readonly name: string;
  readonly expiresAt: number | undefined;
  readonly publishedStep: number;
  fate: Fate;
  /** The step that consumed or deleted it. */
  fateStep?: number;
}

/** One charged query in the ledger (kp-rate-queries, kp-rate-served). */
export interface Charge {
  requester: number;
  owner: number;
  atMs: number;
  served: number;
}

/** The hand-out log: who got which KeyPackages of whom, and what that consumed. */
export interface HandOut {
  step: number;
  requester: number;
  owner: number;
  ids: string[];
  consumed: string[];
  lastResort: string | undefined;
}

export type LimitName = 'queries' | 'served';

/** What one owner's part of a charged query hands out (kp-handout-*). */
export interface Plan {
  owner: number;
  /** Oldest first (kp-handout-order). */
  send: ModelKp[];
  consumed: string[];
  lastResort: string | undefined;
}

export type Expected =
  | { kind: 'served'; plans: Plan[] }
  | { kind: 'refused'; prefix: 'auth-required' | 'rate-limited' | 'invalid'; limit?: LimitName; detail: string };

export interface Ask {
  owner: number;
  /** min(limit, max_per_query) for REQ, n for 447. */
  max: number;
}

export const actorName = (actor: number): string => `A${actor}`;

export class Model {
  nowMs: number;
  /** The command being run, 1-based, for messages. */
  step = 0;
  kps = new Map<string, ModelKp>();
  private seqs = new Map<number, number>();
  charges: Charge[] = [];
  /** Queries refused for a rate limit: never charged, kept to explain a relay that charges them. */
  refusals: Charge[] = [];
  handouts: HandOut[] = [];
  /** `requester>owner` pairs with an open limit:0 subscription for the owner's KeyPackages (kp-447-subscription). */
  subs = new Set<string>();

  constructor(
    readonly limits: KeyPackageLimits,
    nowMs: number,
  ) {
    this.nowMs = nowMs;
  }

  clone(): Model {
    const m = new Model(this.limits, this.nowMs);
    m.assign(this);
    return m;
  }

  /** Takes over another model's state (the serial order that explained a race). */
  assign(from: Model): void {
    this.nowMs = from.nowMs;
    this.step = from.step;
    this.kps = new Map([...from.kps].map(([id, kp]) => [id, { ...kp }]));
    this.seqs = new Map(from.seqs);
    this.charges = [...from.charges];
    this.refusals = [...from.refusals];
    this.handouts = [...from.handouts];
    this.subs = new Set(from.subs);
  }

  nowSeconds(): number {
    return Math.floor(this.nowMs / 1000);
  }

  advance(seconds: number): void {
    this.nowMs += seconds * 1000;
  }

  /** Stored and not expired (PROFILE.md §0, kp-pub-expired). */
  isLive(kp: ModelKp): boolean {
    return kp.fate === 'stored' && (kp.expiresAt === undefined || kp.expiresAt > this.nowSeconds());
  }

  isExpired(kp: ModelKp): boolean {
    return kp.expiresAt !== undefined && kp.expiresAt <= this.nowSeconds();
  }

  /** The owner's stored KeyPackages, oldest first. */
  stored(owner: number): ModelKp[] {
    return [...this.kps.values()].filter((kp) => kp.owner === owner && this.isLive(kp)).sort((a, b) => oldestFirst(a.event, b.event));
  }

  published(owner: number): ModelKp[] {
    return [...this.kps.values()].filter((kp) => kp.owner === owner);
  }

  /** Owners that ever published, in index order. */
  owners(): number[] {
    return [...new Set([...this.kps.values()].map((kp) => kp.owner))].sort((a, b) => a - b);
  }

  /** The next publish sequence number of an owner's KeyPackages. */
  takeSeq(owner: number): number {
    const seq = this.seqs.get(owner) ?? 0;
    this.seqs.set(owner, seq + 1);
    return seq;
  }

  publish(event: NostrEvent, owner: number, seq: number, expiresAt?: number): ModelKp {
    const kp: ModelKp = { event, owner, name: `${actorName(owner)}#${seq}`, expiresAt, publishedStep: this.step, fate: 'stored' };
    this.kps.set(event.id, kp);
    return kp;
  }

  /** kp-del-owner: the owner's kind 5 removes its stored KeyPackages, expired or not; anyone else's removes nothing. */
  delete(author: number, ids: readonly string[]): void {
    for (const id of ids) {
      const kp = this.kps.get(id);
      if (kp && kp.owner === author && kp.fate === 'stored') {
        kp.fate = 'deleted';
        kp.fateStep = this.step;
      }
    }
  }

  /** kp-handout-last-resort: the owner's only remaining stored KeyPackage. */
  isLastResort(kp: ModelKp): boolean {
    const stored = this.stored(kp.owner);
    return stored.length === 1 && stored[0] === kp;
  }

  handedOutAsLastResort(id: string): boolean {
    return this.handouts.some((h) => h.lastResort === id);
  }

  /** kp-handout-max/order/consume/last-resort: the oldest `max`, all consumed but a last resort. */
  plan(owner: number, max: number): Plan {
    const stored = this.stored(owner);
    const send = stored.slice(0, Math.max(0, max));
    const consumed: string[] = [];
    let lastResort: string | undefined;
    let remaining = stored.length;
    for (const kp of send) {
      if (remaining > 1) {
        consumed.push(kp.event.id);
        remaining -= 1;
      } else {
        lastResort = kp.event.id;
      }
    }
    return { owner, send, consumed, lastResort };
  }

  private windowStartMs(): number {
    return this.nowMs - this.limits.window_seconds * 1000;
  }

  /** Charged queries by `requester` for `owner` in the sliding window, from `ledger`. */
  queriesIn(requester: number, owner: number, ledger: readonly Charge[] = this.charges): number {
    const since = this.windowStartMs();
    return ledger.filter((c) => c.requester === requester && c.owner === owner && c.atMs > since).length;
  }

  servedIn(requester: number, ledger: readonly Charge[] = this.charges): number {
    const since = this.windowStartMs();
    return ledger.filter((c) => c.requester === requester && c.atMs > since).reduce((n, c) => n + c.served, 0);
  }

  /** kp-rate-queries then kp-rate-served, over the ledger plus this message's earlier charges. */
  rateRefusal(requester: number, owner: number, sending: number, ledger: readonly Charge[]): { limit: LimitName; detail: string } | undefined {
    const { queries_per_window: q, served_per_window: s, window_seconds: w } = this.limits;
    const queries = this.queriesIn(requester, owner, ledger);
    if (queries >= q) {
      return { limit: 'queries', detail: `${actorName(requester)} already made ${queries} charged queries for ${actorName(owner)} in the last ${w} s (queries_per_window ${q})` };
    }
    const served = this.servedIn(requester, ledger);
    if (served + sending > s) {
      return { limit: 'served', detail: `${actorName(requester)} was already handed ${served} KeyPackages in the last ${w} s and this would add ${sending} (served_per_window ${s})` };
    }
    return undefined;
  }

  /**
   * One message's charged queries by `requester` (a REQ's owners, or one 447):
   * refused whole when any is over a limit (kp-req-refuse-whole, kp-rate-refusal),
   * else every plan is consumed and charged.
   */
  handOut(requester: number, asks: readonly Ask[]): Expected {
    const pending: Charge[] = [];
    const plans: Plan[] = [];
    for (const ask of asks) {
      const plan = this.plan(ask.owner, ask.max);
      const refusal = this.rateRefusal(requester, ask.owner, plan.send.length, [...this.charges, ...pending]);
      if (refusal) {
        for (const a of asks) this.refusals.push({ requester, owner: a.owner, atMs: this.nowMs, served: 0 });
        return { kind: 'refused', prefix: 'rate-limited', ...refusal };
      }
      pending.push({ requester, owner: ask.owner, atMs: this.nowMs, served: plan.send.length });
      plans.push(plan);
    }
    for (const plan of plans) {
      for (const id of plan.consumed) {
        const kp = this.kps.get(id)!;
        kp.fate = 'consumed';
        kp.fateStep = this.step;
      }
      const ids = plan.send.map((kp) => kp.event.id);
      this.handouts.push({ step: this.step, requester, owner: plan.owner, ids, consumed: plan.consumed, lastResort: plan.lastResort });
    }
    this.charges.push(...pending);
    return { kind: 'served', plans };
  }

  /** Whether counting earlier refused queries as charged would refuse this one (a relay breaking kp-rate-refusal). */
  refusedIfRefusalsCharged(requester: number, owner: number, sending: number): boolean {
    return this.rateRefusal(requester, owner, sending, [...this.charges, ...this.refusals]) !== undefined;
  }

  /** The hand-out that took `id`, for messages. */
  handOutOf(id: string): HandOut | undefined {
    return this.handouts.find((h) => h.ids.includes(id));
  }
}
