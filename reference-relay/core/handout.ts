/**
 * One hand-out step for REQ and 447 alike: plan every owner's hand-out, check
 * the rate limits, consume and charge, all in one SQLite transaction, before
 * anything is sent (kp-handout-consume, kp-handout-exactly-once, kp-rate-*).
 */
import type { HandoutAsk, HandoutPlan } from '../rules/handout.js';
import { commitCharges, PendingCharges, RateLimitRefusal } from '../rules/rate-limit.js';
import type { RelayContext } from './context.js';
import type { Session } from './session.js';

export interface ChargedAsk extends HandoutAsk {
  /** Who is charged for this query (kp-auth-multi: every authenticated non-owner on REQ; the signer on 447). */
  requesters: readonly string[];
}

export type HandoutOutcome = { plans: HandoutPlan[] } | { refusal: RateLimitRefusal };

export function handOut(ctx: RelayContext, asks: readonly ChargedAsk[]): HandoutOutcome {
  const { store, config, rules } = ctx;
  const nowMs = ctx.nowMs();
  const nowSeconds = ctx.nowSeconds();
  const pending = new PendingCharges();
  const check = { store, limits: config.limits, nowMs, pending };
  try {
    const plans = store.transaction(() => {
      const made: HandoutPlan[] = [];
      for (const ask of asks) {
        const plan = rules.planHandout(store, ask, nowSeconds);
        for (const requester of ask.requesters) {
          const refusal = rules.rateLimitRefusal(check, requester, ask.owner, plan.send.length);
          if (refusal) throw refusal; // rolls back the whole message (kp-req-refuse-whole)
          pending.add(requester, ask.owner, plan.send.length);
        }
        // Consumed now, so a later ask for the same owner in this message sees it gone.
        rules.consumption.withPlan(store, plan, nowSeconds);
        made.push(plan);
      }
      commitCharges(store, pending, nowMs);
      return made;
    });
    return { plans };
  } catch (err) {
    if (err instanceof RateLimitRefusal) return { refusal: err };
    throw err;
  }
}

/**
 * Sends `frames` (subscription id and stored JSON text) of a hand-out, then
 * lets the consumption rule finish: the reference consumed before sending,
 * so this only writes them out.
 */
export async function sendHandout(ctx: RelayContext, session: Session, plans: readonly HandoutPlan[], frames: readonly [string, string][]): Promise<void> {
  const { consumption } = ctx.rules;
  await Promise.all(frames.map(([subId, json]) => (consumption.waitsForSocket ? session.sendEventWritten(subId, json) : session.sendEvent(subId, json))));
  await consumption.afterSend(ctx.store, plans, ctx.nowSeconds());
}

/**
 * Times a KeyPackage query from when it arrived (Session.receivedAt) to when its last frame is written:
 * the frames wait for the commit that holds the hand-out (whenDurable), so the observation waits too.
 */
export function observeDelivery(ctx: Pick<RelayContext, 'store' | 'metrics'>, path: 'req' | '447', started: bigint): void {
  ctx.store.whenDurable(() => ctx.metrics.deliveryLatency.observe({ path }, Number(process.hrtime.bigint() - started) / 1e9));
}
