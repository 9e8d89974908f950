/**
 * Verifier on a pool of worker threads (issue: both cores). Each check goes
 * to the worker with the fewest checks waiting; results come back as
 * promises, so the main thread handles other connections meanwhile.
 *
 * The worker is the compiled worker.js beside this file (dist/); run from
 * TypeScript source (the tests), the built one in the package's dist/.
 */
import { Worker } from 'node:worker_threads';
import type { NostrEvent } from '../../protocol/messages.js';
import { shapeProblem } from '../../protocol/crypto.js';
import { workerScript } from '../worker-script.js';
import { IN_THREAD, type Verifier } from './verifier.js';

export interface VerifyAsk {
  id: number;
  check: 'event' | 'mls';
  event: unknown;
}

export type VerifyAnswer = { id: number; problem: string | undefined } | { id: number; error: string };

interface Pending {
  check: VerifyAsk['check'];
  event: unknown;
  resolve(problem: string | undefined): void;
  reject(err: Error): void;
}

/** A check the main thread answers itself, for the asks a dead worker held. */
function inThread(check: VerifyAsk['check'], event: unknown): Promise<string | undefined> {
  return check === 'event' ? IN_THREAD.eventProblem(event) : IN_THREAD.keyPackageMlsProblem(event as NostrEvent);
}

class VerifyThread {
  readonly pending = new Map<number, Pending>();
  private readonly worker: Worker;

  constructor(script: string) {
    this.worker = new Worker(script);
    this.worker.on('message', (answer: VerifyAnswer) => {
      const waiting = this.pending.get(answer.id);
      this.pending.delete(answer.id);
      if ('error' in answer) waiting?.reject(new Error(`verification worker: ${answer.error}`));
      else waiting?.resolve(answer.problem);
    });
    // A worker that dies: what it held is checked on the main thread, so every EVENT still gets its one OK;
    // the pool puts a new worker in its place on the next ask.
    const died = (): void => {
      this.dead = true;
      for (const { check, event, resolve, reject } of this.pending.values()) inThread(check, event).then(resolve, reject);
      this.pending.clear();
    };
    this.worker.on('error', died);
    this.worker.on('exit', died);
    // An idle pool does not keep the process alive.
    this.worker.unref();
  }

  dead = false;

  ask(id: number, check: VerifyAsk['check'], event: unknown): Promise<string | undefined> {
    return new Promise((resolve, reject) => {
      this.pending.set(id, { check, event, resolve, reject });
      this.worker.postMessage({ id, check, event } satisfies VerifyAsk);
    });
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }
}

/** An event's NIP-01 fields alone: whatever else a client put in the object is not copied to a worker. */
function nip01Fields({ id, pubkey, created_at, kind, tags, content, sig }: NostrEvent): NostrEvent {
  return { id, pubkey, created_at, kind, tags, content, sig };
}

export class WorkerVerifier implements Verifier {
  private readonly script = workerScript(import.meta.url, 'reference-relay/verify', 'worker.js', 'a verification thread (or run with 0 threads)');
  private readonly threads: VerifyThread[];
  private nextId = 1;
  private closed = false;
  /** How many workers were put in place of dead ones. */
  restarts = 0;

  constructor(count: number) {
    this.threads = Array.from({ length: Math.max(1, Math.floor(count)) }, () => new VerifyThread(this.script));
  }

  eventProblem(raw: unknown): Promise<string | undefined> {
    // The cheap form check stays here: only a well-formed event, its NIP-01 fields alone, is copied to a worker.
    const malformed = shapeProblem(raw);
    if (malformed) return Promise.resolve(malformed);
    return this.ask('event', nip01Fields(raw as NostrEvent));
  }

  keyPackageMlsProblem(event: NostrEvent): Promise<string | undefined> {
    return this.ask('mls', nip01Fields(event));
  }

  private ask(check: VerifyAsk['check'], event: unknown): Promise<string | undefined> {
    if (this.closed) return inThread(check, event);
    for (const [i, thread] of this.threads.entries()) {
      if (!thread.dead) continue;
      this.threads[i] = new VerifyThread(this.script);
      this.restarts += 1;
    }
    const least = this.threads.reduce((a, b) => (b.pending.size < a.pending.size ? b : a));
    return least.ask(this.nextId++, check, event);
  }

  /** Ends one worker as a crash would: the test of what the pool does then. */
  crashOne(): Promise<void> {
    return this.threads[0]!.close();
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.threads.map((t) => t.close()));
  }
}
