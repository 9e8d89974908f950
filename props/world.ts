/**
 * The system under test of one command sequence: the target plus the
 * connections its actors opened. Each actor has one authenticated connection
 * for the whole sequence; racing queries use different actors' connections.
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
  private readonly conns = new Map<number, Conn>();
  private anon: Conn | undefined;
  /** `requester>owner` → id of the open limit:0 subscription. */
  private readonly live = new Map<string, string>();

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

  /** The actor's authenticated connection, opened on first use. */
  async conn(actor: number): Promise<Conn> {
    const open = this.conns.get(actor);
    if (open) return open;
    const conn = await this.target.connect();
    this.conns.set(actor, conn);
    const reply = await conn.auth(this.target.events.keys(actor));
    if (!reply.ok) throw new SetupError(`AUTH as ${actorName(actor)} was refused: ${reply.message}`);
    return conn;
  }

  /** A connection on which nobody is authenticated. */
  async anonymous(): Promise<Conn> {
    this.anon ??= await this.target.connect();
    return this.anon;
  }

  liveSub(requester: number, owner: number): string | undefined {
    return this.live.get(`${requester}>${owner}`);
  }

  setLiveSub(requester: number, owner: number, subId: string): void {
    this.live.set(`${requester}>${owner}`, subId);
  }

  /** Every open connection: the actor holding it (undefined: nobody authenticated) and its pubkey. */
  connections(): { holder: number | undefined; pubkey: string | undefined; conn: Conn }[] {
    const out = [...this.conns].map(([actor, conn]) => ({ holder: actor as number | undefined, pubkey: this.pubkey(actor), conn }));
    return this.anon ? [...out, { holder: undefined, pubkey: undefined, conn: this.anon }] : out;
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
    const all = [...this.conns.values(), ...(this.anon ? [this.anon] : [])];
    await Promise.all(all.map((c) => c.close()));
  }
}
