/**
 * A consumed KeyPackage keeps its row, marked and emptied, as its tombstone (sqlite-store.ts):
 * it must be out of every answer all the same (kp-handout-consume), refused if published again
 * (kp-pub-no-replay), left out of the partial indexes a hand-out walks, and a file written before this
 * layout must open with what it held.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { keyPackage } from '../../fixtures/events.js';
import { newKeys } from '../../protocol/crypto.js';
import type { Filter } from '../../protocol/messages.js';
import { KIND, TAG } from '../../protocol/profile.js';
import { storagePolicy } from '../core/event.js';
import { RULES } from '../rules/index.js';
import { SqliteStore } from '../store/sqlite-store.js';
import type { QueryOptions } from '../store/store.js';

const K = KIND.keyPackage;
const NOW = 2_000_000_000;
const dirs: string[] = [];
const stores: SqliteStore[] = [];

afterEach(() => {
  stores.splice(0).forEach((s) => s.close());
  dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true }));
});

function open(path = ':memory:'): SqliteStore {
  const store = new SqliteStore(path);
  stores.push(store);
  return store;
}

function tempFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'kpsuite-consumed-'));
  dirs.push(dir);
  return join(dir, 'relay.sqlite');
}

const ownersView = (owner: string): QueryOptions => ({ nowSeconds: NOW, keyPackageOwners: new Set([owner]), giftWrapReaders: 'everyone', maxLimit: 500 });
const refOf = (kp: { tags: string[][] }): string => kp.tags.find((t) => t[0] === TAG.keyPackageRef)![1]!;

describe('a consumed KeyPackage', () => {
  it('is out of every answer: the pick from memory and from SQL, queries by author, id and tag, the count; and it is tombstoned as consumed', async () => {
    const s = open();
    const owner = newKeys();
    const [first, second] = [await keyPackage(owner, { createdAt: NOW - 20 }), await keyPackage(owner, { createdAt: NOW - 10 })];
    for (const kp of [first!, second!]) s.insert(kp, storagePolicy(RULES, kp));
    s.transaction(() => s.consume([first!.id], owner.pubkey, NOW));

    const byAuthor: Filter = { kinds: [K], authors: [owner.pubkey] };
    const byTag: Filter = { kinds: [K], [`#${TAG.keyPackageRef}` as const]: [refOf(first!), refOf(second!)] };
    expect(s.pickKeyPackages(owner.pubkey, [byAuthor], 2, 'oldest-first', NOW).take.map((e) => e.id)).toEqual([second!.id]);
    // A filter with a tag condition is picked in SQL rather than from the in-memory inventory.
    expect(s.pickKeyPackages(owner.pubkey, [byTag], 2, 'oldest-first', NOW)).toMatchObject({ take: [{ id: second!.id }], ownerHasMore: false });
    expect(s.query(byAuthor, ownersView(owner.pubkey)).map((e) => e.id)).toEqual([second!.id]);
    // The author and time indexes still hold the consumed row: the query leaves it out at the row.
    expect(s.query({ authors: [owner.pubkey] }, ownersView(owner.pubkey)).map((e) => e.id)).toEqual([second!.id]);
    expect(s.query({ since: NOW - 30 }, ownersView(owner.pubkey)).map((e) => e.id)).toEqual([second!.id]);
    expect(s.query({ ids: [first!.id] }, ownersView(owner.pubkey))).toEqual([]);
    expect(s.query(byTag, ownersView(owner.pubkey)).map((e) => e.id)).toEqual([second!.id]);
    expect(s.get(first!.id)).toBeUndefined();
    expect(s.countKeyPackages(NOW)).toBe(1);
    expect(s.remove([first!.id])).toEqual([]);
    expect(s.tombstone(first!.id, owner.pubkey)).toEqual({ pubkey: owner.pubkey, reason: 'consumed' });
    expect(s.tombstone(first!.id, newKeys().pubkey)).toBeUndefined();
  });

  it('stored again past kp-pub-no-replay (a relay with a fault) is served anew, and stays tombstoned as consumed', async () => {
    const s = open();
    const owner = newKeys();
    const kp = await keyPackage(owner, { createdAt: NOW - 20 });
    s.insert(kp, storagePolicy(RULES, kp));
    s.transaction(() => s.consume([kp.id], owner.pubkey, NOW));
    expect(s.insert(kp, storagePolicy(RULES, kp))).toBe('stored');
    expect(s.get(kp.id)).toEqual(kp);
    expect(s.pickKeyPackages(owner.pubkey, [{ kinds: [K] }], 2, 'oldest-first', NOW).take.map((e) => e.id)).toEqual([kp.id]);
    expect(s.tombstone(kp.id, owner.pubkey)).toEqual({ pubkey: owner.pubkey, reason: 'consumed' });
    expect(s.insert(kp, storagePolicy(RULES, kp))).toBe('duplicate');
  });

  it('leaves the row, emptied, with its consumed_at: what the file holds after a restart', async () => {
    const file = tempFile();
    const owner = newKeys();
    const kp = await keyPackage(owner, { createdAt: NOW - 20 });
    const s = open(file);
    s.insert(kp, storagePolicy(RULES, kp));
    s.transaction(() => s.consume([kp.id], owner.pubkey, NOW));
    s.close();
    const reader = new Database(file, { readonly: true });
    try {
      expect(reader.prepare('SELECT json, consumed_at AS consumedAt FROM events WHERE id = ?').get(kp.id)).toEqual({ json: '', consumedAt: NOW });
    } finally {
      reader.close();
    }
    expect(open(file).tombstone(kp.id, owner.pubkey)).toEqual({ pubkey: owner.pubkey, reason: 'consumed' });
  });
});

describe('the indexes', () => {
  /** Every index the plan names: a query without the live condition could not use the partial ones. */
  const indexesOf = (s: SqliteStore, filter: Filter, opts: QueryOptions): string[] =>
    s.explainQuery(filter, opts).flatMap((step) => /INDEX (\w+)/.exec(step)?.slice(1) ?? []);

  it('answer queries by kind and author (live rows only), by author, and by time; none walks the table', async () => {
    const s = open();
    const owner = newKeys().pubkey;
    const opts = ownersView(owner);
    expect(indexesOf(s, { kinds: [K], authors: [owner] }, opts)).toContain('live_by_kind_author');
    expect(indexesOf(s, { authors: [owner] }, opts)).toContain('events_by_author');
    expect(indexesOf(s, { since: NOW - 60 }, opts)).toContain('events_by_time');
    for (const filter of [{ kinds: [K], authors: [owner] }, { authors: [owner] }, { since: NOW - 60 }]) {
      expect(s.explainQuery(filter, opts).filter((step) => /^SCAN events\b(?! USING)/.test(step))).toEqual([]);
    }
  });

  it('find the rows of every statement the store prepares over events, the sweep of expired events included', () => {
    const s = open();
    // The store's own statements (private): a statement without the live condition could not use the partial indexes.
    const statements = Object.entries((s as unknown as { stmt: Record<string, Database.Statement> }).stmt).filter(([, st]) => /\b(FROM|UPDATE) events\b/.test(st.source));
    expect(statements.map(([name]) => name)).toContain('expired');
    const db = (s as unknown as { db: Database.Database }).db;
    for (const [name, st] of statements) {
      const params = Array.from({ length: st.source.split('?').length - 1 }, () => 0);
      const plan = db.prepare<number[], { detail: string }>(`EXPLAIN QUERY PLAN ${st.source}`).all(...params).map((row) => row.detail);
      expect({ name, scans: plan.filter((step) => /^SCAN events\b(?! USING)/.test(step)) }).toEqual({ name, scans: [] });
    }
  });
});

describe('a file from before consumed rows were kept', () => {
  it('opens with what it held: its KeyPackages handed out in order, its consumed tombstones refused, its kind-author and expiry indexes replaced by live ones', async () => {
    const file = tempFile();
    const owner = newKeys();
    const kps = [await keyPackage(owner, { createdAt: NOW - 30 }), await keyPackage(owner, { createdAt: NOW - 20 })];
    const consumedBefore = await keyPackage(owner, { createdAt: NOW - 40 });
    // The layout as it was: no consumed_at, indexes over every event, a consumed KeyPackage's row deleted and tombstoned.
    const old = new Database(file);
    old.pragma('journal_mode = WAL');
    old.exec(`CREATE TABLE events (id TEXT PRIMARY KEY, pubkey TEXT NOT NULL, kind INTEGER NOT NULL, created_at INTEGER NOT NULL,
        d_tag TEXT, expires_at INTEGER, json TEXT NOT NULL);
      CREATE INDEX events_by_kind_author ON events(kind, pubkey, created_at, id);
      CREATE INDEX events_by_author ON events(pubkey, created_at);
      CREATE INDEX events_by_time ON events(created_at);
      CREATE INDEX events_by_expiry ON events(expires_at) WHERE expires_at IS NOT NULL;
      CREATE TABLE tombstones (id TEXT NOT NULL, pubkey TEXT NOT NULL, reason TEXT NOT NULL, at INTEGER NOT NULL, PRIMARY KEY (id, pubkey));`);
    const insert = old.prepare('INSERT INTO events (id, pubkey, kind, created_at, json) VALUES (?, ?, ?, ?, ?)');
    for (const kp of kps) insert.run(kp.id, kp.pubkey, kp.kind, kp.created_at, JSON.stringify(kp));
    old.prepare('INSERT INTO tombstones VALUES (?, ?, ?, ?)').run(consumedBefore.id, owner.pubkey, 'consumed', NOW - 5);
    old.close();

    const s = open(file);
    expect(s.tombstone(consumedBefore.id, owner.pubkey)).toEqual({ pubkey: owner.pubkey, reason: 'consumed' });
    const pick = s.pickKeyPackages(owner.pubkey, [{ kinds: [K] }], 1, 'oldest-first', NOW);
    expect(pick.take.map((e) => e.id)).toEqual([kps[0]!.id]);
    s.transaction(() => s.consume([kps[0]!.id], owner.pubkey, NOW));
    expect(s.pickKeyPackages(owner.pubkey, [{ kinds: [K] }], 2, 'oldest-first', NOW).take.map((e) => e.id)).toEqual([kps[1]!.id]);
    s.close();

    const reader = new Database(file, { readonly: true });
    try {
      const indexes = reader.prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events' AND sql IS NOT NULL").all();
      expect(indexes.map((i) => i.name).sort()).toEqual(['events_by_author', 'events_by_time', 'live_by_expiry', 'live_by_kind_author']);
    } finally {
      reader.close();
    }
  });
});
