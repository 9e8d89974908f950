/**
 * EventStore on better-sqlite3. WAL with synchronous=FULL: a transaction is
 * on disk before the relay answers, so an OK'd KeyPackage survives a crash and
 * a committed consumption is never rolled back into a second hand-out
 * (kp-robust-durable).
 *
 * Beside SQLite, in memory, the first of each owner's KeyPackages in
 * hand-out order and each requester's charges (keypackage-inventory.ts,
 * charge-ledger.ts): loaded from the file, kept in step by every write made
 * here, taken back with a transaction that throws. So this store must be the
 * only writer of its file.
 *
 * Group commit (the relay's default): the first write of a turn of the event
 * loop opens one SQLite transaction, every transaction() of that turn runs in
 * it as a savepoint, and it commits (one fsync) when the turn ends; what
 * reads those writes waits in whenDurable() until then.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { Filter, NostrEvent } from '../../protocol/messages.js';
import { slotOf, storageOf, type Slot } from '../../protocol/events.js';
import { KIND, TAG } from '../../protocol/profile.js';
import { RequesterCharges, type Charge } from './charge-ledger.js';
import { CheckpointThread, type CheckpointOptions } from './checkpoint-thread.js';
import { judgedWithoutTags, KeyPackageInventory, type Held, type OwnerList } from './keypackage-inventory.js';
import type {
  EventStore,
  HandoutOrder,
  InsertResult,
  KeyPackagePick,
  QueryOptions,
  StoragePolicy,
  StoredEvent,
  StoredVersion,
  Tombstone,
  TombstoneReason,
} from './store.js';

/** Prepared statements kept for query() and pickKeyPackages(), by SQL text; the least recently used goes first. */
const STATEMENT_CACHE_SIZE = 256;

type Param = string | number;

/** A row's id and stored JSON text; the event is parsed only if someone reads it. */
class StoredRow implements StoredEvent {
  private parsed: NostrEvent | undefined;
  constructor(
    readonly id: string,
    readonly json: string,
  ) {}
  get event(): NostrEvent {
    return (this.parsed ??= JSON.parse(this.json) as NostrEvent);
  }
}

const toStored = (r: { id: string; json: string }): StoredEvent => new StoredRow(r.id, r.json);

/** A filter's tag conditions: `#` and a letter, with their values. */
function tagConditions(filter: Filter): [string, string[]][] {
  return Object.entries(filter).filter((entry): entry is [string, string[]] => entry[0].startsWith('#') && Array.isArray(entry[1]));
}

/** `column IN (?, ...)`, its values appended to `params`. */
function inList(column: string, values: readonly Param[], params: Param[]): string {
  params.push(...values);
  return `${column} IN (${values.map(() => '?').join(',')})`;
}

/** The ids of events with a single-letter tag `name` holding one of `values`, found by tags_by_value. */
function taggedIds(name: string, values: readonly string[], params: Param[]): string {
  params.push(name);
  return `id IN (SELECT event_id FROM tags WHERE name = ? AND ${inList('value', values, params)})`;
}

/**
 * The SQL conditions a NIP-01 filter puts on an events row (its `limit` aside), appended to `where` and `params`.
 * A filter with tag conditions (#d, #i, #h, #p: NIP-01 expects single-letter tags indexed; mr-kp-filters) is
 * answered from the tag index: `+` keeps SQLite from walking every event of the filter's kinds or authors instead.
 */
function filterConditions(filter: Filter, where: string[], params: Param[]): void {
  const tags = tagConditions(filter);
  const unindexed = tags.length > 0 ? '+' : '';
  if (filter.ids) where.push(inList('id', filter.ids, params));
  if (filter.authors) where.push(inList(`${unindexed}pubkey`, filter.authors, params));
  if (filter.kinds) where.push(inList(`${unindexed}kind`, filter.kinds, params));
  if (filter.since !== undefined) {
    where.push(`${unindexed}created_at >= ?`);
    params.push(filter.since);
  }
  if (filter.until !== undefined) {
    where.push(`${unindexed}created_at <= ?`);
    params.push(filter.until);
  }
  for (const [key, values] of tags) where.push(taggedIds(key.slice(1), values, params));
}

/**
 * Events, live or consumed. A consumed KeyPackage keeps its row, marked with consumed_at and
 * emptied (its tags' rows stay with it): the row is its tombstone (kp-pub-no-replay). Marking
 * rewrites the row's page and the two partial indexes' entries; deleting the row and writing a
 * tombstone wrote about ten b-trees, and those page writes were most of a hand-out's commit.
 */
const TABLES = `
CREATE TABLE IF NOT EXISTS events (
  id TEXT PRIMARY KEY,
  pubkey TEXT NOT NULL,
  kind INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  d_tag TEXT,
  expires_at INTEGER,
  json TEXT NOT NULL,
  consumed_at INTEGER
);
-- single-letter tags only: the ones NIP-01 filters can name
CREATE TABLE IF NOT EXISTS tags (
  event_id TEXT NOT NULL,
  name TEXT NOT NULL,
  value TEXT NOT NULL
);
-- NIP-09 a-tag deletions (mr-kp-delete): versions of the slot created at or before
-- until are gone and never accepted again; d is '' for replaceable kinds.
CREATE TABLE IF NOT EXISTS deleted_slots (
  kind INTEGER NOT NULL,
  pubkey TEXT NOT NULL,
  d TEXT NOT NULL,
  until INTEGER NOT NULL,
  PRIMARY KEY (kind, pubkey, d)
);
-- deleted ids (and consumed ones, before consumed rows were kept), refused forever after
-- (kp-pub-no-replay). Keyed by (id, pubkey): a kind 5 from a stranger naming an id must not
-- shadow the owner's.
CREATE TABLE IF NOT EXISTS tombstones (
  id TEXT NOT NULL,
  pubkey TEXT NOT NULL,
  reason TEXT NOT NULL,
  at INTEGER NOT NULL,
  PRIMARY KEY (id, pubkey)
);
-- one row per charged query, for the sliding windows of kp-rate-queries and kp-rate-served
CREATE TABLE IF NOT EXISTS charges (
  requester TEXT NOT NULL,
  owner TEXT NOT NULL,
  at_ms INTEGER NOT NULL,
  served INTEGER NOT NULL
);
`;

/** Every query of events names this condition: SQLite uses a partial index only for a query that does. */
const LIVE = 'consumed_at IS NULL';

/**
 * A hand-out walks an owner's KeyPackages oldest first, where the consumed ones are: that index
 * holds live rows only, and so does the expiry index the sweep walks. The author and time
 * indexes keep consumed rows, which a query skips at the row: consuming does not write them.
 */
const INDEXES = `
-- expires_at and consumed_at (NULL here) too: an owner's inventory loads from this index alone
CREATE INDEX IF NOT EXISTS live_by_kind_author ON events(kind, pubkey, created_at, id, expires_at, consumed_at) WHERE ${LIVE};
CREATE INDEX IF NOT EXISTS events_by_author ON events(pubkey, created_at);
CREATE INDEX IF NOT EXISTS events_by_time ON events(created_at);
CREATE INDEX IF NOT EXISTS live_by_expiry ON events(expires_at) WHERE expires_at IS NOT NULL AND ${LIVE};
-- a file written before consumed rows were kept: these held every event
DROP INDEX IF EXISTS events_by_kind_author;
DROP INDEX IF EXISTS events_by_expiry;
CREATE INDEX IF NOT EXISTS tags_by_value ON tags(name, value, event_id);
CREATE INDEX IF NOT EXISTS tags_by_event ON tags(event_id);
CREATE INDEX IF NOT EXISTS charges_by_requester ON charges(requester, at_ms);
-- counted in memory now (charge-ledger.ts): one index fewer to write per hand-out
DROP INDEX IF EXISTS charges_by_pair;
`;

/** The SQL of an ordinary NIP-01 query: newest first, `limit` applied, expired events and hidden KeyPackages and gift wraps left out. */
function querySql(filter: Filter, opts: QueryOptions): { sql: string; params: Param[] } {
  const where: string[] = [LIVE, '(expires_at IS NULL OR expires_at > ?)'];
  const params: Param[] = [opts.nowSeconds];
  filterConditions(filter, where, params);
  if (opts.keyPackageOwners !== 'everyone') where.push(`(kind != ${KIND.keyPackage} OR ${inList('pubkey', [...opts.keyPackageOwners], params)})`);
  if (opts.giftWrapReaders !== 'everyone') where.push(`(kind != ${KIND.giftWrap} OR ${taggedIds(TAG.pubkey, [...opts.giftWrapReaders], params)})`);
  params.push(Math.min(filter.limit ?? opts.maxLimit, opts.maxLimit));
  return { sql: `SELECT id, json FROM events WHERE ${where.join(' AND ')} ORDER BY created_at DESC, id ASC LIMIT ?`, params };
}

/**
 * Whether every event `filter` can match is a KeyPackage this query leaves out: kinds only 443,
 * and no author whose KeyPackages may be returned. A hand-out filter is one (its ordinary answer
 * is empty), and SQLite would walk the owner's KeyPackages to find nothing.
 */
function onlyHiddenKeyPackages(filter: Filter, opts: QueryOptions): boolean {
  const owners = opts.keyPackageOwners;
  if (owners === 'everyone' || !filter.kinds || filter.kinds.length === 0 || !filter.kinds.every((k) => k === KIND.keyPackage)) return false;
  return filter.authors ? filter.authors.every((a) => !owners.has(a)) : owners.size === 0;
}

export interface SqliteStoreOptions {
  /**
   * Transactions of one turn of the event loop share one commit (see above). Off, each commits on
   * its own before transaction() returns, as the in-process targets and unit tests expect.
   */
  groupCommit?: boolean;
  /** WAL checkpoints on a worker thread instead of inside commits (checkpoint-thread.ts); file databases only. */
  checkpointThread?: boolean | CheckpointOptions;
  /** KeyPackages the in-memory inventory holds at most (keypackage-inventory.ts); default 100,000. */
  inventoryCapacity?: number;
  /** KeyPackages of an owner the inventory loads at first; default 16. */
  inventoryPrefix?: number;
}

/** What the relay holds in memory at most of the hand-out inventory, in KeyPackages: about 12 MiB. */
const INVENTORY_CAPACITY = 100_000;
/** KeyPackages of an owner loaded at first: a hand-out takes at most max_per_query and needs to see one more. */
const INVENTORY_PREFIX = 16;

export class SqliteStore implements EventStore {
  private readonly db: Database.Database;
  private readonly stmt;
  private readonly statements = new Map<string, Database.Statement<Param[], { id: string; json: string }>>();
  private readonly groupCommit: boolean;
  /** The open group's waiters (whenDurable); undefined when no write waits for a commit. */
  private group: (() => void)[] | undefined;
  /** Commits the group counted since the store opened, and the transactions they held, for /metrics. */
  readonly commits = { groups: 0, transactions: 0 };
  /** Told how long each group's COMMIT took, its fsync included (/metrics: what bounds a hand-out's latency). */
  private commitObserver: ((seconds: number) => void) | undefined;
  /** Undefined when SQLite checkpoints inside commits, as it does by default. */
  readonly checkpointer: CheckpointThread | undefined;
  /** transaction() calls under way: a nested one is part of its caller's. */
  private depth = 0;
  /**
   * How to take back what the transactions under way changed in memory (the inventory and the
   * ledger), newest last: a throw that undoes a transaction's SQL undoes these too.
   */
  private readonly undo: (() => void)[] = [];
  private readonly inventory: KeyPackageInventory;
  private readonly inventoryPrefix: number;
  /** Requesters' charges, loaded from the charges table on first use. */
  private readonly ledgers = new Map<string, RequesterCharges>();

  constructor(path: string, opts: SqliteStoreOptions = {}) {
    this.groupCommit = opts.groupCommit ?? false;
    this.inventory = new KeyPackageInventory(opts.inventoryCapacity ?? INVENTORY_CAPACITY);
    this.inventoryPrefix = Math.max(1, Math.floor(opts.inventoryPrefix ?? INVENTORY_PREFIX));
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(TABLES);
    const columns = this.db.pragma('table_info(events)') as { name: string }[];
    if (!columns.some((c) => c.name === 'consumed_at')) this.db.exec('ALTER TABLE events ADD COLUMN consumed_at INTEGER');
    this.db.exec(INDEXES);
    const { checkpointThread } = opts;
    this.checkpointer = checkpointThread && path !== ':memory:' ? new CheckpointThread(path, this.db, checkpointThread === true ? {} : checkpointThread) : undefined;
    const db = this.db;
    this.stmt = {
      get: db.prepare<[string], { json: string }>(`SELECT json FROM events WHERE id = ? AND ${LIVE}`),
      // null: the event was consumed, and its row is its tombstone
      presence: db.prepare<[string], { consumedAt: number | null }>('SELECT consumed_at AS consumedAt FROM events WHERE id = ?'),
      insert: db.prepare(
        'INSERT INTO events (id, pubkey, kind, created_at, d_tag, expires_at, json) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO NOTHING',
      ),
      insertTag: db.prepare('INSERT INTO tags (event_id, name, value) VALUES (?, ?, ?)'),
      replaceable: db.prepare<[string, number], StoredVersion>(`SELECT kind, id, created_at FROM events WHERE pubkey = ? AND kind = ? AND ${LIVE}`),
      addressable: db.prepare<[string, number, string], StoredVersion>(
        `SELECT kind, id, created_at FROM events WHERE pubkey = ? AND kind = ? AND d_tag = ? AND ${LIVE}`,
      ),
      deleteSlot: db.prepare(
        'INSERT INTO deleted_slots (kind, pubkey, d, until) VALUES (?, ?, ?, ?) ON CONFLICT (kind, pubkey, d) DO UPDATE SET until = max(until, excluded.until)',
      ),
      slotDeletedUntil: db.prepare<[number, string, string], { until: number }>('SELECT until FROM deleted_slots WHERE kind = ? AND pubkey = ? AND d = ?'),
      remove: db.prepare<[string], { pubkey: string; kind: number }>(`DELETE FROM events WHERE id = ? AND ${LIVE} RETURNING pubkey, kind`),
      markConsumed: db.prepare<[number, string, string]>(`UPDATE events SET consumed_at = ?, json = '' WHERE id = ? AND pubkey = ? AND ${LIVE}`),
      consumed: db.prepare<[string, string], { pubkey: string }>('SELECT pubkey FROM events WHERE id = ? AND pubkey = ? AND consumed_at IS NOT NULL'),
      bury: db.prepare<[string], { pubkey: string; consumedAt: number }>(
        'DELETE FROM events WHERE id = ? AND consumed_at IS NOT NULL RETURNING pubkey, consumed_at AS consumedAt',
      ),
      inventory: db.prepare<[string, number], Held>(
        `SELECT id, created_at AS createdAt, expires_at AS expiresAt FROM events WHERE kind = ${KIND.keyPackage} AND pubkey = ? AND ${LIVE} ORDER BY created_at, id LIMIT ?`,
      ),
      charges: db.prepare<[string], Charge>('SELECT owner, at_ms AS atMs, served FROM charges WHERE requester = ? ORDER BY at_ms, rowid'),
      removeTags: db.prepare('DELETE FROM tags WHERE event_id = ?'),
      // Counts no further than it is asked to: a hand-out needs only whether more are stored (kp-handout-last-resort).
      keyPackagesAtMost: db.prepare<[string, number, number], { n: number }>(
        `SELECT count(*) AS n FROM (SELECT 1 FROM events WHERE kind = ${KIND.keyPackage} AND pubkey = ? AND ${LIVE}
           AND (expires_at IS NULL OR expires_at > ?) LIMIT ?)`,
      ),
      countKeyPackages: db.prepare<[number], { n: number }>(
        `SELECT count(*) AS n FROM events WHERE kind = ${KIND.keyPackage} AND ${LIVE} AND (expires_at IS NULL OR expires_at > ?)`,
      ),
      tombstone: db.prepare<[string, string], Tombstone>('SELECT pubkey, reason FROM tombstones WHERE id = ? AND pubkey = ?'),
      addTombstone: db.prepare('INSERT OR IGNORE INTO tombstones (id, pubkey, reason, at) VALUES (?, ?, ?, ?)'),
      charge: db.prepare('INSERT INTO charges (requester, owner, at_ms, served) VALUES (?, ?, ?, ?)'),
      expired: db.prepare<[number], { id: string }>(`SELECT id FROM events WHERE expires_at IS NOT NULL AND expires_at <= ? AND ${LIVE}`),
      pruneCharges: db.prepare('DELETE FROM charges WHERE at_ms <= ?'),
    };
  }

  transaction<T>(fn: () => T): T {
    if (this.depth === 0) this.commits.transactions += 1;
    this.depth += 1;
    const mark = this.undo.length;
    try {
      if (!this.groupCommit) {
        // IMMEDIATE takes the write lock up front.
        if (this.depth > 1) return this.db.transaction(fn)();
        this.commits.groups += 1;
        const result = this.db.transaction(fn).immediate();
        this.checkpointer?.committed();
        return result;
      }
      this.openGroup();
      // Inside the group's transaction better-sqlite3 runs fn as a savepoint: a throw undoes fn alone.
      return this.db.transaction(fn)();
    } catch (err) {
      while (this.undo.length > mark) this.undo.pop()?.();
      throw err;
    } finally {
      this.depth -= 1;
      if (this.depth === 0) this.undo.length = 0;
    }
  }

  /** Remembers how to take back an in-memory change, while a transaction that could still be undone is under way. */
  private onUndo(undo: () => void): void {
    if (this.depth > 0) this.undo.push(undo);
  }

  whenDurable(then: () => void): void {
    if (this.group) this.group.push(then);
    else then();
  }

  private openGroup(): void {
    if (this.group) return;
    this.db.exec('BEGIN IMMEDIATE');
    this.group = [];
    // setImmediate runs after the I/O callbacks of this turn: every frame that arrived together joins.
    setImmediate(() => this.commitGroup());
  }

  /**
   * Commits the open group, then lets its waiters send. A failed COMMIT is thrown, uncaught: the
   * relay stops rather than answer for writes that are not on disk (none of them was acknowledged).
   */
  private commitGroup(): void {
    const waiting = this.group;
    if (!waiting) return;
    this.group = undefined;
    const open = this.db.open;
    if (open) {
      const started = performance.now();
      this.db.exec('COMMIT');
      this.commitObserver?.((performance.now() - started) / 1000);
    }
    this.commits.groups += 1;
    for (const then of waiting) then();
    if (open) this.checkpointer?.committed();
  }

  /** Calls `observe` with the duration of each group's COMMIT, in seconds (group commit only; one observer). */
  observeCommits(observe: (seconds: number) => void): void {
    this.commitObserver = observe;
  }

  /** A pragma as the relay's own connection reads it (pragmas are per connection), for the tests of kp-robust-durable. */
  setting(name: 'journal_mode' | 'synchronous' | 'wal_autocheckpoint'): unknown {
    return this.db.pragma(name, { simple: true });
  }

  get(id: string): NostrEvent | undefined {
    const row = this.stmt.get.get(id);
    return row ? (JSON.parse(row.json) as NostrEvent) : undefined;
  }

  insert(event: NostrEvent, policy: StoragePolicy): InsertResult {
    return this.transaction((): InsertResult => {
      const present = this.stmt.presence.get(event.id);
      if (present?.consumedAt === null) return 'duplicate';
      if (present) this.bury(event.id);
      const slot = slotOf(event);
      if (slot) {
        const versions = this.slotVersions(slot);
        if (!versions.every((stored) => policy.replaces(event, stored))) return 'superseded';
        this.remove(versions.map((v) => v.id));
      }
      this.stmt.insert.run(
        event.id,
        event.pubkey,
        event.kind,
        event.created_at,
        storageOf(event.kind) === 'addressable' ? (slot?.d ?? null) : null,
        policy.servedUntil ?? null,
        JSON.stringify(event),
      );
      for (const tag of event.tags) {
        const [name, value] = tag;
        if (name !== undefined && name.length === 1 && value !== undefined) this.stmt.insertTag.run(event.id, name, value);
      }
      if (event.kind === KIND.keyPackage && this.inventory.add(event.pubkey, { id: event.id, createdAt: event.created_at, expiresAt: policy.servedUntil ?? null })) {
        this.onUndo(() => this.inventory.remove(event.pubkey, event.id));
      }
      return 'stored';
    });
  }

  /** The stored versions of a slot (replaceable kinds keep no d). */
  private slotVersions(slot: Slot): StoredVersion[] {
    return storageOf(slot.kind) === 'addressable' ? this.stmt.addressable.all(slot.pubkey, slot.kind, slot.d) : this.stmt.replaceable.all(slot.pubkey, slot.kind);
  }

  query(filter: Filter, opts: QueryOptions): StoredEvent[] {
    if (onlyHiddenKeyPackages(filter, opts)) return [];
    const { sql, params } = querySql(filter, opts);
    return this.prepared(sql).all(...params).map(toStored);
  }

  /** SQLite's plan for query(filter, opts), one line per step (EXPLAIN QUERY PLAN), for the tests of mr-kp-filters. */
  explainQuery(filter: Filter, opts: QueryOptions): string[] {
    const { sql, params } = querySql(filter, opts);
    return this.db
      .prepare<Param[], { detail: string }>(`EXPLAIN QUERY PLAN ${sql}`)
      .all(...params)
      .map((row) => row.detail);
  }

  pickKeyPackages(owner: string, filters: readonly Filter[], max: number, order: HandoutOrder, nowSeconds: number): KeyPackagePick {
    const cap = Math.max(0, Math.floor(max));
    if (filters.every(judgedWithoutTags)) {
      let list = this.inventoryOf(owner);
      for (;;) {
        const picked = KeyPackageInventory.pick(owner, list, filters, cap, order, nowSeconds);
        if (picked !== 'more') return { take: picked.ids.map((id) => this.stored(id)), ownerHasMore: picked.ownerHasMore };
        // The answer lies past what the list holds: twice as many, or (newest first) all of them.
        list = this.loadInventory(owner, order === 'newest-first' ? undefined : 2 * list.items.length + this.inventoryPrefix);
      }
    }
    if (cap === 0 || filters.length === 0) return { take: [], ownerHasMore: this.keyPackagesAtMost(owner, nowSeconds, 1) > 0 };
    const params: Param[] = [owner, nowSeconds];
    const anyOf = filters.map((filter) => {
      const where: string[] = [];
      filterConditions(filter, where, params);
      return where.length > 0 ? `(${where.join(' AND ')})` : '1';
    });
    const dir = order === 'oldest-first' ? 'ASC' : 'DESC';
    // Walks live_by_kind_author in hand-out order and stops at the cap: the cost does not grow with the owner's pool.
    const sql = `SELECT id, json FROM events WHERE kind = ${KIND.keyPackage} AND pubkey = ? AND ${LIVE} AND (expires_at IS NULL OR expires_at > ?)
      AND (${anyOf.join(' OR ')}) ORDER BY created_at ${dir}, id ${dir} LIMIT ?`;
    const take = this.prepared(sql).all(...params, cap).map(toStored);
    return { take, ownerHasMore: this.keyPackagesAtMost(owner, nowSeconds, take.length + 1) > take.length };
  }

  /** The first of the owner's KeyPackages in hand-out order, from memory, or loaded from SQLite. */
  private inventoryOf(owner: string): OwnerList {
    const list = this.inventory.loaded(owner);
    if (!list) return this.loadInventory(owner, this.inventoryPrefix);
    this.inventory.touch(owner, list);
    return list;
  }

  /** Loads the first `limit` of the owner's KeyPackages in hand-out order (undefined: all). */
  private loadInventory(owner: string, limit: number | undefined): OwnerList {
    // Loaded inside a transaction, it may hold that transaction's writes: forgotten if they are undone.
    this.onUndo(() => this.inventory.drop(owner));
    return this.inventory.load(owner, this.stmt.inventory.all(owner, limit === undefined ? -1 : limit + 1), limit);
  }

  /** A stored event by id, which the caller knows is stored. */
  private stored(id: string): StoredEvent {
    const row = this.stmt.get.get(id);
    if (!row) throw new Error(`the KeyPackage inventory names ${id}, which is not stored`);
    return new StoredRow(id, row.json);
  }

  private keyPackagesAtMost(owner: string, nowSeconds: number, atMost: number): number {
    return this.stmt.keyPackagesAtMost.get(owner, nowSeconds, atMost)?.n ?? 0;
  }

  /** A prepared statement for `sql`, from the cache when it was prepared before. */
  private prepared(sql: string): Database.Statement<Param[], { id: string; json: string }> {
    let statement = this.statements.get(sql);
    if (statement) {
      this.statements.delete(sql); // re-inserted below: Map order is the recency order
    } else {
      statement = this.db.prepare<Param[], { id: string; json: string }>(sql);
      if (this.statements.size >= STATEMENT_CACHE_SIZE) {
        const oldest = this.statements.keys().next();
        if (!oldest.done) this.statements.delete(oldest.value);
      }
    }
    this.statements.set(sql, statement);
    return statement;
  }

  remove(ids: readonly string[]): string[] {
    const removed: string[] = [];
    for (const id of ids) {
      const row = this.stmt.remove.get(id);
      if (!row) continue;
      this.stmt.removeTags.run(id);
      removed.push(id);
      if (row.kind !== KIND.keyPackage) continue;
      const held = this.inventory.remove(row.pubkey, id);
      if (held) this.onUndo(() => this.inventory.add(row.pubkey, held));
    }
    return removed;
  }

  deleteSlot(slot: Slot, until: number): string[] {
    this.stmt.deleteSlot.run(slot.kind, slot.pubkey, slot.d, until);
    return this.remove(this.slotVersions(slot).filter((v) => v.created_at <= until).map((v) => v.id));
  }

  slotDeletedUntil(slot: Slot): number | undefined {
    return this.stmt.slotDeletedUntil.get(slot.kind, slot.pubkey, slot.d)?.until;
  }

  countKeyPackages(nowSeconds: number): number {
    return this.stmt.countKeyPackages.get(nowSeconds)?.n ?? 0;
  }

  consume(ids: readonly string[], owner: string, nowSeconds: number): void {
    for (const id of ids) {
      if (this.stmt.markConsumed.run(nowSeconds, id, owner).changes > 0) {
        const held = this.inventory.remove(owner, id);
        if (held) this.onUndo(() => this.inventory.add(owner, held));
        continue;
      }
      // Not a live event of the owner's: it cannot be handed out again all the same.
      this.remove([id]);
      this.addTombstone(id, owner, 'consumed', nowSeconds);
    }
  }

  /**
   * A consumed event stored again, past kp-pub-no-replay (a relay run with a fault): its row's
   * tombstone moves to the tombstones table, so the event is stored anew and stays refused after.
   */
  private bury(id: string): void {
    const row = this.stmt.bury.get(id);
    if (!row) return;
    this.stmt.removeTags.run(id);
    this.addTombstone(id, row.pubkey, 'consumed', row.consumedAt);
  }

  tombstone(id: string, pubkey: string): Tombstone | undefined {
    if (this.stmt.consumed.get(id, pubkey)) return { pubkey, reason: 'consumed' };
    return this.stmt.tombstone.get(id, pubkey);
  }

  addTombstone(id: string, pubkey: string, reason: TombstoneReason, nowSeconds: number): void {
    this.stmt.addTombstone.run(id, pubkey, reason, nowSeconds);
  }

  chargedQueries(requester: string, owner: string, sinceMs: number): number {
    return this.ledger(requester).queriesFor(owner, sinceMs);
  }

  servedTo(requester: string, sinceMs: number): number {
    return this.ledger(requester).servedSince(sinceMs);
  }

  charge(requester: string, owner: string, atMs: number, served: number): void {
    const ledger = this.ledger(requester); // loaded before the row goes in, or it would count it twice
    this.stmt.charge.run(requester, owner, atMs, served);
    const charge = { owner, atMs, served };
    ledger.add(charge);
    this.onUndo(() => ledger.undo(charge));
  }

  /** A requester's charges, from memory, or loaded from the charges table. */
  private ledger(requester: string): RequesterCharges {
    let ledger = this.ledgers.get(requester);
    if (!ledger) {
      ledger = new RequesterCharges(this.stmt.charges.all(requester));
      this.ledgers.set(requester, ledger);
      this.onUndo(() => this.ledgers.delete(requester));
    }
    return ledger;
  }

  sweep(nowSeconds: number, chargesBeforeMs: number): number {
    return this.transaction(() => {
      const removed = this.remove(this.stmt.expired.all(nowSeconds).map((r) => r.id));
      this.stmt.pruneCharges.run(chargesBeforeMs);
      for (const [requester, ledger] of this.ledgers) {
        ledger.prune(chargesBeforeMs);
        if (ledger.size === 0) this.ledgers.delete(requester);
      }
      return removed.length;
    });
  }

  close(): void {
    this.commitGroup();
    this.checkpointer?.close();
    if (this.db.open) this.db.close();
  }
}
