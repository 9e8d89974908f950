/**
 * One hand-out step for REQ and 447 alike: plan every owner's hand-out, check
 * the rate limits, consume and charge, all in one SQLite transaction, before
 * anything is sent (kp-handout-consume, kp-handout-exactly-once, kp-rate-*).
 */
import { commitHandout, planHandout, type HandoutAsk, type HandoutPlan } from '../rules/handout.js';
import { commitCharges, PendingCharges, RateLimitRefusal, rateLimitRefusal } from '../rules/rate-limit.js';
import type { RelayContext } from './context.js';

export interface ChargedAsk extends HandoutAsk {
  /** Who is charged for this query (kp-auth-multi: every authenticated non-owner on REQ; the signer on 447). */
  requesters: readonly string[];
}

export type HandoutOutcome = { plans: HandoutPlan[] } | { refusal: RateLimitRefusal };

/** The yield the double-handout fault puts between reading and consuming. */
const RACE_WINDOW_MS = 15;

export async function handOut(ctx: RelayContext, asks: readonly ChargedAsk[]): Promise<HandoutOutcome> {
  const { store, config } = ctx;
  const nowMs = ctx.nowMs();
  const nowSeconds = ctx.nowSeconds();
  const split = config.faults.has('double-handout');
  const pending = new PendingCharges();
  const check = { store, limits: config.limits, nowMs, pending };
  let plans: HandoutPlan[];
  try {
    plans = store.transaction(() => {
      const made: HandoutPlan[] = [];
      for (const ask of asks) {
        const plan = planHandout(store, ask, nowSeconds, config.faults);
        for (const requester of ask.requesters) {
          const refusal = config.faults.has('no-rate-limit') ? undefined : rateLimitRefusal(check, requester, ask.owner, plan.send.length);
          if (refusal) throw refusal; // rolls back the whole message (kp-req-refuse-whole)
          pending.add(requester, ask.owner, plan.send.length);
        }
        // Consume now, so a later ask for the same owner in this message sees it gone.
        if (!split) commitHandout(store, plan, nowSeconds);
        made.push(plan);
      }
      commitCharges(store, pending, nowMs);
      return made;
    });
  } catch (err) {
    if (err instanceof RateLimitRefusal) return { refusal: err };
    throw err;
  }
  if (split) {
    // Fault: the read and the write are separate steps with a gap another request can enter.
    await new Promise((resolve) => setTimeout(resolve, RACE_WINDOW_MS));
    store.transaction(() => plans.forEach((plan) => commitHandout(store, plan, nowSeconds)));
  }
  return { plans };
}
