/**
 * Incoming frames of one socket, shared by both load bindings: a frame goes
 * to the first waiter that matches it, else into a bounded backlog for a later
 * `next`. Timers are injected because k6 has them in k6/timers, Node globally.
 */
import type { RelayMessage } from './runtime.js';

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

interface Waiter {
  match: (m: RelayMessage) => boolean;
  resolve: (m: RelayMessage | undefined) => void;
}

/** Unmatched frames kept for a later next(); past this the oldest go (live traffic nobody waits for). */
const BACKLOG_LIMIT = 2000;

export class FrameInbox {
  private readonly backlog: RelayMessage[] = [];
  private readonly waiters: Waiter[] = [];

  constructor(private readonly timers: Timers) {}

  /** A text frame from the relay; non-JSON and non-array frames are dropped. */
  push(text: string): void {
    let message: unknown;
    try {
      message = JSON.parse(text);
    } catch {
      return;
    }
    if (!Array.isArray(message)) return;
    const m = message as RelayMessage;
    const i = this.waiters.findIndex((w) => w.match(m));
    if (i >= 0) this.waiters.splice(i, 1)[0]?.resolve(m);
    else {
      this.backlog.push(m);
      if (this.backlog.length > BACKLOG_LIMIT) this.backlog.shift();
    }
  }

  /** The next frame that matches, or undefined on timeout or when `open` is false. */
  next(match: (m: RelayMessage) => boolean, timeoutMs: number, open: boolean): Promise<RelayMessage | undefined> {
    const idx = this.backlog.findIndex(match);
    if (idx >= 0) return Promise.resolve(this.backlog.splice(idx, 1)[0]);
    if (!open) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      // Every timer is cleared once settled: a pending timer keeps a k6 iteration alive.
      const waiter: Waiter = {
        match,
        resolve: (m) => {
          this.timers.clearTimeout(timer);
          resolve(m);
        },
      };
      const timer = this.timers.setTimeout(() => {
        const at = this.waiters.indexOf(waiter);
        if (at >= 0) this.waiters.splice(at, 1);
        resolve(undefined);
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  /** The socket closed: everyone waiting gets undefined. */
  closed(): void {
    for (const w of this.waiters.splice(0)) w.resolve(undefined);
  }
}
