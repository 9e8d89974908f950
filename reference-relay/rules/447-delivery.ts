import { matchesAnyFilter } from '../../protocol/filter.js';
import type { Filter } from '../../protocol/messages.js';
import type { StoredEvent } from '../store/store.js';

export interface Delivery {
  subId: string;
  kp: StoredEvent;
}

/** kp-447-delivery: each handed-out KeyPackage goes on every open subscription of the connection whose filters match it. */
export function deliveries(subscriptions: ReadonlyMap<string, readonly Filter[]>, kps: readonly StoredEvent[]): Delivery[] {
  return kps.flatMap((kp) => [...subscriptions].filter(([, filters]) => matchesAnyFilter(filters, kp.event)).map(([subId]) => ({ subId, kp })));
}
