/**
 * Targets over WebSocket: the reference relay started here (its ManualClock
 * is ours to move) or any relay URL (its clock is not: no clock or expiry
 * commands, and rate limits are judged within one window). The relay keeps
 * its state between sequences, so every sequence gets fresh keys.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RelayClient, type Delivery, type OkReply, type ReqResult } from '../client/relay-client.js';
import { newKeys, sign, type Keys } from '../protocol/crypto.js';
import type { Filter, NostrEvent } from '../protocol/messages.js';
import { KIND, TAG, type KeyPackageLimits } from '../protocol/profile.js';
import { ManualClock } from '../reference-relay/clock.js';
import type { FaultName } from '../reference-relay/faults.js';
import { startRelay, type RunningRelay } from '../reference-relay/server.js';
import { FreshEvents, withBrokenSig } from './events.js';
import type { Conn, MovableClock, Target, TargetFactory } from './target.js';

class WsConn implements Conn {
  /** Subscriptions left open, whose later EVENTs are strays. */
  private readonly open = new Set<string>();

  constructor(
    private readonly client: RelayClient,
    private readonly nowSeconds: () => number,
  ) {}

  auth(keys: Keys): Promise<OkReply> {
    return this.client.auth(keys, (t) => ({ ...t, created_at: this.nowSeconds() }));
  }

  async authNobody(): Promise<OkReply> {
    const challenge = await this.client.obtainChallenge();
    const event = sign({ kind: KIND.auth, created_at: this.nowSeconds(), tags: [[TAG.relay, this.client.url], [TAG.challenge, challenge]], content: '' }, newKeys());
    return this.client.sendAuth(withBrokenSig(event));
  }

  publish(event: NostrEvent): Promise<OkReply> {
    return this.client.publish(event);
  }

  async req(filters: Filter[]): Promise<ReqResult & { subId: string }> {
    const res = await this.client.req(filters);
    if (res.eose) this.open.add(res.subId);
    return res;
  }

  async closeSub(subId: string): Promise<void> {
    this.client.closeSub(subId);
    this.open.delete(subId);
  }

  async sendRequest(event: NostrEvent): Promise<OkReply & { deliveries: Delivery[]; late: Delivery[] }> {
    // Over a socket, EVENTs after the OK are indistinguishable from strays that come later.
    return { ...(await this.client.sendRequest(event)), late: [] };
  }

  strays(): Delivery[] {
    return [...this.open].flatMap((subId) => this.client.drainEvents(subId).map((event) => ({ subId, event })));
  }

  close(): Promise<void> {
    return this.client.close();
  }
}

class WsTarget implements Target {
  readonly events: FreshEvents;
  private readonly clients: RelayClient[] = [];

  constructor(
    private readonly url: string,
    readonly limits: KeyPackageLimits,
    readonly clock: MovableClock | undefined,
    private readonly timeoutMs: number,
    /** How long to wait for a challenge on connect before provoking one (a relay with lazy AUTH). */
    private readonly challengeTimeoutMs?: number,
  ) {
    this.events = new FreshEvents(() => this.nowSeconds());
  }

  private nowSeconds(): number {
    return Math.floor((this.clock?.nowMs() ?? Date.now()) / 1000);
  }

  async connect(): Promise<Conn> {
    const client = await RelayClient.connect(this.url, {
      timeoutMs: this.timeoutMs,
      ...(this.challengeTimeoutMs === undefined ? {} : { challengeTimeoutMs: this.challengeTimeoutMs }),
    });
    this.clients.push(client);
    return new WsConn(client, () => this.nowSeconds());
  }

  async close(): Promise<void> {
    await Promise.all(this.clients.map((c) => c.close()));
  }
}

export interface UrlTargetOptions {
  url: string;
  limits: KeyPackageLimits;
  timeoutMs?: number;
  /** See RelayClient's challengeTimeoutMs: shorter for a relay known to send its challenge only when refusing. */
  challengeTimeoutMs?: number;
}

/** Any relay: fresh keys per sequence, its own clock. */
export function urlFactory(opts: UrlTargetOptions): TargetFactory {
  return {
    description: opts.url,
    url: opts.url,
    limits: opts.limits,
    canMoveClock: false,
    async create() {
      return new WsTarget(opts.url, opts.limits, undefined, opts.timeoutMs ?? 5000, opts.challengeTimeoutMs);
    },
    async close() {},
  };
}

export interface ReferenceRelayOptions {
  limits: KeyPackageLimits;
  faults?: readonly FaultName[];
  /** ':memory:', or undefined for a file in a fresh temporary folder. */
  db?: ':memory:';
  timeoutMs?: number;
}

/** The reference relay on a free loopback port, with a clock the commands move. */
export async function referenceRelayFactory(opts: ReferenceRelayOptions): Promise<TargetFactory & { relay: RunningRelay }> {
  const clock = new ManualClock();
  const tempDir = opts.db === undefined ? mkdtempSync(join(tmpdir(), 'kpsuite-props-')) : undefined;
  const faults = opts.faults ?? [];
  const relay = await startRelay({
    host: '127.0.0.1',
    port: 0,
    db: tempDir === undefined ? ':memory:' : join(tempDir, 'relay.sqlite'),
    clock,
    limits: opts.limits,
    faults,
  });
  const movable: MovableClock = { nowMs: () => clock.nowMs(), advanceSeconds: (s) => clock.advanceSeconds(s) };
  return {
    relay,
    description: `${relay.url} (embedded reference relay${faults.length > 0 ? ` with faults ${faults.join(', ')}` : ''})`,
    url: relay.url,
    limits: opts.limits,
    canMoveClock: true,
    async create() {
      return new WsTarget(relay.url, opts.limits, movable, opts.timeoutMs ?? 5000);
    },
    async close() {
      await relay.close();
      if (tempDir !== undefined) rmSync(tempDir, { recursive: true, force: true });
    },
  };
}
