import { PREFIX } from '../../protocol/profile.js';
import { Refusal } from './refusal.js';

/**
 * kp-req-auth (with kp-auth-multi): who a REQ's hand-outs are charged to:
 * every pubkey authenticated on the connection. With nobody authenticated the
 * REQ is refused. `_connection` numbers the connection, for charging
 * something other than a pubkey.
 */
export function reqRequesters(authenticated: ReadonlySet<string>, _connection: number): string[] | Refusal {
  if (authenticated.size === 0) return new Refusal(PREFIX.authRequired, "asking for other people's KeyPackages (kind 443) needs NIP-42 AUTH first");
  return [...authenticated];
}
