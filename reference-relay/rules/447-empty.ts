import type { HandoutPlan } from './handout.js';

/** kp-447-empty (and kp-447-delivery's OK): the OK true message, informative when nothing could be delivered. */
export function requestOkMessage(plan: HandoutPlan): string {
  if (plan.send.length === 0) return `no stored KeyPackage of ${plan.owner} matches an open subscription`;
  return `delivered ${plan.send.length} KeyPackage(s)${plan.lastResort ? ', the last of them kept as last resort' : ''}`;
}
