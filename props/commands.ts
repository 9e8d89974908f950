/**
 * The fast-check commands: what owners and requesters do to a relay. Each
 * runs against the target, checks the answer against the model (settle) and
 * then audits the touched owners' stored KeyPackages (audit).
 */
import fc from 'fast-check';
import { prefixOf } from '../protocol/profile.js';
import { checkAsks, openLive, prepare447, prepareReq, type PreparedAsk } from './asks.js';
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
      const event = w.events.keyPackage(this.owner, seq);
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

/** A KeyPackage with a NIP-40 expiration `ttl` seconds ahead; `pass` moves the clock past it. */
export class ExpireCmd implements Cmd {
  constructor(
    readonly owner: number,
    readonly ttl: number,
    readonly pass: boolean,
  ) {}
  check(): boolean {
    return true;
  }
  async run(m: Model, w: World): Promise<void> {
    begin(this, m, w);
    const conn = await w.conn(this.owner);
    const seq = m.takeSeq(this.owner);
    const expiresAt = m.nowSeconds() + this.ttl;
    const event = w.events.expiringKeyPackage(this.owner, seq, expiresAt);
    const reply = await conn.publish(event);
    const kp = m.publish(event, this.owner, seq, expiresAt);
    if (!reply.ok) throw new InvariantViolation('kp-pub-accept', `${kp.name}, expiring in ${this.ttl} s, was refused: ${reply.message}`);
    if (this.pass) {
      w.target.clock!.advanceSeconds(this.ttl);
      m.advance(this.ttl);
    }
    await audit(m, w, [this.owner]);
  }
  toString(): string {
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

/** A REQ for one or two owners' KeyPackages (kp-req-handout); limit 0 hands out nothing. */
export class QueryCmd implements Cmd {
  readonly requester: number;
  constructor(
    readonly owners: readonly number[],
    pick: number,
    readonly limit: number | undefined,
  ) {
    const candidates = [...Array(ACTORS).keys()].filter((a) => !owners.includes(a));
    this.requester = candidates[pick % candidates.length]!;
  }
  check(): boolean {
    return true;
  }
  async run(m: Model, w: World): Promise<void> {
    begin(this, m, w);
    const ask = await prepareReq(m, w, this.requester, this.owners, this.limit);
    await checkAsks(m, w, [ask], [await ask.perform()]);
  }
  toString(): string {
    return `req(${actorName(this.requester)} → ${this.owners.map(actorName).join('+')}${this.limit === undefined ? '' : `, limit ${this.limit}`})`;
  }
}

/** A REQ for KeyPackages where nobody is authenticated (kp-req-auth). */
export class AnonQueryCmd implements Cmd {
  constructor(
    readonly owner: number,
    readonly limit: number | undefined,
  ) {}
  check(): boolean {
    return true;
  }
  async run(m: Model, w: World): Promise<void> {
    begin(this, m, w);
    const ask = await prepareReq(m, w, undefined, [this.owner], this.limit);
    await checkAsks(m, w, [ask], [await ask.perform()]);
  }
  toString(): string {
    return `req(unauthenticated → ${actorName(this.owner)}${this.limit === undefined ? '' : `, limit ${this.limit}`})`;
  }
}

/** A kind 447, after opening the live subscription it needs unless `subscribe` is false. */
export class RequestCmd implements Cmd {
  readonly requester: number;
  constructor(
    readonly owner: number,
    offset: number,
    readonly n: number | undefined,
    readonly subscribe: boolean,
    readonly authed: boolean,
  ) {
    this.requester = other(owner, offset);
  }
  check(): boolean {
    return true;
  }
  async run(m: Model, w: World): Promise<void> {
    begin(this, m, w);
    if (this.authed && this.subscribe && !m.subs.has(`${this.requester}>${this.owner}`)) await openLive(m, w, this.requester, this.owner);
    const ask = await prepare447(m, w, this.requester, this.owner, this.n, this.authed);
    await checkAsks(m, w, [ask], [await ask.perform()]);
  }
  toString(): string {
    // "no REQ first": the 447 relies on a subscription an earlier command may or may not have opened.
    const flags = [this.n === undefined ? '' : `n ${this.n}`, this.authed ? '' : 'unauthenticated', this.subscribe || !this.authed ? '' : 'no REQ first'];
    const tail = flags.filter(Boolean).join(', ');
    return `447(${actorName(this.requester)} → ${actorName(this.owner)}${tail ? `, ${tail}` : ''})`;
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
    await audit(m, w, [this.owner]);
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
      if (r.path === 'req') {
        asks.push(await prepareReq(m, w, requester, [this.owner], r.amount));
      } else {
        if (!m.subs.has(`${requester}>${this.owner}`)) await openLive(m, w, requester, this.owner);
        asks.push(await prepare447(m, w, requester, this.owner, r.amount, true));
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
