/**
 * The in-process target: a fresh RelayCore on SqliteStore(':memory:') and a
 * ManualClock for every command sequence, driven frame by frame without a
 * socket. The clock starts at the same instant every time, and the events
 * come from one pool whose keys, created_at and hand-out order are the same
 * in every process (events.ts), so a seed and path replay exactly.
 */
import type { Delivery, OkReply, ReqResult } from '../client/relay-client.js';
import { newKeys, sign, type Keys } from '../protocol/crypto.js';
import type { Filter, NostrEvent, RelayMessage } from '../protocol/messages.js';
import { KIND, TAG, type KeyPackageLimits } from '../protocol/profile.js';
import { ManualClock } from '../reference-relay/clock.js';
import { resolveConfig } from '../reference-relay/config.js';
import { RelayCore } from '../reference-relay/core/relay-core.js';
import type { Session } from '../reference-relay/core/session.js';
import type { FaultName } from '../reference-relay/faults.js';
import { SqliteStore } from '../reference-relay/store/sqlite-store.js';
import { PooledEvents, withBrokenSig } from './events.js';
import type { Conn, Target, TargetFactory } from './target.js';

const RELAY_HOST = '127.0.0.1:7777';
const RELAY_URL = `ws://${RELAY_HOST}`;
/** Where every in-process sequence's relay clock starts (2027-01-15). */
export const IN_PROCESS_EPOCH_MS = 1_800_000_000_000;

class CoreConn implements Conn {
  private readonly inbox: RelayMessage[] = [];
  private readonly session: Session;
  private subs = 0;

  constructor(
    private readonly core: RelayCore,
    private readonly clock: ManualClock,
  ) {
    this.session = core.open(RELAY_HOST, (text) => this.inbox.push(JSON.parse(text) as RelayMessage));
  }

  /** Resolves once the relay handled the frame: every answer is in the inbox by then. */
  private async send(message: unknown[]): Promise<void> {
    await this.core.receive(this.session, JSON.stringify(message));
  }

  private take(match: (m: RelayMessage) => boolean): RelayMessage[] {
    const taken = this.inbox.filter(match);
    const rest = this.inbox.filter((m) => !match(m));
    this.inbox.splice(0, this.inbox.length, ...rest);
    return taken;
  }

  private okFor(id: string): OkReply {
    const [ok] = this.take((m) => m[0] === 'OK' && m[1] === id);
    if (!ok) throw new Error(`the relay handled event ${id.slice(0, 8)} without an OK`);
    return { ok: ok[2] === true, message: typeof ok[3] === 'string' ? ok[3] : '' };
  }

  private authEvent(keys: Keys): NostrEvent {
    return sign(
      {
        kind: KIND.auth,
        created_at: Math.floor(this.clock.nowMs() / 1000),
        tags: [
          [TAG.relay, RELAY_URL],
          [TAG.challenge, this.session.challenge],
        ],
        content: '',
      },
      keys,
    );
  }

  async auth(keys: Keys): Promise<OkReply> {
    return this.sendAuth(this.authEvent(keys));
  }

  authNobody(): Promise<OkReply> {
    return this.sendAuth(withBrokenSig(this.authEvent(newKeys())));
  }

  private async sendAuth(event: NostrEvent): Promise<OkReply> {
    await this.send(['AUTH', event]);
    return this.okFor(event.id);
  }

  async publish(event: NostrEvent): Promise<OkReply> {
    await this.send(['EVENT', event]);
    return this.okFor(event.id);
  }

  async req(filters: Filter[]): Promise<ReqResult & { subId: string }> {
    this.subs += 1;
    const subId = `p${this.subs}`;
    await this.send(['REQ', subId, ...filters]);
    const frames = this.take((m) => (m[0] === 'EVENT' || m[0] === 'EOSE' || m[0] === 'CLOSED') && m[1] === subId);
    const events = frames.flatMap((m) => (m[0] === 'EVENT' ? [m[2]] : []));
    const closed = frames.find((m) => m[0] === 'CLOSED');
    if (closed) return { subId, events, eose: false, closed: closed[2] as string };
    if (!frames.some((m) => m[0] === 'EOSE')) throw new Error(`the relay handled REQ ${subId} without EOSE or CLOSED`);
    return { subId, events, eose: true };
  }

  async closeSub(subId: string): Promise<void> {
    await this.send(['CLOSE', subId]);
  }

  async sendRequest(event: NostrEvent): Promise<OkReply & { deliveries: Delivery[]; late: Delivery[] }> {
    const mark = this.inbox.length;
    await this.send(['EVENT', event]);
    const handled = this.inbox.slice(mark);
    const okAt = handled.findIndex((m) => m[0] === 'OK' && m[1] === event.id);
    if (okAt < 0) throw new Error(`the relay handled kind 447 ${event.id.slice(0, 8)} without an OK`);
    const events = (from: number, to: number): Delivery[] =>
      handled.slice(from, to).flatMap((m) => (m[0] === 'EVENT' ? [{ subId: m[1], event: m[2] }] : []));
    const deliveries = events(0, okAt);
    const late = events(okAt + 1, handled.length);
    const ok = handled[okAt] as ['OK', string, boolean, string];
    this.inbox.splice(mark, handled.length, ...handled.filter((m) => m[0] !== 'EVENT' && m !== ok));
    return { ok: ok[2] === true, message: ok[3], deliveries, late };
  }

  /** Resolves when the relay finished everything this connection sent. */
  idle(): Promise<void> {
    return this.session.enqueue(() => undefined);
  }

  strays(): Delivery[] {
    return this.take((m) => m[0] === 'EVENT').map((m) => ({ subId: m[1] as string, event: m[2] as NostrEvent }));
  }

  async close(): Promise<void> {
    this.core.close(this.session);
  }
}

class InProcessTarget implements Target {
  readonly clock: ManualClock;
  private readonly store: SqliteStore;
  private readonly core: RelayCore;
  private readonly conns: CoreConn[] = [];

  constructor(
    readonly limits: KeyPackageLimits,
    faults: readonly FaultName[],
    readonly events: PooledEvents,
  ) {
    this.clock = new ManualClock(IN_PROCESS_EPOCH_MS);
    this.store = new SqliteStore(':memory:');
    this.core = new RelayCore(resolveConfig({ db: ':memory:', limits, faults, clock: this.clock }), this.store);
  }

  async connect(): Promise<Conn> {
    const conn = new CoreConn(this.core, this.clock);
    this.conns.push(conn);
    return conn;
  }

  async close(): Promise<void> {
    // Let handlers still running (a fault's yield) finish before the database goes away.
    await Promise.all(this.conns.map((c) => c.idle()));
    this.store.close();
  }
}

export interface InProcessOptions {
  limits: KeyPackageLimits;
  faults?: readonly FaultName[];
}

export function inProcessFactory(opts: InProcessOptions): TargetFactory {
  // Shared by every sequence and factory: each KeyPackage is made once per process.
  const events = PooledEvents.shared(Math.floor(IN_PROCESS_EPOCH_MS / 1000) - 100_000);
  const faults = opts.faults ?? [];
  return {
    description: `in-process reference relay${faults.length > 0 ? ` with faults ${faults.join(', ')}` : ''}`,
    url: undefined,
    limits: opts.limits,
    canMoveClock: true,
    async create() {
      return new InProcessTarget(opts.limits, faults, events);
    },
    async close() {},
  };
}
