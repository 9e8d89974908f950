/**
 * What SqliteStore holds in memory beside SQLite for the hand-out path: each
 * owner's KeyPackages in hand-out order (keypackage-inventory.ts) and each
 * requester's charges (charge-ledger.ts). SQLite stays the truth, so after
 * any sequence of stores, hand-outs, deletions, sweeps and transactions that
 * throw, the pick must equal what a second connection reads from the file,
 * and the ledger must count what a plain list of charges counts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyPackage } from '../../fixtures/events.js';
import { newKeys } from '../../protocol/crypto.js';
import type { NostrEvent } from '../../protocol/messages.js';
import { KIND, TAG } from '../../protocol/profile.js';
import { storagePolicy } from '../core/event.js';
import { RULES } from '../rules/index.js';
import { RequesterCharges, type Charge } from '../store/charge-ledger.js';
import { KeyPackageInventory, type Held } from '../store/keypackage-inventory.js';
import { SqliteStore } from '../store/sqlite-store.js';

const K = KIND.keyPackage;
const NOW = 2_000_000_000;
const OWNERS = 3;
const EACH = 8;

/** Genuine KeyPackages, EACH per owner; created_at in pairs so ids break ties; every third expires at NOW + 50. */
let pool: NostrEvent[][] = [];
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kp-store-memory-'));
  pool = await Promise.all(
    Array.from({ length: OWNERS }, async () => {
      const owner = newKeys();
      return Promise.all(
        Array.from({ length: EACH }, (_, i) =>
          keyPackage(owner, { createdAt: NOW - 1000 + Math.floor(i / 2), extraTags: i % 3 === 2 ? [[TAG.expiration, String(NOW + 50)]] : [] }),
        ),
      );
    }),
  );
}, 60_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Op =
  | { op: 'store'; owner: number; k: number }
  | { op: 'handOut'; owner: number; n: number; order: 'oldest-first' | 'newest-first' }
  | { op: 'remove'; owner: number; k: number }
  | { op: 'thrown'; owner: number; k: number; n: number }
  | { op: 'sweep'; at: number }
  | { op: 'check' };

const owner = fc.integer({ min: 0, max: OWNERS - 1 });
const k = fc.integer({ min: 0, max: EACH - 1 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('store' as const), owner, k }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('handOut' as const), owner, n: fc.integer({ min: 1, max: 3 }), order: fc.constantFrom('oldest-first' as const, 'newest-first' as const) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('remove' as const), owner, k }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('thrown' as const), owner, k, n: fc.integer({ min: 1, max: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('sweep' as const), at: fc.constantFrom(NOW, NOW + 100) }) },
  { weight: 3, arbitrary: fc.constant({ op: 'check' as const }) },
);

/** kp-handout-order read straight from the file: live (unconsumed, unexpired) KeyPackages of the owner by created_at, then id. */
function fromFile(reader: Database.Database, pubkey: string, nowSeconds: number): string[] {
  return reader
    .prepare<[string, number], { id: string }>(`SELECT id FROM events WHERE kind = ${K} AND pubkey = ? AND consumed_at IS NULL AND (expires_at IS NULL OR expires_at > ?) ORDER BY created_at, id`)
    .all(pubkey, nowSeconds)
    .map((r) => r.id);
}

class Thrown extends Error {}

function apply(store: SqliteStore, op: Op, nowSeconds: number): void {
  if (op.op === 'check') return;
  const events = pool[op.op === 'sweep' ? 0 : op.owner]!;
  const pubkey = events[0]!.pubkey;
  const insert = (e: NostrEvent): void => void store.insert(e, storagePolicy(RULES, e));
  const handOut = (n: number, order: 'oldest-first' | 'newest-first'): void => {
    const { take } = store.pickKeyPackages(pubkey, [{ kinds: [K], authors: [pubkey] }], n, order, nowSeconds);
    store.consume(
      take.map((e) => e.id),
      pubkey,
      nowSeconds,
    );
  };
  switch (op.op) {
    case 'store':
      return store.transaction(() => insert(events[op.k]!));
    case 'handOut':
      return store.transaction(() => handOut(op.n, op.order));
    case 'remove':
      return void store.transaction(() => store.remove([events[op.k]!.id]));
    case 'thrown':
      // Stores, picks (which loads the owner's list, the store included, unless loaded), hands out, then
      // throws: SQLite undoes it all, and memory must too.
      try {
        store.transaction(() => {
          insert(events[op.k]!);
          store.pickKeyPackages(pubkey, [{ kinds: [K] }], 1, 'oldest-first', nowSeconds);
          handOut(op.n, 'oldest-first');
          throw new Thrown();
        });
      } catch (err) {
        if (!(err instanceof Thrown)) throw err;
      }
      return;
    case 'sweep':
      return void store.sweep(op.at, 0);
  }
}

describe('the KeyPackage inventory in memory agrees with SQLite', () => {
  for (const [capacity, prefix] of [
    [100_000, 16],
    [4, 16],
    [100_000, 2],
    [4, 1],
  ] as const) {
    it(`after any sequence of stores, hand-outs, removals, sweeps and undone transactions (capacity ${capacity}, first ${prefix} loaded)`, () => {
      let run = 0;
      fc.assert(
        fc.property(fc.array(opArb, { minLength: 1, maxLength: 30 }), (ops) => {
          const file = join(dir, `capacity-${capacity}-${prefix}-${run++}.sqlite`);
          const store = new SqliteStore(file, { inventoryCapacity: capacity, inventoryPrefix: prefix });
          const reader = new Database(file, { readonly: true });
          try {
            let nowSeconds = NOW;
            for (const op of ops) {
              apply(store, op, nowSeconds);
              if (op.op === 'sweep') nowSeconds = op.at;
              if (op.op !== 'check') continue;
              // As a hand-out asks, which loads no more of an owner's list than it must.
              for (const events of pool) {
                const pubkey = events[0]!.pubkey;
                const expected = fromFile(reader, pubkey, nowSeconds);
                const two = store.pickKeyPackages(pubkey, [{ kinds: [K], authors: [pubkey] }], 2, 'oldest-first', nowSeconds);
                expect(two.take.map((e) => e.id)).toEqual(expected.slice(0, 2));
                expect(two.ownerHasMore).toBe(expected.length > 2);
              }
            }
            // At the end, every owner's whole list, both ways.
            for (const events of pool) {
              const pubkey = events[0]!.pubkey;
              const expected = fromFile(reader, pubkey, nowSeconds);
              const all = store.pickKeyPackages(pubkey, [{ kinds: [K] }], EACH, 'oldest-first', nowSeconds);
              expect(all.take.map((e) => e.id)).toEqual(expected);
              const newest = store.pickKeyPackages(pubkey, [{ authors: [pubkey] }], 2, 'newest-first', nowSeconds);
              expect(newest.take.map((e) => e.id)).toEqual(expected.slice(-2).reverse());
              // NIP-01's until is an upper bound, 0 included (nostr-tools' matchFilter alone would skip it).
              expect(store.pickKeyPackages(pubkey, [{ until: 0 }], EACH, 'oldest-first', nowSeconds).take).toEqual([]);
            }
          } finally {
            reader.close();
            store.close();
          }
        }),
        { numRuns: 120 },
      );
    });
  }
});

describe('a partly loaded list holds exactly the stored KeyPackages up to its boundary', () => {
  const held = (createdAt: number, id: string): Held => ({ id: id.repeat(64), createdAt, expiresAt: null });
  // Stored: a1 a2 | b3 b4 (by created_at); loaded: the first two.
  const load = (): KeyPackageInventory => {
    const inventory = new KeyPackageInventory(100);
    inventory.load('owner', [held(1, 'a'), held(2, 'b'), held(3, 'c')], 2);
    return inventory;
  };
  const ids = (inventory: KeyPackageInventory): string[] => inventory.loaded('owner')?.items.map((kp) => kp.id[0]!) ?? [];

  it('a new KeyPackage ordered after the boundary is left to SQLite: between them may lie stored ones the list does not hold', () => {
    const inventory = load();
    expect(inventory.add('owner', held(9, 'z'))).toBe(false);
    expect(ids(inventory)).toEqual(['a', 'b']);
    expect(KeyPackageInventory.pick('owner', inventory.loaded('owner')!, [{}], 3, 'oldest-first', NOW)).toBe('more');
  });

  it('one ordered before the boundary joins the list in its place', () => {
    const inventory = load();
    expect(inventory.add('owner', held(1, 'e'))).toBe(true);
    expect(ids(inventory)).toEqual(['a', 'e', 'b']);
    expect(KeyPackageInventory.pick('owner', inventory.loaded('owner')!, [{}], 2, 'oldest-first', NOW)).toEqual({ ids: ['a'.repeat(64), 'e'.repeat(64)], ownerHasMore: true });
  });
});

describe("a requester's charges in memory count what the charges table counts", () => {
  const chargeArb = fc.record({ owner: fc.constantFrom('a', 'b', 'c'), atMs: fc.integer({ min: 0, max: 60 }), served: fc.integer({ min: 0, max: 3 }) });
  type Step = { add: Charge } | { undo: true } | { prune: number };
  const stepArb: fc.Arbitrary<Step> = fc.oneof(
    { weight: 5, arbitrary: chargeArb.map((add) => ({ add })) },
    { weight: 1, arbitrary: fc.constant({ undo: true as const }) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: 60 }).map((prune) => ({ prune })) },
  );

  it('through the store: what it counts equals what a second connection sums from the charges table, undone transactions included', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(chargeArb, fc.boolean()), { maxLength: 20 }), fc.integer({ min: -1, max: 61 }), (charges, sinceMs) => {
        const file = join(dir, `charges-${Math.random().toString(36).slice(2)}.sqlite`);
        const store = new SqliteStore(file);
        const reader = new Database(file, { readonly: true });
        try {
          for (const [c, thrown] of charges) {
            try {
              store.transaction(() => {
                store.charge('requester', c.owner, c.atMs, c.served);
                if (thrown) throw new Thrown();
              });
            } catch (err) {
              if (!(err instanceof Thrown)) throw err;
            }
          }
          const sum = reader.prepare<[number], { n: number }>("SELECT coalesce(sum(served), 0) AS n FROM charges WHERE requester = 'requester' AND at_ms > ?").get(sinceMs)?.n;
          expect(store.servedTo('requester', sinceMs)).toBe(sum);
          for (const o of ['a', 'b', 'c']) {
            const n = reader.prepare<[string, number], { n: number }>("SELECT count(*) AS n FROM charges WHERE requester = 'requester' AND owner = ? AND at_ms > ?").get(o, sinceMs)?.n;
            expect(store.chargedQueries('requester', o, sinceMs)).toBe(n);
          }
        } finally {
          reader.close();
          store.close();
        }
      }),
      { numRuns: 100 },
    );
  });

  it('kp-rate-queries and kp-rate-served windows, with charges out of time order, undone and pruned', () => {
    fc.assert(
      fc.property(fc.array(stepArb, { maxLength: 40 }), fc.integer({ min: -1, max: 61 }), (steps, sinceMs) => {
        const ledger = new RequesterCharges();
        let table: Charge[] = [];
        const added: Charge[] = [];
        for (const step of steps) {
          if ('add' in step) {
            ledger.add(step.add);
            table.push(step.add);
            added.push(step.add);
          } else if ('undo' in step) {
            // A rolled-back transaction takes back the charge it made last.
            const last = added.pop();
            if (!last) continue;
            ledger.undo(last);
            table.splice(table.lastIndexOf(last), 1);
          } else {
            ledger.prune(step.prune);
            table = table.filter((c) => c.atMs > step.prune);
            added.splice(0, added.length, ...added.filter((c) => table.includes(c)));
          }
        }
        const inWindow = table.filter((c) => c.atMs > sinceMs);
        expect(ledger.size).toBe(table.length);
        expect(ledger.servedSince(sinceMs)).toBe(inWindow.reduce((sum, c) => sum + c.served, 0));
        for (const o of ['a', 'b', 'c']) expect(ledger.queriesFor(o, sinceMs)).toBe(inWindow.filter((c) => c.owner === o).length);
      }),
      { numRuns: 300 },
    );
  });
});
