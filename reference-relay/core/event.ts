/** EVENT: signature → kind routing → publish rules → store → OK → live fan-out. */
import { storageOf } from '../../protocol/events.js';
import type { NostrEvent } from '../../protocol/messages.js';
import { KIND, PREFIX, reason } from '../../protocol/profile.js';
import { applyDeletion } from '../rules/del-owner.js';
import type { Rules } from '../rules/index.js';
import { firstRefusal, rejectExpired, type PublishContext } from '../rules/publish.js';
import type { StoragePolicy } from '../store/store.js';
import { broadcast } from './broadcast.js';
import type { RelayContext } from './context.js';
import { handleKeyPackageRequest } from './keypackage-request.js';
import type { Session } from './session.js';

/** How the store keeps `event`: until its expiration (mr-445-expiration), as its slot's current version or not at all (mr-kp-replace, mr-relay-lists). */
export function storagePolicy(rules: Pick<Rules, 'servedUntil' | 'replacesVersion'>, event: NostrEvent): StoragePolicy {
  return { servedUntil: rules.servedUntil(event), replaces: rules.replacesVersion };
}

export async function handleEvent(ctx: RelayContext, session: Session, raw: unknown): Promise<void> {
  const id = (raw as { id?: unknown } | null)?.id;
  if (typeof raw !== 'object' || raw === null || typeof id !== 'string') {
    session.send(['NOTICE', reason(PREFIX.invalid, 'EVENT needs an event object with an id: ["EVENT", <event>]')]);
    return;
  }
  const { rules, store } = ctx;
  const problem = await rules.signatureProblem(raw, ctx.verifier);
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
  const publishCtx: PublishContext = { store, nowSeconds, authenticated: session.authenticated, verifier: ctx.verifier };
  if (event.kind === KIND.keyPackageRequest) {
    // kp-447-order: after the signature, expiration is the one publish rule a request goes through.
    const expired = rejectExpired(publishCtx, event);
    if (expired) {
      session.send(['OK', id, false, expired.message]);
      return;
    }
    await handleKeyPackageRequest(ctx, session, event);
    if (rules.keepsRequest(event)) store.insert(event, storagePolicy(rules, event));
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
    if (event.kind === KIND.deletion) applyDeletion(store, event, nowSeconds, rules);
    return store.insert(event, storagePolicy(rules, event));
  });
  if (result === 'duplicate') {
    session.send(['OK', id, true, reason(PREFIX.duplicate, 'already have this event')]);
    return;
  }
  if (result === 'superseded') {
    // mr-kp-replace, mr-relay-lists: not stored, and said so with OK true "duplicate:" (PROFILE-MARMOT.md §1.2 allows that or OK false).
    session.send(['OK', id, true, reason(PREFIX.duplicate, "this slot's current version is newer, or as new with a lower id (NIP-01); this one is not stored")]);
    return;
  }
  session.send(['OK', id, true, '']);
  broadcast(ctx, event);
}
