import type { StoredEvent } from '../store/store.js';
import type { RelayContext } from './context.js';

const ZERO_SIG = '0'.repeat(128);

/**
 * The KeyPackage's JSON text as it goes on the wire: the stored text itself. The
 * zero-sig fault imitates a relay that rebuilds events from its own columns and
 * re-signs them with nothing.
 */
export function asServed(ctx: RelayContext, kp: StoredEvent): string {
  return ctx.config.faults.has('zero-sig') ? JSON.stringify({ ...kp.event, sig: ZERO_SIG }) : kp.json;
}
