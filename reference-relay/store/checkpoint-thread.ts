/**
 * WAL checkpoints on a worker thread (issue: the relay at the machine's
 * limit). SQLite's automatic checkpoint runs inside the COMMIT that crosses
 * its threshold: the relay's thread would wait for the copy and the database
 * file's fsync. Here the relay's connection checkpoints no more on its own;
 * after its commits the thread is asked for a PASSIVE checkpoint, at most one
 * at a time and one per CHECKPOINT_EVERY_MS, which never blocks a writer.
 *
 * A passive checkpoint running beside a writer rarely ends with every frame
 * copied, and only then can the next write start the WAL over: left alone the
 * WAL would grow without bound. So once the thread reports the WAL past
 * `catchUpFrames`, it is asked to catch up (checkpoints again until little
 * was appended during its last one), and then the relay's connection
 * checkpoints that little, between two commits, and its next write starts the
 * WAL over; journal_size_limit then truncates the file. (Measured: without
 * the thread's catching up first, the relay's part took up to 34 ms.)
 *
 * If the thread dies, the relay's connection goes back to SQLite's automatic
 * checkpoints. Durability is unchanged either way: every commit is fsynced in
 * the WAL before anything that reads it is sent.
 */
import { Worker } from 'node:worker_threads';
import type Database from 'better-sqlite3';
import { workerScript } from '../worker-script.js';

export type CheckpointAnswer =
  | { kind: 'ready'; journal_mode: unknown; synchronous: unknown }
  | { kind: 'done'; ask: 'checkpoint' | 'catch-up'; walFrames: number }
  | { kind: 'failed'; error: string };

/** At most one checkpoint this often: each fsyncs the database file. */
const CHECKPOINT_EVERY_MS = 20;

/** SQLite's own default, for when the thread is gone. */
const AUTOCHECKPOINT_PAGES = 1000;

export interface CheckpointOptions {
  /** WAL frames past which the thread, then the relay's connection, catch up. Default 16,384 frames of 4 KiB, 64 MiB: measured, a larger WAL slows reads more than it saves. */
  catchUpFrames?: number;
  /** Bytes the WAL file is truncated to when it starts over. Default 64 MiB. */
  journalSizeLimit?: number;
}

export class CheckpointThread {
  private readonly worker: Worker;
  private running = false;
  /** Who catches up next: the thread (asked at the next commit), then the relay's connection. */
  private catchUp: 'none' | 'thread' | 'relay' = 'none';
  private lastEndMs = 0;
  private readonly catchUpFrames: number;
  private dead = false;
  /** What the thread's connection says of its pragmas (the test of kp-robust-durable reads it). */
  readonly pragmas: Promise<{ journal_mode: unknown; synchronous: unknown }>;
  /** Checkpoints the thread made, and the catch-ups the relay's connection made, for /metrics and the tests. */
  readonly counts = { checkpoints: 0, catchUps: 0 };

  constructor(
    path: string,
    private readonly db: Database.Database,
    opts: CheckpointOptions = {},
  ) {
    this.catchUpFrames = opts.catchUpFrames ?? 16_384;
    db.pragma('wal_autocheckpoint = 0');
    db.pragma(`journal_size_limit = ${Math.floor(opts.journalSizeLimit ?? 64 * 1024 * 1024)}`);
    this.worker = new Worker(workerScript(import.meta.url, 'reference-relay/store', 'checkpoint-worker.js', 'the checkpoint thread'), { workerData: { path } });
    this.pragmas = new Promise((resolve, reject) => {
      this.worker.once('message', (answer: CheckpointAnswer) => (answer.kind === 'ready' ? resolve(answer) : reject(new Error(JSON.stringify(answer)))));
      this.worker.once('error', reject);
    });
    this.pragmas.catch(() => undefined); // read only by the tests; a dead thread is handled below
    this.worker.on('message', (answer: CheckpointAnswer) => {
      if (answer.kind === 'ready') return;
      this.running = false;
      this.lastEndMs = Date.now();
      if (answer.kind === 'failed') return;
      this.counts.checkpoints += 1;
      if (answer.ask === 'catch-up') this.catchUp = 'relay';
      else if (answer.walFrames > this.catchUpFrames) this.catchUp = 'thread';
    });
    const died = (): void => {
      if (this.dead) return;
      this.dead = true;
      if (db.open) db.pragma(`wal_autocheckpoint = ${AUTOCHECKPOINT_PAGES}`);
    };
    this.worker.on('error', died);
    this.worker.on('exit', died);
    this.worker.unref(); // an idle relay's thread does not keep the process alive
  }

  /** Whether checkpoints run on the thread, or (the thread is gone) inside commits again. */
  get on(): 'thread' | 'commits' {
    return this.dead ? 'commits' : 'thread';
  }

  /** Called after each commit of the relay's connection, outside any transaction. */
  committed(): void {
    if (this.dead) return;
    if (this.catchUp === 'relay') {
      this.catchUp = 'none';
      this.counts.catchUps += 1;
      this.db.pragma('wal_checkpoint(PASSIVE)');
    }
    if (this.running) return;
    if (this.catchUp === 'thread') {
      this.catchUp = 'none';
      this.running = true;
      this.worker.postMessage('catch-up');
    } else if (Date.now() - this.lastEndMs >= CHECKPOINT_EVERY_MS) {
      this.running = true;
      this.worker.postMessage('checkpoint');
    }
  }

  /** Ends the thread as a crash would (the test of the fallback). */
  async crash(): Promise<void> {
    await this.worker.terminate();
  }

  close(): void {
    this.dead = true;
    void this.worker.terminate();
  }
}
