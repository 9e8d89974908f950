/** NIP-42 AUTH (kp-auth-verify, kp-auth-multi). */
import { eventProblem } from '../../protocol/crypto.js';
import { firstTagValue } from '../../protocol/events.js';
import type { NostrEvent } from '../../protocol/messages.js';
import { AUTH_MAX_SKEW_SECONDS, KIND, PREFIX, reason, TAG } from '../../protocol/profile.js';
import type { RelayContext } from './context.js';
import type { Session } from './session.js';

function hostOf(url: string): string | undefined {
  try {
    const u = new URL(url);
    return u.protocol === 'ws:' || u.protocol === 'wss:' ? u.host.toLowerCase() : undefined;
  } catch {
    return undefined;
  }
}

/** Why this AUTH event does not authenticate its pubkey on `session`, or undefined. */
export function authProblem(
  ctx: RelayContext,
  session: Session,
  event: NostrEvent,
  challengeOk = (tagged: string | undefined): boolean => tagged === session.challenge,
): string | undefined {
  const problem = eventProblem(event);
  if (problem) return problem;
  if (event.kind !== KIND.auth) return `an AUTH event must be kind ${KIND.auth}, got ${event.kind}`;
  if (!challengeOk(firstTagValue(event, TAG.challenge))) return "the challenge tag does not match this connection's challenge";
  const relay = firstTagValue(event, TAG.relay);
  if (relay === undefined) return 'missing relay tag';
  if (hostOf(relay) !== session.relayHost) return `the relay tag "${relay}" does not name this relay (${session.relayHost})`;
  if (Math.abs(event.created_at - ctx.nowSeconds()) > AUTH_MAX_SKEW_SECONDS) {
    return `created_at is more than ${AUTH_MAX_SKEW_SECONDS} s away from the relay's clock`;
  }
  return undefined;
}

export function handleAuth(ctx: RelayContext, session: Session, raw: unknown): void {
  const id = (raw as { id?: unknown } | null)?.id;
  if (typeof raw !== 'object' || raw === null || typeof id !== 'string') {
    session.send(['NOTICE', reason(PREFIX.invalid, 'AUTH needs a signed kind 22242 event: ["AUTH", <event>]')]);
    return;
  }
  // Fault any-challenge: a challenge tag must be there, but any value will do.
  const anyChallenge = ctx.config.faults.has('any-challenge') ? (tagged: string | undefined) => tagged !== undefined : undefined;
  const problem = authProblem(ctx, session, raw as NostrEvent, anyChallenge);
  if (problem) {
    session.send(['OK', id, false, reason(PREFIX.invalid, problem)]);
    return;
  }
  const pubkey = (raw as NostrEvent).pubkey;
  // Fault single-auth: one pubkey per connection, the first; a valid AUTH for another is refused.
  if (ctx.config.faults.has('single-auth') && session.authenticated.size > 0 && !session.authenticated.has(pubkey)) {
    session.send(['OK', id, false, reason(PREFIX.invalid, 'this connection is already authenticated')]);
    return;
  }
  session.authenticated.add(pubkey);
  ctx.log(`session ${session.id} authenticated ${pubkey.slice(0, 12)}`);
  session.send(['OK', id, true, '']);
}
