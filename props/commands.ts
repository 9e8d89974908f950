/**
 * The fast-check commands: what owners and requesters do to a relay. Each
 * runs against the target, checks the answer against the model (settle) and
 * then audits the touched owners' stored KeyPackages (audit).
 */
import fc from 'fast-check';
import type { Filter } from '../protocol/messages.js';
import { KIND, prefixOf } from '../protocol/profile.js';
import { checkAsks, closeSub, openSub, prepare447, prepareReq, type PreparedAsk } from './asks.js';
import { audit } from './audit.js';
import { checkOwnerQuery, InvariantViolation } from './invariants.js';
import { actorName, type Model, type ModelKp } from './model.js';
import type { World } from './world.js';

export type Cmd = fc.AsyncCommand<Model, World>;

/** Actors A0…A3; only A0 and A1 publish, so queries often meet KeyPackages. */
export const ACTORS = 4;
export const OWNERS = 2;

/** Counts the step and records the command for the failure report. */
function begin(cmd: Cmd, m: Model, w: World): void {
  m.step += 1;
  w.executed.push(cmd);
  w.count(`command ${cmd.toString().replace(/\(.*/, '')}`);
}

/** The actor `offset` places after `base` (never `base` itself when offset is 1..ACTORS-1). */
const other = (base: number, offset: number): number => (base + offset) % ACTORS;

export class PublishCmd implements Cmd {
  constructor(
    readonly owner: number,
    readonly count: number,
  ) {}
  check(): boolean {
    return true;
  }
  async run(m: Model, w: World): Promise<void> {
    begin(this, m, w);
    const conn = await w.conn(this.owner);
    for (let i = 0; i < this.count; i++) {
      const seq = m.takeSeq(this.owner);
      const event = await w.events.keyPackage(this.owner, seq);
      const reply = await conn.publish(event);
      const kp = m.publish(event, this.owner, seq);
      if (!reply.ok) throw new InvariantViolation('kp-pub-accept', `${kp.name} was refused: ${reply.message}`);
    }
    await audit(m, w, [this.owner]);
  }
  toString(): string {
    return `publish(${actorName(this.owner)} ×${this.count})`;
  }
}

/** Margin for the relay's clock against ours when waiting for an expiry in real time. */
export const REAL_TIME_SKEW_MS = 1000;

/**
 * A KeyPackage with a NIP-40 expiration `ttl` seconds ahead; `pass` moves the
 * clock past it. On a relay whose clock is not ours (`realTime`), `pass`
 * waits until the expiration has passed on the real clock (ttl of a few
 * seconds, once per sequence), and without `pass` the expiration lies beyond
 * the sequence, so no KeyPackage is ever between alive and expired while queried.
 */
export class ExpireCmd implements Cmd {
  constructor(
    readonly owner: number,
    readonly ttl: number,
    readonly pass: boolean,
    readonly realTime = false,
  ) {}
  check(m: Readonly<Model>): boolean {
    return !(this.realTime && this.pass && m.realTimeExpiries > 0);
  }
  async run(m: Model, w: World): Promise<void> {
    begin(this, m, w);
    const conn = await w.conn(this.owner);
    const seq = m.takeSeq(this.owner);
    if (this.realTime) m.nowMs = Math.max(m.nowMs, Date.now());
    const ttl = this.realTime && !this.pass ? 86_400 : this.ttl;
    const expiresAt = (this.realTime ? Math.floor(Date.now() / 1000) : m.nowSeconds()) + ttl;
    const event = await w.events.expiringKeyPackage(this.owner, seq, expiresAt);
    const reply = await conn.publish(event);
    const kp = m.publish(event, this.owner, seq, expiresAt);
    if (!reply.ok) throw new InvariantViolation('kp-pub-accept', `${kp.name}, expiring in ${ttl} s, was refused: ${reply.message}`);
    if (this.pass && this.realTime) {
      m.realTimeExpiries += 1;
      w.count('expire waited on the real clock');
      // Waits for a deadline, not for an answer: the verdict comes from the audit after it.
      const until = expiresAt * 1000 + REAL_TIME_SKEW_MS;
      while (Date.now() < until) await new Promise((resolve) => setTimeout(resolve, until - Date.now()));
      m.nowMs = Math.max(m.nowMs, Date.now());
    } else if (this.pass) {
      w.target.clock!.advanceSeconds(this.ttl);
      m.advance(this.ttl);
    }
    await audit(m, w, [this.owner]);
  }
  toString(): string {
    if (this.realTime) return `expire(${actorName(this.owner)}, ${this.pass ? `ttl ${this.ttl} s, waited past it` : 'ttl 1 day'})`;
    return `expire(${actorName(this.owner)}, ttl ${this.ttl} s${this.pass ? `, clock +${this.ttl} s` : ''})`;
  }
}

export class AdvanceCmd implements Cmd {
  constructor(readonly seconds: number) {}
  check(): boolean {
    return true;
  }
  async run(m: Model, w: World): Promise<void> {
    begin(this, m, w);
    w.target.clock!.advanceSeconds(this.seconds);
    m.advance(this.seconds);
    await audit(m, w, m.owners());
  }
  toString(): string {
    return `clock(+${this.seconds} s)`;
  }
}

/** One filter of a generated REQ; pubkeys and ids are filled in when it runs. */
export type FilterSpec =
  /** kinds [443], authors: the owners (limit 0: a live subscription, hands out nothing). */
  | { shape: 'authors'; owners: readonly number[]; limit: number | undefined }
  /** kinds [443], ids of some of the owner's KeyPackages, consumed and deleted ones included (kp-req-scope, kp-handout-order "among the named"). */
  | { shape: 'ids'; owner: number; picks: readonly number[]; limit: number | undefined }
  /** No kinds, authors [owner]: "an ordinary everything by Bob fetch" (kp-req-unscoped). */
  | { shape: 'no-kinds'; owner: number };

/** Owners a filter spec names (for audits and the disjointness of charged filters). */
export const specOwners = (f: FilterSpec): readonly number[] => (f.shape === 'authors' ? f.owners : [f.owner]);

/** An id no relay stores: an `ids` filter naming nothing. */
const UNKNOWN_ID = 'f'.repeat(64);

function buildFilter(m: Model, w: World, f: FilterSpec): Filter {
  const limit = (l: number | undefined): Filter => (l === undefined ? {} : { limit: l });
  if (f.shape === 'authors') return { kinds: [KIND.keyPackage], authors: f.owners.map((o) => w.pubkey(o)), ...limit(f.limit) };
  if (f.shape === 'no-kinds') return { authors: [w.pubkey(f.owner)] };
  const published = m.published(f.owner);
  const ids = published.length === 0 ? [UNKNOWN_ID] : [...new Set(f.picks.map((p) => published[p % published.length]!.event.id))];
  return { kinds: [KIND.keyPackage], ids, ...limit(f.limit) };
}

function describeFilter(kps: ReadonlyMap<string, ModelKp>, f: FilterSpec, filter: Filter | undefined): string {
  const lim = (l: number | undefined): string => (l === undefined ? '' : ` limit ${l}`);
  if (f.shape === 'authors') return `${f.owners.map(actorName).join('+')}${lim(f.limit)}`;
  if (f.shape === 'no-kinds') return `anything by ${actorName(f.owner)}`;
  const named = filter?.ids?.map((id) => kps.get(id)?.name ?? 'unknown') ?? f.picks.map((p) => `${actorName(f.owner)}'s #${p}`);
  return `ids ${named.join(',')}${lim(f.limit)}`;
}

/** The connection key of a set of authenticated actors. */
export const connKey = (actors: readonly number[]): string => (actors.length === 0 ? 'anon' : actors.map(actorName).join('+'));

/**
 * A REQ with one to three filters (kp-req-*), on the connection where `by`
 * are authenticated: one actor, or two (kp-auth-multi), or nobody (req-anon).
 * Charged filters name distinct owners, so the profile fixes the answer
 * whatever order a relay takes the filters in.
 */
export class QueryCmd implements Cmd {
  private shown: string | undefined;
  constructor(
    readonly by: readonly number[],
    readonly filters: readonly FilterSpec[],
  ) {}
  check(): boolean {
    return true;
  }
  async run(m: Model, w: World): Promise<void> {
    begin(this, m, w);
    const filters = this.filters.map((f) => buildFilter(m, w, f));
    const who = this.by.length === 0 ? 'an unauthenticated REQ' : `${connKey(this.by)}'s REQ`;
    this.shown = `${who} for ${this.filters.map((f, i) => describeFilter(m.kps, f, filters[i])).join(' | ')}`;
    const owners = [...new Set([...this.filters.flatMap(specOwners), ...this.by.filter((a) => a < OWNERS)])];
    for (const f of this.filters) w.count(`req filter ${f.shape}`);
    if (this.filters.length > 1) w.count('req with several filters');
    if (this.by.length > 1) w.count('req on a connection with several AUTHs');
    const ask = await prepareReq(m, w, connKey(this.by), this.by, filters, this.shown, owners);
    await checkAsks(m, w, [ask], [await ask.perform()]);
  }
  toString(): string {
    if (this.shown) return `req(${this.shown.replace(/'s REQ for | REQ for /, ' → ')})`;
    // Not run yet: no ids to name.
    const fs = this.filters.map((f) => describeFilter(new Map(), f, undefined));
    return `req(${this.by.length === 0 ? 'unauthenticated' : connKey(this.by)} → ${fs.join(' | ')})`;
  }
}

/** A REQ for KeyPackages where nobody is authenticated (kp-req-auth). */
export class AnonQueryCmd extends QueryCmd {
  constructor(owner: number, limit: number | undefined) {
    super([], [{ shape: 'authors', owners: [owner], limit }]);
  }
}

/** Whether the connection has the full live subscription for the owner's KeyPackages. */
function liveSubOf(m: Model, key: string, pubkey: string): boolean {
  const full = (f: Filter): boolean => f.kinds?.length === 1 && f.kinds[0] === KIND.keyPackage && f.authors?.length === 1 && f.authors[0] === pubkey && f.since === undefined && f.ids === undefined;
  return [...(m.conns.get(key)?.subs.values() ?? [])].some((fs) => fs.some(full));
}

/** Opens the live subscription a 447 needs (kp-447-subscription), unless the connection has it. */
export async function openLive(m: Model, w: World, key: string, actors: readonly number[], owner: number): Promise<void> {
  const pubkey = w.pubkey(owner);
  if (liveSubOf(m, key, pubkey)) return;
  await openSub(m, w, key, actors, { kinds: [KIND.keyPackage], authors: [pubkey], limit: 0 }, `${connKey(actors)}'s live subscription for ${actorName(owner)}`);
}

/**
 * A kind 447, after opening the live subscription it needs unless `subscribe`
 * is false. `also`: a second actor authenticated on the same connection
 * (kp-auth-multi; the owner makes it an owner's query, kp-447-owner).
 */
export class RequestCmd implements Cmd {
  readonly requester: number;
  readonly actors: readonly number[];
  constructor(
    readonly owner: number,
    offset: number,
    readonly n: number | undefined,
    readonly subscribe: boolean,
    readonly authed: boolean,
    also?: number,
  ) {
    this.requester = other(owner, offset);
    this.actors = !authed ? [] : also === undefined || also === this.requester ? [this.requester] : [this.requester, also];
  }
  check(): boolean {
    return true;
  }
  async run(m: Model, w: World): Promise<void> {
    begin(this, m, w);
    const key = connKey(this.actors);
    if (this.authed && this.subscribe) await openLive(m, w, key, this.actors, this.owner);
    if (this.actors.length > 1) w.count('447 on a connection with several AUTHs');
    const ask = await prepare447(m, w, key, this.actors, this.requester, this.owner, this.n, this.label());
    await checkAsks(m, w, [ask], [await ask.perform()]);
  }
  private label(): string {
    const on = this.actors.length > 1 ? ` on ${connKey(this.actors)}` : '';
    return `${this.authed ? '' : 'an unauthenticated '}${actorName(this.requester)}'s 447 for ${actorName(this.owner)}${this.n === undefined ? '' : ` (n ${this.n})`}${on}`;
  }
  toString(): string {
    // "no REQ first": the 447 relies on a subscription an earlier command may or may not have opened.
    const flags = [this.n === undefined ? '' : `n ${this.n}`, this.authed ? '' : 'unauthenticated', this.subscribe || !this.authed ? '' : 'no REQ first', this.actors.length > 1 ? `on ${connKey(this.actors)}` : ''];
    const tail = flags.filter(Boolean).join(', ');
    return `447(${actorName(this.requester)} → ${actorName(this.owner)}${tail ? `, ${tail}` : ''})`;
  }
}

/**
 * A kind 447 on the requester's second connection, whose only subscription
 * matches the owner's KeyPackages partly: from the created_at of one of them
 * on (`since`), or some of them by id (`ids`). Only those are due
 * (kp-447-delivery "that fully match"); the subscription is closed afterwards.
 */
export class PartialRequestCmd implements Cmd {
  readonly requester: number;
  private shown: string | undefined;
  constructor(
    readonly owner: number,
    offset: number,
    readonly n: number | undefined,
    readonly shape: 'since' | 'ids',
    readonly picks: readonly number[],
    /** Also the full live subscription on that connection: what matches both must come on both (kp-447-delivery "every"). */
    readonly alsoFull = false,
  ) {
    this.requester = other(owner, offset);
  }
  check(m: Readonly<Model>): boolean {
    return m.published(this.owner).length > 0;
  }
  async run(m: Model, w: World): Promise<void> {
    begin(this, m, w);
    const key = `${actorName(this.requester)}~2`;
    const actors = [this.requester];
    const published = m.published(this.owner);
    const picked = [...new Set(this.picks.map((p) => published[p % published.length]!))];
    const filter: Filter =
      this.shape === 'since'
        ? { kinds: [KIND.keyPackage], authors: [w.pubkey(this.owner)], since: picked[0]!.event.created_at, limit: 0 }
        : { kinds: [KIND.keyPackage], ids: picked.map((kp) => kp.event.id), limit: 0 };
    const what = this.shape === 'since' ? `since ${picked[0]!.name}'s created_at` : `ids ${picked.map((kp) => kp.name).join(',')}`;
    this.shown = `${actorName(this.requester)}'s 447 for ${actorName(this.owner)}${this.n === undefined ? '' : ` (n ${this.n})`}, subscribed to ${what}`;
    if (this.alsoFull) this.shown += ' and to all of them';
    const full: Filter = { kinds: [KIND.keyPackage], authors: [w.pubkey(this.owner)], limit: 0 };
    const fullId = this.alsoFull ? await openSub(m, w, key, actors, full, `${actorName(this.requester)}'s live subscription for ${actorName(this.owner)}`) : undefined;
    const subId = await openSub(m, w, key, actors, filter, `${actorName(this.requester)}'s subscription to ${what}`);
    const ask = await prepare447(m, w, key, actors, this.requester, this.owner, this.n, this.shown);
    await checkAsks(m, w, [ask], [await ask.perform()]);
    for (const id of [subId, fullId]) if (id !== undefined) await closeSub(m, w, key, id);
  }
  toString(): string {
    const full = this.alsoFull ? ', and full' : '';
    return this.shown ? `447-partial(${this.shown})` : `447-partial(${actorName(this.requester)} → ${actorName(this.owner)}, ${this.shape} #${this.picks.join(',#')}${full})`;
  }
}

/** The owner's own query with an optional limit (kp-req-owner): newest first, nothing consumed or charged. */
export class InventoryCmd implements Cmd {
  constructor(
    readonly owner: number,
    readonly limit: number | undefined,
  ) {}
  check(m: Readonly<Model>): boolean {
    return m.published(this.owner).length > 0;
  }
  async run(m: Model, w: World): Promise<void> {
    begin(this, m, w);
    const events = await w.ownQuery(this.owner, this.limit);
    await audit(m, w, [this.owner]);
    const violation = checkOwnerQuery(m, this.owner, this.limit, events);
    if (violation) throw violation;
  }
  toString(): string {
    return `inventory(${actorName(this.owner)}${this.limit === undefined ? '' : `, limit ${this.limit}`})`;
  }
}

/** A kind 5 naming some of the owner's KeyPackages, by the owner (offset 0) or by someone else (kp-del-owner). */
export class DeleteCmd implements Cmd {
  private named: ModelKp[] = [];
  constructor(
    readonly owner: number,
    readonly picks: readonly number[],
    readonly byOffset: number,
  ) {}
  check(m: Readonly<Model>): boolean {
    return m.published(this.owner).length > 0;
  }
  async run(m: Model, w: World): Promise<void> {
    begin(this, m, w);
    const published = m.published(this.owner);
    this.named = [...new Set(this.picks.map((p) => published[p % published.length]!))];
    const author = other(this.owner, this.byOffset);
    const reply = await (await w.conn(author)).publish(w.events.deletion(author, this.named.map((kp) => kp.event.id)));
    // Only the owner's deletion must be accepted; a stranger's may be refused, but must remove nothing.
    if (!reply.ok && author === this.owner) throw new InvariantViolation('kp-del-owner', `${actorName(author)}'s kind 5 naming ${this.names()} was refused: ${reply.message}`);
    m.delete(author, this.named.map((kp) => kp.event.id));
    try {
      await audit(m, w, [this.owner]);
    } catch (err) {
      // A KeyPackage gone right after a stranger's kind 5 named it: that deletion removed it.
      const gone = err instanceof InvariantViolation && err.anchor === 'kp-handout-consume' && author !== this.owner && this.named.some((kp) => err.detail.startsWith(`${kp.name} is gone`));
      if (gone) throw new InvariantViolation('kp-del-owner', `${actorName(author)}'s kind 5 removed ${this.names()} of ${actorName(this.owner)}: ${err.detail}`);
      throw err;
    }
  }
  private names(): string {
    return this.named.map((kp) => kp.name).join(', ');
  }
  toString(): string {
    const by = this.byOffset % ACTORS === 0 ? '' : `by ${actorName(other(this.owner, this.byOffset))}, `;
    return `delete(${by}${this.named.length > 0 ? this.names() : `${actorName(this.owner)}'s #${this.picks.join(',#')}`})`;
  }
}

/** Sends a consumed or deleted KeyPackage again, as anyone holding a copy could (kp-pub-no-replay). */
export class RepublishCmd implements Cmd {
  private chosen: ModelKp | undefined;
  constructor(
    readonly pick: number,
    readonly byOffset: number,
  ) {}
  private static candidates(m: Readonly<Model>): ModelKp[] {
    return [...m.kps.values()].filter((kp) => kp.fate !== 'stored' && !m.isExpired(kp));
  }
  check(m: Readonly<Model>): boolean {
    return RepublishCmd.candidates(m).length > 0;
  }
  async run(m: Model, w: World): Promise<void> {
    begin(this, m, w);
    const candidates = RepublishCmd.candidates(m);
    const kp = candidates[this.pick % candidates.length]!;
    this.chosen = kp;
    const by = other(kp.owner, this.byOffset);
    const reply = await (await w.conn(by)).publish(kp.event);
    const state = kp.fate === 'consumed' ? `consumed at step ${kp.fateStep}` : `deleted at step ${kp.fateStep}`;
    if (reply.ok) throw new InvariantViolation('kp-pub-no-replay', `${kp.name}, ${state}, was accepted again from ${actorName(by)} (${JSON.stringify(reply.message)})`);
    if (prefixOf(reply.message) !== 'duplicate') {
      throw new InvariantViolation('kp-pub-no-replay', `${kp.name}, ${state}, was refused with "${reply.message}", not duplicate`);
    }
    await audit(m, w, [kp.owner]);
  }
  toString(): string {
    return this.chosen ? `republish(${this.chosen.name}, ${this.chosen.fate})` : `republish(#${this.pick})`;
  }
}

export interface Racer {
  /** Offset from the owner (distinct per racer). */
  offset: number;
  path: 'req' | '447';
  /** REQ limit or 447 n. */
  amount: number | undefined;
}

/** Several requesters ask for one owner's KeyPackages at once, on their own connections (kp-handout-exactly-once). */
export class RaceCmd implements Cmd {
  private dispatched: number[] = [];
  constructor(
    readonly owner: number,
    readonly racers: readonly Racer[],
    readonly scheduler: fc.Scheduler,
  ) {}
  check(): boolean {
    return true;
  }
  private requester(r: Racer): number {
    return other(this.owner, r.offset);
  }
  async run(m: Model, w: World): Promise<void> {
    begin(this, m, w);
    const asks: PreparedAsk[] = [];
    for (const r of this.racers) {
      const requester = this.requester(r);
      const key = actorName(requester);
      const label = `${actorName(requester)}'s ${r.path === 'req' ? 'REQ' : '447'} for ${actorName(this.owner)}${r.amount === undefined ? '' : ` (${r.path === 'req' ? 'limit' : 'n'} ${r.amount})`}`;
      if (r.path === 'req') {
        const filter: Filter = { kinds: [KIND.keyPackage], authors: [w.pubkey(this.owner)], ...(r.amount === undefined ? {} : { limit: r.amount }) };
        asks.push(await prepareReq(m, w, key, [requester], [filter], label, [this.owner]));
      } else {
        await openLive(m, w, key, [requester], this.owner);
        asks.push(await prepare447(m, w, key, [requester], requester, this.owner, r.amount, label));
      }
    }
    // The scheduler picks the order the queries leave in; the relay then races them.
    const scheduler = pristineCopy(this.scheduler);
    const answers = asks.map((ask, i) =>
      scheduler.schedule(Promise.resolve(i), actorName(this.requester(this.racers[i]!))).then(() => {
        this.dispatched.push(i);
        return ask.perform();
      }),
    );
    await scheduler.waitAll();
    await checkAsks(m, w, asks, await Promise.all(answers));
  }
  toString(): string {
    const racer = (r: Racer): string =>
      `${actorName(this.requester(r))} ${r.path}${r.amount === undefined ? '' : ` ${r.path === 'req' ? 'limit' : 'n'} ${r.amount}`}`;
    const order = this.dispatched.length > 0 ? ` sent ${this.dispatched.map((i) => actorName(this.requester(this.racers[i]!))).join(', ')}` : '';
    return `race(${actorName(this.owner)} ← ${this.racers.map(racer).join(' ∥ ')}${order})`;
  }
  [fc.cloneMethod](): RaceCmd {
    return new RaceCmd(this.owner, this.racers, this.scheduler);
  }
}

/**
 * A copy that orders exactly as the generated scheduler first would. fast-check
 * clones a scheduler onto its parent's saved random state, and a clone's clone
 * onto that clone's; only the third copy runs on a state nobody else keeps, so
 * every run, shrink and replay of the command dispatches in the same order.
 */
function pristineCopy(s: fc.Scheduler): fc.Scheduler {
  let copy = s;
  for (let i = 0; i < 3; i++) copy = fc.hasCloneMethod(copy) ? copy[fc.cloneMethod]() : copy;
  return copy;
}
