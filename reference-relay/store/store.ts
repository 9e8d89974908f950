/**
 * What the relay's rules need from storage. The SQLite store implements it;
 * the rules in ../rules/ read and write only through it.
 */
import type { Slot } from '../../protocol/events.js';
import type { Filter, NostrEvent } from '../../protocol/messages.js';

export type TombstoneReason = 'consumed' | 'deleted';

export interface Tombstone {
  pubkey: string;
  reason: TombstoneReason;
}

export type InsertResult = 'stored' | 'duplicate' | 'superseded';

/**
 * A stored event as the relay sends it: the JSON text serialised once when it
 * was stored, from the event as received and verified, sent as is
 * (kp-handout-intact); parsed only when a rule reads its fields.
 */
export interface StoredEvent {
  readonly id: string;
  readonly json: string;
  /** The parsed event (parsed on first use). */
  readonly event: NostrEvent;
}

/** What a hand-out may take of one owner's KeyPackages. */
export interface KeyPackagePick {
  /** The qualifying KeyPackages, in the order asked, at most the cap. */
  take: StoredEvent[];
  /** Whether the owner has stored KeyPackages beyond `take` (qualifying or not): if not, the last taken is the owner's last (kp-handout-last-resort). */
  ownerHasMore: boolean;
}

export type HandoutOrder = 'oldest-first' | 'newest-first';

/** A stored version of a slot, as the replacement rule reads it. */
export type StoredVersion = Pick<NostrEvent, 'kind' | 'id' | 'created_at'>;

/** What the rules decide about an event the relay stores. */
export interface StoragePolicy {
  /** From this unix second on the event is left out of every answer, and swept (mr-445-expiration, kp-pub-expired); undefined: never. */
  servedUntil: number | undefined;
  /** Whether the event replaces `stored`, a version of its slot stored before (mr-kp-replace, mr-relay-lists); if it replaces none, it is not stored. */
  replaces(event: NostrEvent, stored: StoredVersion): boolean;
}

export interface QueryOptions {
  nowSeconds: number;
  /** KeyPackages of these pubkeys may be returned; all others are left out (kp-req-unscoped). 'everyone': plain NIP-01, all of them. */
  keyPackageOwners: ReadonlySet<string> | 'everyone';
  /** Gift wraps (kind 1059) whose `p` tag names one of these may be returned; the others are left out (mr-1059-serve). 'everyone': all of them. */
  giftWrapReaders: ReadonlySet<string> | 'everyone';
  /** Upper bound on `limit`. */
  maxLimit: number;
}

export interface EventStore {
  /**
   * Runs `fn` as one unit: all of its writes are kept, or none (a throw undoes them). Under group
   * commit they become durable with the others of the same moment, in one commit (one fsync):
   * whenDurable says when.
   */
  transaction<T>(fn: () => T): T;
  /**
   * Calls `then` once every write made so far is durable: at once when none is waiting for its
   * commit, else right after that commit. Whatever reads what a write left (an OK, a hand-out, a
   * query's answer) is sent from here, so nothing leaves the relay before it is on disk
   * (kp-robust-durable).
   */
  whenDurable(then: () => void): void;

  get(id: string): NostrEvent | undefined;
  /** Stores a regular, replaceable or addressable event; of a slot's versions it keeps the one the policy says is current. */
  insert(event: NostrEvent, policy: StoragePolicy): InsertResult;
  /** Ordinary NIP-01 query: newest first, `limit` applied, expired events left out. */
  query(filter: Filter, opts: QueryOptions): StoredEvent[];
  /** Removes events by id; returns the ids that were stored. */
  remove(ids: readonly string[]): string[];
  /** Removes the versions of `slot` created at or before `until`, and remembers the deletion (the latest `until` per slot); returns the ids removed. */
  deleteSlot(slot: Slot, until: number): string[];
  /** The latest `until` a deletion of `slot` named, if any (mr-kp-delete). */
  slotDeletedUntil(slot: Slot): number | undefined;

  /**
   * The first `max` of `owner`'s stored, unexpired KeyPackages that fully match one of
   * `filters` (their `limit` aside), by created_at then id: ascending is kp-handout-order.
   */
  pickKeyPackages(owner: string, filters: readonly Filter[], max: number, order: HandoutOrder, nowSeconds: number): KeyPackagePick;
  countKeyPackages(nowSeconds: number): number;

  /** Takes handed-out KeyPackages of `owner` out of every answer for good, tombstoned as consumed (kp-handout-consume, kp-pub-no-replay). */
  consume(ids: readonly string[], owner: string, nowSeconds: number): void;

  /** Whether `pubkey`'s event `id` was consumed or deleted. */
  tombstone(id: string, pubkey: string): Tombstone | undefined;
  addTombstone(id: string, pubkey: string, reason: TombstoneReason, nowSeconds: number): void;

  /** Charged queries by `requester` for `owner` since `sinceMs`. */
  chargedQueries(requester: string, owner: string, sinceMs: number): number;
  /** KeyPackages handed out to `requester` since `sinceMs`. */
  servedTo(requester: string, sinceMs: number): number;
  charge(requester: string, owner: string, atMs: number, served: number): void;

  /** Drops expired events and charges older than `chargesBeforeMs`. */
  sweep(nowSeconds: number, chargesBeforeMs: number): number;
  close(): void;
}
