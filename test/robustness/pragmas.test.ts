/**
 * kp-robust-durable (PROFILE.md §8.2) rests on two lines of
 * reference-relay/store/sqlite-store.ts, in SqliteStore's constructor:
 *
 *   this.db.pragma('journal_mode = WAL');
 *   this.db.pragma('synchronous = FULL');
 *
 * With synchronous=FULL a WAL commit is fsynced before the relay sends the
 * OK or the hand-out it decided. A SIGKILL test (crash.test.ts) cannot see
 * that line go: the kernel's page cache outlives the process, so an unsynced
 * commit still reaches the file. So this pins the pragmas on every database
 * handle the relay opens: better-sqlite3 is wrapped to record each handle,
 * the relay is started the way `kpsuite relay` starts it (startRelay, which
 * builds its SqliteStore) on a file database, driven a little (a publish and
 * a hand-out, in case a handle is opened lazily), and each handle is asked.
 * synchronous is per connection and not stored in the file, which is why it
 * must be read on the relay's own handles and not on a second one. The
 * checkpoint thread's handle (`kpsuite relay` opens one on a worker thread,
 * where this mock does not reach) is asked in
 * reference-relay/test/checkpoint-thread.test.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { connectAs, publishKeyPackages } from '../../client/choreography.js';
import { newKeys } from '../../protocol/crypto.js';
import { KIND } from '../../protocol/profile.js';
import { startRelay } from '../../reference-relay/server.js';
import { SqliteStore } from '../../reference-relay/store/sqlite-store.js';

/** Every better-sqlite3 handle opened in this file, in order. */
const opened = vi.hoisted(() => [] as Database.Database[]);

vi.mock('better-sqlite3', async (importOriginal) => {
  const real = (await importOriginal<{ default: typeof Database }>()).default;
  class Recorded extends real {
    constructor(...args: ConstructorParameters<typeof Database>) {
      super(...args);
      opened.push(this);
    }
  }
  return { default: Recorded };
});

/** synchronous=2 is FULL (0 OFF, 1 NORMAL, 3 EXTRA). */
const FULL = 2;

/** What each handle says, beside what kp-robust-durable needs it to say. */
function pragmasOf(handles: readonly Database.Database[]): { said: unknown[]; needed: unknown[] } {
  return {
    said: handles.map((db) => ({ file: db.name, journal_mode: db.pragma('journal_mode', { simple: true }), synchronous: db.pragma('synchronous', { simple: true }) })),
    needed: handles.map((db) => ({ file: db.name, journal_mode: 'wal', synchronous: FULL })),
  };
}

let dir: string;
afterEach(() => {
  opened.splice(0);
  rmSync(dir, { recursive: true, force: true });
});

describe('kp-robust-durable: the relay opens its database in WAL with synchronous=FULL', () => {
  it('every handle the running relay opened on its file database says journal_mode=wal and synchronous=2 (FULL)', async () => {
    dir = mkdtempSync(join(tmpdir(), 'kp-pragmas-'));
    const file = join(dir, 'relay.sqlite');
    const relay = await startRelay({ host: '127.0.0.1', port: 0, db: file });
    try {
      const owner = newKeys();
      await publishKeyPackages(relay.url, owner, 2);
      const { client } = await connectAs(relay.url, newKeys());
      expect((await client.req([{ kinds: [KIND.keyPackage], authors: [owner.pubkey], limit: 1 }])).events).toHaveLength(1);
      await client.close();

      expect(opened.map((db) => db.name)).toEqual([file]);
      const { said, needed } = pragmasOf(opened);
      expect(said).toEqual(needed);
    } finally {
      await relay.close();
    }
  });

  it('the check sees a changed pragma: a handle set to synchronous=NORMAL or journal_mode=DELETE fails it', () => {
    dir = mkdtempSync(join(tmpdir(), 'kp-pragmas-'));
    const store = new SqliteStore(join(dir, 'relay.sqlite'));
    try {
      expect(opened).toHaveLength(1);
      const [db] = opened as [Database.Database];
      // What the store's constructor would do with `synchronous = NORMAL` and without WAL.
      db.pragma('synchronous = NORMAL');
      db.pragma('journal_mode = DELETE');
      const { said, needed } = pragmasOf(opened);
      expect(said).not.toEqual(needed);
      expect(said).toEqual([{ file: db.name, journal_mode: 'delete', synchronous: 1 }]);
    } finally {
      store.close();
    }
  });
});
