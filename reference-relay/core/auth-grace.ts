/**
 * kp-auth-grace on a connection: which messages wait for its first AUTH, and
 * the timers that end their wait. Timers run on real time (the relay's Clock
 * only tells time) and are all cleared when the connection closes.
 */
import type { RelayContext } from './context.js';
import type { Session } from './session.js';

/** The messages of one connection waiting for its first AUTH, each until it comes or its grace passes. */
export class HeldMessages {
  private readonly waiting = new Map<NodeJS.Timeout, () => void>();

  get size(): number {
    return this.waiting.size;
  }

  /** Resolves once releaseAll is called or `graceMs` passed, whichever comes first. */
  add(graceMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(timer);
        resolve();
      }, graceMs);
      this.waiting.set(timer, resolve);
    });
  }

  /** An AUTH was handled, or the connection closed: every held message goes on, and no timer is left. */
  releaseAll(): void {
    for (const [timer, release] of this.waiting) {
      clearTimeout(timer);
      release();
    }
    this.waiting.clear();
  }
}

/**
 * Whether `message`, arriving now, is held: the relay sent its challenge on
 * connect, no AUTH has arrived on the connection yet, and the rule says this
 * kind of message waits for one.
 */
export function holdsUntilAuth(ctx: RelayContext, session: Session, message: unknown): boolean {
  if (ctx.config.authGraceMs <= 0 || !session.challengeSentOnConnect || session.authArrived || !Array.isArray(message)) return false;
  const { rules, config } = ctx;
  const scope = { store: ctx.store, nowSeconds: ctx.nowSeconds() };
  return rules.waitsForAuth(
    message,
    (filter) => rules.ownersAskedFor(scope, filter).length > 0 || rules.giftWrapReadRefusal(config.giftWrapReads, filter, session.authenticated) !== undefined,
  );
}
