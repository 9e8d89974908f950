/**
 * The checkpoint thread (checkpoint-thread.ts): copies the WAL's committed
 * pages into the database file when asked, on its own connection, PASSIVE so
 * it never blocks the relay's writes, and says how far it got. Asked to catch
 * up, it checkpoints again until little was appended during its last one.
 */
import Database from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';
import type { CheckpointAnswer } from './checkpoint-thread.js';

const port = parentPort;
if (!port) throw new Error('reference-relay/store/checkpoint-worker.js runs as a worker thread');

const db = new Database((workerData as { path: string }).path);
db.pragma('busy_timeout = 5000');
// A checkpoint fsyncs the database file before the WAL can be started over (kp-robust-durable).
db.pragma('synchronous = FULL');
port.postMessage({
  kind: 'ready',
  journal_mode: db.pragma('journal_mode', { simple: true }),
  synchronous: db.pragma('synchronous', { simple: true }),
} satisfies CheckpointAnswer);

/** Frames in the WAL, from a PASSIVE checkpoint (which copied every one it could). */
const passive = (): number => (db.pragma('wal_checkpoint(PASSIVE)') as { log: number }[])[0]?.log ?? 0;

/** Frames appended during the last of several checkpoints under which the WAL counts as caught up. */
const CAUGHT_UP_FRAMES = 256;
const MAX_ROUNDS = 8;

port.on('message', (ask: 'checkpoint' | 'catch-up') => {
  try {
    let walFrames = passive();
    // catch-up: again while the writer appended much during the last one, so what is left for it is small.
    for (let round = 1; ask === 'catch-up' && round < MAX_ROUNDS; round++) {
      const before = walFrames;
      walFrames = passive();
      const appended = walFrames - before;
      if (appended >= 0 && appended < CAUGHT_UP_FRAMES) break;
    }
    port.postMessage({ kind: 'done', ask, walFrames } satisfies CheckpointAnswer);
  } catch (err) {
    port.postMessage({ kind: 'failed', error: String(err) } satisfies CheckpointAnswer);
  }
});
