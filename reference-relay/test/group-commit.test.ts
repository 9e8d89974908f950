/**
 * Group commit (reference-relay/store/sqlite-store.ts): the writes of one turn
 * of the event loop share one commit, and nothing that reads them leaves the
 * relay before that commit (kp-robust-durable). Seen from a second SQLite
 * connection on the same file, which sees only what was committed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { newKeys } from '../../protocol/crypto.js';
import { keyPackage } from '../../fixtures/events.js';
import { storagePolicy } from '../core/event.js';
import { RULES } from '../rules/index.js';
import { SqliteStore } from '../store/sqlite-store.js';
import { startTestRelay, ClientPool, type RunningRelay } from './harness.js';

let dir: string;
let file: string;
let store: SqliteStore | undefined;
let observer: Database.Database | undefined;
const relays: RunningRelay[] = [];
const pool = new ClientPool();

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'kp-relay-group-commit-'));
  file = join(dir, 'relay.sqlite');
});
afterEach(async ({ task }) => {
  await pool.closeAll(task.result?.state === 'fail');
  await Promise.all(relays.splice(0).map((r) => r.close()));
  observer?.close();
  store?.close();
  store = observer = undefined;
  rmSync(dir, { recursive: true, force: true });
});

/** What another connection sees: only committed rows. */
const committedIds = (): string[] => observer!.prepare<[], { id: string }>('SELECT id FROM events ORDER BY id').all().map((r) => r.id);
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('SqliteStore group commit', () => {
  it('commits the transactions of one turn together, and calls whenDurable only after the commit', async () => {
    store = new SqliteStore(file, { groupCommit: true });
    observer = new Database(file, { readonly: true });
    const kps = await Promise.all([0, 1, 2].map(() => keyPackage(newKeys())));
    const before = { ...store.commits };
    const commitSeconds: number[] = [];
    store.observeCommits((seconds) => commitSeconds.push(seconds));
    const durable: string[] = [];
    for (const kp of kps) {
      expect(store.transaction(() => store!.insert(kp, storagePolicy(RULES, kp)))).toBe('stored');
      store.whenDurable(() => durable.push(kp.id));
    }
    // Written, readable on the relay's own connection, but not committed, so not announced.
    expect(store.get(kps[0]!.id)?.id).toBe(kps[0]!.id);
    expect(committedIds()).toEqual([]);
    expect(durable).toEqual([]);

    await nextTurn();
    expect(durable).toEqual(kps.map((kp) => kp.id));
    expect(committedIds()).toEqual(kps.map((kp) => kp.id).sort());
    expect(store.commits.groups - before.groups).toBe(1);
    expect(store.commits.transactions - before.transactions).toBe(3);
    // The one COMMIT was timed (/metrics relay_store_commit_seconds).
    expect(commitSeconds).toHaveLength(1);
    expect(commitSeconds[0]).toBeGreaterThan(0);
  });

  it('undoes a transaction that throws and keeps the others of its group', async () => {
    store = new SqliteStore(file, { groupCommit: true });
    observer = new Database(file, { readonly: true });
    const [kept, undone] = await Promise.all([keyPackage(newKeys()), keyPackage(newKeys())]);
    store.transaction(() => store!.insert(kept!, storagePolicy(RULES, kept!)));
    expect(() =>
      store!.transaction(() => {
        store!.insert(undone!, storagePolicy(RULES, undone!));
        throw new Error('refused after the insert');
      }),
    ).toThrow('refused after the insert');
    await nextTurn();
    expect(committedIds()).toEqual([kept!.id]);
  });

  it('without group commit, each transaction is committed before it returns', async () => {
    store = new SqliteStore(file);
    observer = new Database(file, { readonly: true });
    const kp = await keyPackage(newKeys());
    store.transaction(() => store!.insert(kp, storagePolicy(RULES, kp)));
    expect(committedIds()).toEqual([kp.id]);
    let called = false;
    store.whenDurable(() => (called = true));
    expect(called).toBe(true);
  });

  it('commits what is open when the store closes', async () => {
    store = new SqliteStore(file, { groupCommit: true });
    const kp = await keyPackage(newKeys());
    store.transaction(() => store!.insert(kp, storagePolicy(RULES, kp)));
    store.close();
    observer = new Database(file, { readonly: true });
    expect(committedIds()).toEqual([kp.id]);
  });
});

describe('the relay with group commit', () => {
  it('acknowledges publishes sent together after fewer commits than transactions, each one committed when its OK arrives', async () => {
    const relay = await startTestRelay({ db: file });
    relays.push(relay);
    observer = new Database(file, { readonly: true });
    const owners = Array.from({ length: 8 }, () => newKeys());
    const kps = await Promise.all(owners.flatMap((o) => [0, 1, 2, 3, 4].map(() => keyPackage(o))));
    const clients = await Promise.all(owners.map((o) => pool.connectAs(relay.url, o)));
    const commits = (): { groups: number; transactions: number } => ({ ...(relay.core.store as SqliteStore).commits });
    const before = commits();
    // Five publishes in flight on each of eight connections; every OK is checked against the file the moment it arrives.
    const acked = await Promise.all(
      kps.map(async (kp, i) => {
        const ok = await clients[i % clients.length]!.publish(kp);
        return { ok: ok.ok, committed: committedIds().includes(kp.id) };
      }),
    );
    expect(acked).toEqual(kps.map(() => ({ ok: true, committed: true })));
    const after = commits();
    expect(after.transactions - before.transactions).toBe(kps.length);
    expect(after.groups - before.groups).toBeLessThan(kps.length);
  });
});
