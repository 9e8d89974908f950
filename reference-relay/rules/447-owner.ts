import type { HandoutPlan } from './handout.js';

/** kp-447-owner: a request on a connection where the owner is authenticated too is the owner's own query. */
export function isOwnersRequest(authenticated: ReadonlySet<string>, owner: string): boolean {
  return authenticated.has(owner);
}

/** kp-447-owner: the owner's query delivers what the hand-out would, and consumes nothing (nor is it charged). */
export function ownersDelivery(plan: HandoutPlan): HandoutPlan {
  return { ...plan, consume: [], lastResort: undefined };
}
