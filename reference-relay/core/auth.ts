/** AUTH (NIP-42): verify → add the pubkey → OK (kp-auth-verify, kp-auth-multi). */
import type { NostrEvent } from '../../protocol/messages.js';
import { PREFIX, reason } from '../../protocol/profile.js';
import type { RelayContext } from './context.js';
import type { Session } from './session.js';

export function handleAuth(ctx: RelayContext, session: Session, raw: unknown): void {
  const id = (raw as { id?: unknown } | null)?.id;
  if (typeof raw !== 'object' || raw === null || typeof id !== 'string') {
    session.send(['NOTICE', reason(PREFIX.invalid, 'AUTH needs a signed kind 22242 event: ["AUTH", <event>]')]);
    return;
  }
  const event = raw as NostrEvent;
  const expected = { challenge: session.challenge, relayHost: session.relayHost, nowSeconds: ctx.nowSeconds() };
  const problem = ctx.rules.authProblem(event, expected) ?? ctx.rules.anotherAuthProblem(session.authenticated, event.pubkey);
  if (problem) {
    session.send(['OK', id, false, reason(PREFIX.invalid, problem)]);
    return;
  }
  session.authenticated.add(event.pubkey);
  ctx.log(`session ${session.id} authenticated ${event.pubkey.slice(0, 12)}`);
  session.send(['OK', id, true, '']);
}
