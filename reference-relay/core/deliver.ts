import type { NostrEvent } from '../../protocol/messages.js';
import type { RelayContext } from './context.js';

const ZERO_SIG = '0'.repeat(128);

/**
 * The KeyPackage as it goes on the wire: the stored event itself. The zero-sig
 * fault imitates a relay that rebuilds events from its own columns and re-signs
 * them with nothing.
 */
export function asServed(ctx: RelayContext, kp: NostrEvent): NostrEvent {
  return ctx.config.faults.has('zero-sig') ? { ...kp, sig: ZERO_SIG } : kp;
}
