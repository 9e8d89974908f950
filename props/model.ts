/**
 * PROFILE.md as a specification: what a conforming relay holds, and, given
 * that state and one query, what its answer must be. Every rule below is
 * stated from the profile's own sentences (anchors in the comments), not
 * from the reference relay's code, so that a misreading shared by relay and
 * model shows up as a disagreement with the quoted text. Actors are indices
 * (A0, A1, …); times are the relay's clock.
 */
import type { Filter, NostrEvent } from '../protocol/messages.js';
import { KIND, type KeyPackageLimits } from '../protocol/profile.js';
import type { Anchor } from './invariants.js';

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

/** One charged query of one requester in the ledger (kp-rate-queries, kp-rate-served). */
export interface Charge {
  requester: number;
  owner: number;
  atMs: number;
  served: number;
}

/** The hand-out log: who got which KeyPackages of whom, and what that consumed. */
export interface HandOut {
  step: number;
  /** Everyone charged for it (kp-auth-multi: several on one connection). */
  requesters: readonly number[];
  owner: number;
  ids: string[];
  consumed: string[];
  lastResort: string | undefined;
}

export type LimitName = 'queries' | 'served';

/** One charged query's size (kp-handout-max): its cap and how many it can receive. */
export interface QuerySize {
  cap: number;
  available: number;
}

/** One owner's part of a served answer. */
export interface Part {
  owner: number;
  /** `handout`: §5 to someone else; `own`: the owner's query (kp-req-owner, kp-447-owner). */
  role: 'handout' | 'own';
  /** The charged queries for this owner (handout only), in the order they were decided. */
  queries: QuerySize[];
  /** Exactly what must arrive, in the order required: oldest first (hand-out, 447 own) or newest first (REQ own). */
  send: ModelKp[];
  /** The owner's stored KeyPackages this part could receive (a hand-out outside it is not due). */
  receivable: ModelKp[];
  consumed: string[];
  lastResort: string | undefined;
}

export type Expected =
  | {
      kind: 'served';
      parts: Part[];
      /** Pubkeys authenticated on the connection: their own stored KeyPackages may show up (kp-req-unscoped, kp-pub-no-broadcast). */
      authed: readonly number[];
      /** 447: the subscriptions each delivered KeyPackage must arrive on (kp-447-delivery "on every open subscription"). */
      deliverOn?: ReadonlyMap<string, readonly string[]>;
    }
  | {
      kind: 'refused';
      prefix: 'auth-required' | 'rate-limited' | 'invalid';
      /** The rule that requires the refusal. */
      rule: Anchor;
      limit?: LimitName;
      detail: string;
    };

/** What the model knows of one connection: who is authenticated on it and its open subscriptions. */
export interface ConnState {
  readonly key: string;
  readonly authed: readonly number[];
  subs: Map<string, Filter[]>;
}

export const actorName = (actor: number): string => `A${actor}`;

/** kp-handout-order: "created_at ascending, then id ascending (lowercase hex)". */
export function oldestFirst(a: ModelKp, b: ModelKp): number {
  const x = a.event;
  const y = b.event;
  return x.created_at - y.created_at || (x.id < y.id ? -1 : x.id > y.id ? 1 : 0);
}

/** NIP-01: "newer events should appear first, and in the case of ties the event with the lowest id ... first". */
export function newestFirst(a: ModelKp, b: ModelKp): number {
  return b.event.created_at - a.event.created_at || (a.event.id < b.event.id ? -1 : a.event.id > b.event.id ? 1 : 0);
}

/**
 * NIP-01 filter matching, all fields but `limit` (kp-447-delivery "fully
 * match (all fields but `limit`)", kp-req-handout). Written here rather than
 * taken from the relay's library, so the two can disagree.
 */
export function fullyMatches(filter: Filter, event: NostrEvent): boolean {
  if (filter.ids && !filter.ids.includes(event.id)) return false;
  if (filter.kinds && !filter.kinds.includes(event.kind)) return false;
  if (filter.authors && !filter.authors.includes(event.pubkey)) return false;
  if (filter.since !== undefined && event.created_at < filter.since) return false;
  if (filter.until !== undefined && event.created_at > filter.until) return false;
  return true;
}

/**
 * §5, the hand-out of one charged query, as post-conditions over the owner's
 * stored KeyPackages (`stored`), those this query can receive
 * (`receivable` ⊆ stored) and its cap.
 */
export function handOutRule(stored: readonly ModelKp[], receivable: readonly ModelKp[], cap: number): { send: ModelKp[]; storedAfter: ModelKp[] } {
  // kp-handout-max: "hands out min(cap, available) KeyPackages ... never more than the cap, and never fewer while more are stored".
  const count = Math.min(cap, receivable.length);
  // kp-handout-order: "oldest first"; with `ids`, "oldest first is among the named KeyPackages" (receivable is the named ones).
  const send = [...receivable].sort(oldestFirst).slice(0, count);
  // kp-handout-consume: "Each KeyPackage handed out is consumed ... except the last resort".
  const rest = stored.filter((kp) => !send.includes(kp));
  // kp-handout-last-resort: "The owner's last remaining stored KeyPackage is handed out but MUST NOT be consumed".
  // Handing out everything stored leaves exactly one: the last handed out, since each earlier one still had a successor.
  const storedAfter = rest.length > 0 || send.length === 0 ? rest : send.slice(-1);
  return { send, storedAfter };
}

/** A query being decided: charges not in the ledger yet, hand-outs not applied yet. */
interface Pending {
  charges: Charge[];
  /** Ids this message already consumed (a later query of the same message must not see them). */
  gone: Set<string>;
}

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
  conns = new Map<string, ConnState>();
  /** Expiries waited for on the real clock (a relay whose clock is not ours): bounded per sequence. */
  realTimeExpiries = 0;

  constructor(
    readonly limits: KeyPackageLimits,
    nowMs: number,
    /** Each actor's pubkey (hex), to read filters. */
    readonly pubkeys: readonly string[],
  ) {
    this.nowMs = nowMs;
  }

  clone(): Model {
    const m = new Model(this.limits, this.nowMs, this.pubkeys);
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
    this.conns = new Map([...from.conns].map(([k, c]) => [k, { ...c, subs: new Map(c.subs) }]));
    this.realTimeExpiries = from.realTimeExpiries;
  }

  nowSeconds(): number {
    return Math.floor(this.nowMs / 1000);
  }

  advance(seconds: number): void {
    this.nowMs += seconds * 1000;
  }

  actorOf(pubkey: string): number | undefined {
    const i = this.pubkeys.indexOf(pubkey);
    return i < 0 ? undefined : i;
  }

  /** kp-pub-expired: "expiration is not in the future" counts as expired. */
  isExpired(kp: ModelKp): boolean {
    return kp.expiresAt !== undefined && kp.expiresAt <= this.nowSeconds();
  }

  /** §0 "Stored KeyPackage": accepted and not consumed, deleted or expired. */
  isLive(kp: ModelKp): boolean {
    return kp.fate === 'stored' && !this.isExpired(kp);
  }

  /** The owner's stored KeyPackages, oldest first. */
  stored(owner: number): ModelKp[] {
    return [...this.kps.values()].filter((kp) => kp.owner === owner && this.isLive(kp)).sort(oldestFirst);
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

  /** The hand-out that took `id`, for messages. */
  handOutOf(id: string): HandOut | undefined {
    return this.handouts.find((h) => h.ids.includes(id));
  }

  /** The connection `key` with `authed` authenticated on it (kp-auth-multi: one AUTH each). */
  conn(key: string, authed: readonly number[] = []): ConnState {
    let c = this.conns.get(key);
    if (!c) {
      c = { key, authed: [...authed], subs: new Map() };
      this.conns.set(key, c);
    }
    return c;
  }

  // ——— rate limits (§6) ———

  private windowStartMs(): number {
    return this.nowMs - this.limits.window_seconds * 1000;
  }

  /** Charged queries by `requester` for `owner` in the window ("the sliding interval of window_seconds ending now"). */
  queriesIn(requester: number, owner: number, ledger: readonly Charge[] = this.charges): number {
    const since = this.windowStartMs();
    return ledger.filter((c) => c.requester === requester && c.owner === owner && c.atMs > since).length;
  }

  servedIn(requester: number, ledger: readonly Charge[] = this.charges): number {
    const since = this.windowStartMs();
    return ledger.filter((c) => c.requester === requester && c.atMs > since).reduce((n, c) => n + c.served, 0);
  }

  /** kp-rate-queries then kp-rate-served, for one requester's query over `ledger`. */
  rateRefusal(requester: number, owner: number, sending: number, ledger: readonly Charge[]): { limit: LimitName; detail: string } | undefined {
    const { queries_per_window: q, served_per_window: s, window_seconds: w } = this.limits;
    // kp-rate-queries: "at most queries_per_window charged queries per window" per (requester, owner).
    const queries = this.queriesIn(requester, owner, ledger);
    if (queries >= q) {
      return { limit: 'queries', detail: `${actorName(requester)} already made ${queries} charged queries for ${actorName(owner)} in the last ${w} s (queries_per_window ${q})` };
    }
    // kp-rate-served: "A query whose hand-out would pass the cap is refused whole."
    const served = this.servedIn(requester, ledger);
    if (served + sending > s) {
      return { limit: 'served', detail: `${actorName(requester)} was already handed ${served} KeyPackages in the last ${w} s and this would add ${sending} (served_per_window ${s})` };
    }
    return undefined;
  }

  /** Whether counting earlier refused queries as charged would refuse this one (a relay breaking kp-rate-refusal). */
  refusedIfRefusalsCharged(requesters: readonly number[], owner: number, sending: number): boolean {
    return requesters.some((r) => this.rateRefusal(r, owner, sending, [...this.charges, ...this.refusals]) !== undefined);
  }

  // ——— queries ———

  /** The owner's stored KeyPackages a query can receive: those that fully match one of `filters`. */
  private receivable(owner: number, filters: readonly Filter[], pending: Pending): ModelKp[] {
    return this.stored(owner).filter((kp) => !pending.gone.has(kp.event.id) && filters.some((f) => fullyMatches(f, kp.event)));
  }

  /**
   * kp-req-scope: the owners a filter "asks for": `kinds` include 443 and it
   * names them in `authors`, or (without `authors`) the pubkeys of the stored
   * KeyPackages its `ids` name. `limit: 0` "hands out nothing".
   */
  ownersAskedFor(filter: Filter): number[] {
    if (filter.limit === 0 || !filter.kinds?.includes(KIND.keyPackage)) return [];
    const pubkeys = filter.authors ?? (filter.ids ?? []).flatMap((id) => {
      const kp = this.kps.get(id);
      return kp && this.isLive(kp) ? [kp.event.pubkey] : [];
    });
    return [...new Set(pubkeys.flatMap((p) => this.actorOf(p) ?? []))];
  }

  /**
   * One charged query for `owner` by `requesters`: the rate limits over the
   * ledger and this message's earlier charges, then the hand-out rule.
   */
  private chargedQuery(requesters: readonly number[], owner: number, filters: readonly Filter[], cap: number, pending: Pending, part: Part): { limit: LimitName; detail: string } | undefined {
    const stored = this.stored(owner).filter((kp) => !pending.gone.has(kp.event.id));
    const receivable = this.receivable(owner, filters, pending);
    const { send, storedAfter } = handOutRule(stored, receivable, cap);
    for (const requester of requesters) {
      const refusal = this.rateRefusal(requester, owner, send.length, [...this.charges, ...pending.charges]);
      if (refusal) return refusal;
    }
    for (const requester of requesters) pending.charges.push({ requester, owner, atMs: this.nowMs, served: send.length });
    const consumed = send.filter((kp) => !storedAfter.includes(kp));
    for (const kp of consumed) pending.gone.add(kp.event.id);
    part.queries.push({ cap, available: receivable.length });
    part.send.push(...send);
    part.receivable.push(...receivable.filter((kp) => !part.receivable.includes(kp)));
    part.consumed.push(...consumed.map((kp) => kp.event.id));
    const kept = send.find((kp) => storedAfter.includes(kp));
    if (kept) part.lastResort = kept.event.id;
    return undefined;
  }

  /** kp-rate-refusal: refused whole, nothing consumed or charged; remembered to explain a relay that charges it. */
  private refuse(requesters: readonly number[], owners: readonly number[], refusal: { limit: LimitName; detail: string }): Expected {
    for (const requester of requesters) for (const owner of owners) this.refusals.push({ requester, owner, atMs: this.nowMs, served: 0 });
    return { kind: 'refused', prefix: 'rate-limited', rule: refusal.limit === 'served' ? 'kp-rate-served' : 'kp-rate-queries', ...refusal };
  }

  /** Consumes and charges what a served answer decided (kp-handout-consume, in one step with the decision). */
  private commit(parts: readonly Part[], requesters: (owner: number) => readonly number[], pending: Pending): void {
    for (const id of pending.gone) {
      const kp = this.kps.get(id)!;
      kp.fate = 'consumed';
      kp.fateStep = this.step;
    }
    for (const p of parts) {
      if (p.role !== 'handout') continue;
      const ids = p.send.map((kp) => kp.event.id);
      this.handouts.push({ step: this.step, requesters: requesters(p.owner), owner: p.owner, ids, consumed: p.consumed, lastResort: p.lastResort });
    }
    this.charges.push(...pending.charges);
  }

  /** A REQ with `filters` on connection `key` (§3). */
  req(key: string, filters: readonly Filter[]): Expected {
    const conn = this.conn(key);
    const authed = conn.authed;
    const parts = new Map<number, Part>();
    const part = (owner: number, role: Part['role']): Part => {
      let p = parts.get(owner);
      if (!p) parts.set(owner, (p = { owner, role, queries: [], send: [], receivable: [], consumed: [], lastResort: undefined }));
      return p;
    };
    // kp-auth-multi: "a REQ hand-out is charged to every authenticated pubkey that is not the owner".
    const chargedTo = (owner: number): number[] => authed.filter((a) => a !== owner);
    const asks: { filter: Filter; owner: number }[] = [];
    for (const filter of filters) {
      if (filter.limit === 0) continue; // kp-req-scope: "with limit: 0 hands out nothing"
      // kp-req-owner, kp-req-unscoped: the authenticated pubkeys' own KeyPackages come by ordinary NIP-01 rules,
      // "newest first, the filter's limit applies" (ties: lowest id first), consuming nothing, not charged.
      // The limit is the filter's, over all of them together (unlike a hand-out's, which is per owner).
      const asked = this.ownersAskedFor(filter);
      for (const a of authed) if (asked.includes(a)) part(a, 'own');
      const own = authed.flatMap((a) => this.stored(a)).filter((kp) => fullyMatches(filter, kp.event)).sort(newestFirst);
      for (const kp of own.slice(0, filter.limit ?? own.length)) {
        const p = part(kp.owner, 'own');
        if (!p.send.includes(kp)) p.send.push(kp);
      }
      for (const owner of asked) if (!authed.includes(owner)) asks.push({ filter, owner });
    }
    // kp-req-auth: asking for an owner's KeyPackages "on a connection where nobody is authenticated" is CLOSED auth-required.
    if (asks.length > 0 && authed.length === 0) {
      return { kind: 'refused', prefix: 'auth-required', rule: 'kp-req-auth', detail: 'nobody is authenticated on the connection' };
    }
    const pending: Pending = { charges: [], gone: new Set() };
    const max = this.limits.max_per_query;
    for (const { filter, owner } of asks) {
      // kp-req-handout: "at most min(limit, max_per_query) per owner"; kp-handout-max: "(limit absent: max_per_query)".
      const cap = Math.min(filter.limit ?? max, max);
      const refusal = this.chargedQuery(chargedTo(owner), owner, [filter], cap, pending, part(owner, 'handout'));
      // kp-req-refuse-whole: "nothing of it is handed out or charged".
      if (refusal) return this.refuse(authed, [...new Set(asks.map((a) => a.owner))], refusal);
    }
    const list = [...parts.values()];
    this.commit(list, chargedTo, pending);
    return { kind: 'served', parts: list, authed };
  }

  /** A kind 447 by `signer` for `owner`, `n` of them (default max_per_query), sent on connection `key` (§4). */
  request(key: string, signer: number, owner: number, n: number | undefined): Expected {
    const conn = this.conn(key);
    const who = actorName(owner);
    // kp-447-order: signature and expiration → AUTH of the signer → form → subscription → rate limits → hand-out.
    if (!conn.authed.includes(signer)) return { kind: 'refused', prefix: 'auth-required', rule: 'kp-447-auth', detail: 'its signer is not authenticated' };
    // kp-447-subscription: "one with a filter whose kinds are absent or include 443 and whose authors are absent or include the owner".
    const pubkey = this.pubkeys[owner]!;
    const filters = [...conn.subs.values()].flat();
    const canReceive = filters.filter((f) => (!f.kinds || f.kinds.includes(KIND.keyPackage)) && (!f.authors || f.authors.includes(pubkey)));
    if (canReceive.length === 0) {
      return { kind: 'refused', prefix: 'invalid', rule: 'kp-447-subscription', detail: `although no subscription on the connection can receive ${who}'s KeyPackages` };
    }
    const cap = n ?? this.limits.max_per_query;
    const pending: Pending = { charges: [], gone: new Set() };
    // kp-447-delivery: "the owner's oldest KeyPackages that fully match (all fields but limit) at least one open subscription".
    const p: Part = { owner, role: 'handout', queries: [], send: [], receivable: [], consumed: [], lastResort: undefined };
    if (conn.authed.includes(owner)) {
      // kp-447-owner: "up to n ... delivered as in §4.4, nothing is consumed and nothing is charged".
      p.role = 'own';
      p.receivable = this.receivable(owner, filters, pending);
      p.send = p.receivable.slice(0, cap);
      p.queries.push({ cap, available: p.receivable.length });
    } else {
      // kp-447-order: "rate limits (§6, charged to the signer only)".
      const refusal = this.chargedQuery([signer], owner, filters, cap, pending, p);
      if (refusal) return this.refuse([signer], [owner], refusal);
      this.commit([p], () => [signer], pending);
    }
    // kp-447-delivery: "on every open subscription of that connection whose filters match it".
    const deliverOn = new Map(p.send.map((kp) => [kp.event.id, [...conn.subs].filter(([, fs]) => fs.some((f) => fullyMatches(f, kp.event))).map(([id]) => id)]));
    return { kind: 'served', parts: [p], authed: conn.authed, deliverOn };
  }
}
