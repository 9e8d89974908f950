/** EVENT: signature → kind routing → publish rules → store → OK → live fan-out. */
import { eventProblem, eventProblemIgnoringSig } from '../../protocol/crypto.js';
import { HEX64, storageOf } from '../../protocol/events.js';
import type { NostrEvent } from '../../protocol/messages.js';
import { KIND, PREFIX, reason } from '../../protocol/profile.js';
import { firstRefusal, publishRulesWith, rejectExpired } from '../rules/publish.js';
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
  // Fault unchecked-sig-443: a KeyPackage's id is checked, its signature is not.
  const skipSig = ctx.config.faults.has('unchecked-sig-443') && (raw as { kind?: unknown }).kind === KIND.keyPackage;
  const problem = skipSig ? eventProblemIgnoringSig(raw) : eventProblem(raw);
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
  const publishCtx = { store: ctx.store, nowSeconds, authenticated: session.authenticated, faults: ctx.config.faults };
  if (event.kind === KIND.keyPackageRequest) {
    // kp-447-order: expiration is the one publish rule a request goes through before its own checks.
    const expired = rejectExpired(publishCtx, event);
    if (expired) session.send(['OK', id, false, expired.message]);
    else await handleKeyPackageRequest(ctx, session, event);
    // Fault store-447: the request is kept like any regular event once answered.
    if (!expired && ctx.config.faults.has('store-447')) ctx.store.insert(event, nowSeconds);
    return;
  }
  const refusal = firstRefusal(publishRulesWith(ctx.config.faults), publishCtx, event);
  if (refusal) {
    session.send(['OK', id, false, refusal.message]);
    return;
  }
  if (storageOf(event.kind) === 'ephemeral') {
    session.send(['OK', id, true, '']);
    broadcast(ctx, event);
    return;
  }
  const result = ctx.store.transaction(() => {
    if (event.kind === KIND.deletion) applyDeletion(ctx, event, nowSeconds);
    return ctx.store.insert(event, nowSeconds);
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

/** NIP-09 and kp-del-owner: remove the author's own events named by `e` and `a` tags, and never accept them again. */
function applyDeletion(ctx: RelayContext, deletion: NostrEvent, nowSeconds: number): void {
  const { store } = ctx;
  for (const [name, value] of deletion.tags) {
    if (name === 'e' && value !== undefined && HEX64.test(value)) {
      const target = store.get(value);
      // Fault stranger-delete: the author check is skipped.
      if (target && target.pubkey !== deletion.pubkey && !ctx.config.faults.has('stranger-delete')) continue;
      if (target?.kind === KIND.deletion) continue;
      store.remove([value]);
      store.addTombstone(value, deletion.pubkey, 'deleted', nowSeconds);
    } else if (name === 'a' && value !== undefined) {
      const [kind, pubkey, ...d] = value.split(':');
      if (pubkey === deletion.pubkey && kind !== undefined && /^\d+$/.test(kind)) {
        store.removeAddress(Number(kind), pubkey, d.join(':'), deletion.created_at);
      }
    }
  }
}
