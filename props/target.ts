/**
 * What the property commands drive: a relay behind one small interface, so the
 * same command sequences run in process (RelayCore), over WebSocket against the
 * reference relay, or against any relay URL.
 */
import type { Delivery, OkReply, ReqResult, RequestResult } from '../client/relay-client.js';
import type { Keys } from '../protocol/crypto.js';
import type { Filter, NostrEvent } from '../protocol/messages.js';
import type { KeyPackageLimits } from '../protocol/profile.js';
import type { EventSource } from './events.js';

/** One connection (one NIP-42 session). */
export interface Conn {
  /** NIP-42 AUTH as `keys`, with created_at on the relay's clock. */
  auth(keys: Keys): Promise<OkReply>;
  /**
   * An AUTH whose signature is broken, which every relay must refuse: it
   * ends a relay's kp-auth-grace wait for the connection's first AUTH, so
   * the unauthenticated are judged at once, without authenticating anyone.
   */
  authNobody(): Promise<OkReply>;
  publish(event: NostrEvent): Promise<OkReply>;
  /** REQ, collected until EOSE or CLOSED; the subscription stays open. */
  req(filters: Filter[]): Promise<ReqResult & { subId: string }>;
  closeSub(subId: string): Promise<void>;
  /**
   * A kind 447: deliveries are EVENTs before its OK; `late` are EVENTs of the
   * same handling after the OK (only a target that sees frame order can tell).
   */
  sendRequest(event: NostrEvent): Promise<RequestResult & { late: Delivery[] }>;
  /** EVENT frames no reply took: things the relay pushed on its own. Taking them clears them. */
  strays(): Delivery[];
  close(): Promise<void>;
}

/** The relay's clock, when the suite owns it. */
export interface MovableClock {
  nowMs(): number;
  advanceSeconds(seconds: number): void;
}

/** One command sequence's relay: fresh relay state or fresh keys, whichever the target can give. */
export interface Target {
  readonly limits: KeyPackageLimits;
  readonly events: EventSource;
  /** undefined when the relay's clock cannot be moved (any relay URL). */
  readonly clock: MovableClock | undefined;
  connect(): Promise<Conn>;
  close(): Promise<void>;
}

/** Makes one Target per command sequence. */
export interface TargetFactory {
  /** For reports: what was tested. */
  readonly description: string;
  /** The relay URL, or undefined in process. */
  readonly url: string | undefined;
  readonly limits: KeyPackageLimits;
  readonly canMoveClock: boolean;
  create(): Promise<Target>;
  close(): Promise<void>;
}
