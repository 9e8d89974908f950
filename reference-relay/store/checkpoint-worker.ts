/**
 * The checkpoint thread (checkpoint-thread.ts): copies the WAL's committed
 * pages into the database file when asked, on its own connection, PASSIVE so
 * it never blocks the relay's writes, and says how far it got.
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

port.on('message', () => {
  try {
    const [result] = db.pragma('wal_checkpoint(PASSIVE)') as { busy: number; log: number; checkpointed: number }[];
    port.postMessage({ kind: 'done', walFrames: result?.log ?? 0, copied: result?.checkpointed ?? 0 } satisfies CheckpointAnswer);
  } catch (err) {
    port.postMessage({ kind: 'failed', error: String(err) } satisfies CheckpointAnswer);
  }
});
