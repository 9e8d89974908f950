import { eventProblem } from '../../protocol/crypto.js';
import { firstTagValue } from '../../protocol/events.js';
import type { NostrEvent } from '../../protocol/messages.js';
import { AUTH_MAX_SKEW_SECONDS, KIND, TAG } from '../../protocol/profile.js';

/** What an AUTH event must match on one connection. */
export interface AuthExpectation {
  challenge: string;
  /** host[:port] clients use to reach the relay. */
  relayHost: string;
  nowSeconds: number;
}

function hostOf(url: string): string | undefined {
  try {
    const u = new URL(url);
    return u.protocol === 'ws:' || u.protocol === 'wss:' ? u.host.toLowerCase() : undefined;
  } catch {
    return undefined;
  }
}

/** kp-auth-verify: why this AUTH event authenticates nobody, or undefined. */
export function authProblem(event: NostrEvent, expected: AuthExpectation): string | undefined {
  const problem = eventProblem(event);
  if (problem) return problem;
  if (event.kind !== KIND.auth) return `an AUTH event must be kind ${KIND.auth}, got ${event.kind}`;
  if (firstTagValue(event, TAG.challenge) !== expected.challenge) return "the challenge tag does not match this connection's challenge";
  const relay = firstTagValue(event, TAG.relay);
  if (relay === undefined) return 'missing relay tag';
  if (hostOf(relay) !== expected.relayHost) return `the relay tag "${relay}" does not name this relay (${expected.relayHost})`;
  if (Math.abs(event.created_at - expected.nowSeconds) > AUTH_MAX_SKEW_SECONDS) {
    return `created_at is more than ${AUTH_MAX_SKEW_SECONDS} s away from the relay's clock`;
  }
  return undefined;
}
