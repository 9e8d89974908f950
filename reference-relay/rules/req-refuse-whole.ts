import type { Filter } from '../../protocol/messages.js';

/**
 * kp-req-refuse-whole: the filters of a refused REQ answered before its
 * CLOSED: none. `_asking` are the filters that ask for KeyPackages.
 */
export function answeredBeforeRefusal(_filters: readonly Filter[], _asking: ReadonlySet<Filter>): Filter[] {
  return [];
}
