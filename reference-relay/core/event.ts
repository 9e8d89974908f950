/** EVENT: signature → kind routing → publish rules → store → OK → live fan-out. */
import { storageOf } from '../../protocol/events.js';
import type { NostrEvent } from '../../protocol/messages.js';
import { KIND, PREFIX, reason } from '../../protocol/profile.js';
import { applyDeletion } from '../rules/del-owner.js';
import { firstRefusal, rejectExpired, type PublishContext } from '../rules/publish.js';
import { broadcast } from './broadcast.js';
import type { RelayContext } from './context.js';
import { handleKeyPackageRequest } from './keypackage-request.js';
import type { Session } from './session.js';

export async function handleEvent(ctx: RelayContext, session: Session, raw: unknown): Promise<void> {
  const id = (raw as { id?: unknown } | null)?.id;
  if (typeof raw !== 'object' || raw === null || typeof id !== 'string') {
    session.send(['NOTICE', reason(PREFIX.invalid, 'EVENT needs an event object with an id: ["EVENT", <event>]')]);
    return;
  }
  const { rules, store } = ctx;
  const problem = rules.signatureProblem(raw);
  if (problem) {
    session.send(['OK', id, false, reason(PREFIX.invalid, problem)]);
    return;
  }
  const event = raw as NostrEvent;
  const nowSeconds = ctx.nowSeconds();
  if (event.kind === KIND.auth) {
    session.send(['OK', id, false, reason(PREFIX.invalid, 'kind 22242 is sent with AUTH, never as EVENT (NIP-42)')]);
    return;
  }
  const publishCtx: PublishContext = { store, nowSeconds, authenticated: session.authenticated };
  if (event.kind === KIND.keyPackageRequest) {
    // kp-447-order: after the signature, expiration is the one publish rule a request goes through.
    const expired = rejectExpired(publishCtx, event);
    if (expired) {
      session.send(['OK', id, false, expired.message]);
      return;
    }
    await handleKeyPackageRequest(ctx, session, event);
    if (rules.keepsRequest(event)) store.insert(event, nowSeconds);
    return;
  }
  const refusal = await firstRefusal(rules.publish, publishCtx, event);
  if (refusal) {
    session.send(['OK', id, false, refusal.message]);
    return;
  }
  if (storageOf(event.kind) === 'ephemeral') {
    session.send(['OK', id, true, '']);
    broadcast(ctx, event);
    return;
  }
  const result = store.transaction(() => {
    if (event.kind === KIND.deletion) applyDeletion(store, event, nowSeconds, rules.mayDelete);
    return store.insert(event, nowSeconds);
  });
  if (result === 'duplicate') {
    session.send(['OK', id, true, reason(PREFIX.duplicate, 'already have this event')]);
    return;
  }
  if (result === 'superseded') {
    session.send(['OK', id, true, reason(PREFIX.duplicate, 'a newer version of this replaceable event is stored')]);
    return;
  }
  session.send(['OK', id, true, '']);
  broadcast(ctx, event);
}
