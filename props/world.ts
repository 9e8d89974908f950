/**
 * The system under test of one command sequence: the target plus the
 * connections its actors opened. Each actor has its own authenticated
 * connection for the whole sequence (racing queries use different actors'
 * connections), a second one for partly matching subscriptions, and
 * connections shared by several actors test kp-auth-multi.
 */
import type { NostrEvent } from '../protocol/messages.js';
import { KIND } from '../protocol/profile.js';
import { InvariantViolation } from './invariants.js';
import { actorName } from './model.js';
import type { Conn, Target } from './target.js';

/** Set up a connection failed: the relay is unusable, which is no invariant's violation. */
export class SetupError extends Error {}

export class World {
  /** The commands run so far, for the failure report. */
  readonly executed: { toString(): string }[] = [];
  /** What the sequence exercised (commands by kind, answers by outcome), summed into the run's report. */
  readonly stats = new Map<string, number>();
  readonly startedMs = Date.now();
  /** Connections by key (`A1`, `A1~2`, `A1+A2`, `anon`) with the actors authenticated on each. */
  private readonly conns = new Map<string, { actors: readonly number[]; conn: Conn }>();

  constructor(readonly target: Target) {}

  get events(): Target['events'] {
    return this.target.events;
  }

  count(key: string): void {
    this.stats.set(key, (this.stats.get(key) ?? 0) + 1);
  }

  pubkey(actor: number): string {
    return this.target.events.keys(actor).pubkey;
  }

  /** The connection `key`, opened on first use with one AUTH per actor (kp-auth-multi). */
  async connection(key: string, actors: readonly number[]): Promise<Conn> {
    const open = this.conns.get(key);
    if (open) return open.conn;
    const conn = await this.target.connect();
    this.conns.set(key, { actors, conn });
    for (const actor of actors) {
      const reply = await conn.auth(this.target.events.keys(actor));
      if (!reply.ok) throw new SetupError(`AUTH as ${actorName(actor)} on ${key} was refused: ${reply.message}`);
    }
    // Answered with an AUTH that authenticates nobody: a relay's kp-auth-grace wait ends, its queries are judged at once.
    if (actors.length === 0 && (await conn.authNobody()).ok) throw new SetupError(`the relay accepted an AUTH whose signature is broken on ${key}`);
    return conn;
  }

  /** The actor's own authenticated connection. */
  conn(actor: number): Promise<Conn> {
    return this.connection(actorName(actor), [actor]);
  }

  /** A connection on which nobody is authenticated. */
  anonymous(): Promise<Conn> {
    return this.connection('anon', []);
  }

  /** Every open connection and the actors authenticated on it. */
  connections(): { holders: readonly number[]; conn: Conn }[] {
    return [...this.conns.values()].map(({ actors, conn }) => ({ holders: actors, conn }));
  }

  /** The owner's own query (kp-req-owner): consumes nothing and is not charged. */
  async ownQuery(owner: number, limit?: number): Promise<NostrEvent[]> {
    const conn = await this.conn(owner);
    const res = await conn.req([{ kinds: [KIND.keyPackage], authors: [this.pubkey(owner)], ...(limit === undefined ? {} : { limit }) }]);
    if (res.closed !== undefined) throw new InvariantViolation('kp-req-owner', `${actorName(owner)}'s own query was refused: ${res.closed}`);
    await conn.closeSub(res.subId);
    return res.events;
  }

  async close(): Promise<void> {
    await Promise.all([...this.conns.values()].map((c) => c.conn.close()));
  }
}
