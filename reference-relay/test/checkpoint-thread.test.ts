/**
 * WAL checkpoints on a worker thread (reference-relay/store/checkpoint-thread.ts):
 * the relay's connection stops checkpointing inside its commits, the thread
 * copies the WAL back, the WAL still starts over under writes that never
 * pause, and a dead thread hands checkpoints back to SQLite.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { keyPackage, textNote } from '../../fixtures/events.js';
import { newKeys } from '../../protocol/crypto.js';
import type { NostrEvent } from '../../protocol/messages.js';
import { storagePolicy } from '../core/event.js';
import { RULES } from '../rules/index.js';
import { SqliteStore } from '../store/sqlite-store.js';
import { waitUntil } from './harness.js';

let dir: string | undefined;
let store: SqliteStore | undefined;
afterEach(() => {
  store?.close();
  store = undefined;
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function openStore(opts: ConstructorParameters<typeof SqliteStore>[1]): SqliteStore {
  dir = mkdtempSync(join(tmpdir(), 'kp-checkpoint-'));
  store = new SqliteStore(join(dir, 'relay.sqlite'), opts);
  return store;
}

/** Events of about 6 KiB each (a kind 1 note), so a few hundred commits write a WAL of megabytes. */
function notes(count: number): NostrEvent[] {
  const author = newKeys();
  return Array.from({ length: count }, (_, i) => textNote(author, `${i} ${'x'.repeat(6000)}`));
}

describe('checkpoints on a worker thread', () => {
  it("turns off the relay connection's own checkpoints, and the thread's handle is in WAL with synchronous=FULL", async () => {
    const s = openStore({ groupCommit: true, checkpointThread: true });
    expect(s.setting('wal_autocheckpoint')).toBe(0);
    expect(s.setting('synchronous')).toBe(2);
    await expect(s.checkpointer?.pragmas).resolves.toEqual({ kind: 'ready', journal_mode: 'wal', synchronous: 2 });
    const owner = newKeys();
    const kp = await keyPackage(owner);
    s.transaction(() => s.insert(kp, storagePolicy(RULES, kp)));
    await nextTurn();
    await waitUntil(() => (s.checkpointer?.counts.checkpoints ?? 0) > 0, 5_000, 'a checkpoint by the thread');
    expect(s.checkpointer?.on).toBe('thread');
  });

  it('the WAL starts over under writes that never pause: the relay connection catches up past the threshold', async () => {
    const limit = 256 * 1024;
    const s = openStore({ groupCommit: true, checkpointThread: { catchUpFrames: 64, journalSizeLimit: limit } });
    const wal = (): number => statSync(join(dir ?? '', 'relay.sqlite-wal')).size;
    let largest = 0;
    // One commit a turn, 6 KiB each, 1,200 in all: about 2,400 frames, 9 MiB, were the WAL never started over.
    for (const note of notes(1200)) {
      s.transaction(() => s.insert(note, storagePolicy(RULES, note)));
      await nextTurn();
      largest = Math.max(largest, wal());
    }
    expect(s.checkpointer?.counts.catchUps).toBeGreaterThan(0);
    // Started over and truncated: well under the 9 MiB it would reach, and back under the limit at the end.
    expect(largest).toBeLessThan(4 * 1024 * 1024);
  });

  it('a dead thread hands checkpoints back to SQLite, and commits go on', async () => {
    const s = openStore({ groupCommit: true, checkpointThread: true });
    await s.checkpointer?.crash();
    await waitUntil(() => s.checkpointer?.on === 'commits', 5_000, 'the thread to be seen dead');
    expect(s.setting('wal_autocheckpoint')).toBe(1000);
    const [note] = notes(1) as [NostrEvent];
    expect(s.transaction(() => s.insert(note, storagePolicy(RULES, note)))).toBe('stored');
    await nextTurn();
    expect(s.get(note.id)?.id).toBe(note.id);
  });
});
