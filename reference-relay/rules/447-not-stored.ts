import type { NostrEvent } from '../../protocol/messages.js';

/** kp-447-not-stored: a kind 447 request is answered, never stored (nor broadcast). */
export function keepsRequest(_request: NostrEvent): boolean {
  return false;
}
