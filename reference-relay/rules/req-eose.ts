import type { HandoutPlan } from './handout.js';

/** kp-req-eose: after its EOSE a REQ's subscription stays open for live events, whether it handed out or not. */
export function keepsSubscription(_plans: readonly HandoutPlan[]): boolean {
  return true;
}
