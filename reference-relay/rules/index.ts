/**
 * The reference relay's policy, one entry per rule of PROFILE.md (kp-relay/0.2)
 * and PROFILE-MARMOT.md (marmot-relay/1), like khatru's hook lists. The
 * handlers in ../core/ call these and nothing else decides; a fault switch
 * (../fault-wiring.ts) swaps one entry.
 *
 * marmot-relay/1 rules that need no entry of their own: mr-kp-store and
 * mr-445-fetch (no rule refuses a valid kind 30443 or 445 without AUTH, from
 * any pubkey), mr-kp-filters (the store answers #d, #i, #h and #p from its tag
 * index), mr-kp-no-consume and mr-coexist (kp-req-scope hands out only for
 * kinds exactly [443], and a hand-out picks kind 443 alone:
 * EventStore.pickKeyPackages), mr-protected (kp-pub-protected, with the
 * challenge on connect), mr-advertise (../nip11.ts).
 */
import { waitsForAuth } from './auth-grace.js';
import { anotherAuthProblem } from './auth-multi.js';
import { authProblem } from './auth-verify.js';
import { rejectUnusableMls } from './pub-mls.js';
import { reachesLiveSubscriptions } from './pub-no-broadcast.js';
import { signatureProblem, type SignatureRule } from './pub-signature.js';
import { rejectExpired, rejectMalformedContent, rejectMalformedTags, rejectProtectedFromOthers, rejectTombstoned, type PublishRule } from './publish.js';
import { reqRequesters } from './req-auth.js';
import { keepsSubscription } from './req-eose.js';
import { reqAsks } from './req-handout.js';
import { answeredBeforeRefusal } from './req-refuse-whole.js';
import { ownersAskedFor } from './req-scope.js';
import { ordinaryQuery } from './req-unscoped.js';
import { deliveries } from './447-delivery.js';
import { requestOkMessage } from './447-empty.js';
import { keepsRequest } from './447-not-stored.js';
import { REQUEST_ANSWER_ORDER, type AnswerPart } from './447-ok-after-delivery.js';
import { REQUEST_CHECKS, type RequestCheck } from './447-order.js';
import { isOwnersRequest } from './447-owner.js';
import { consumeBeforeSend, planHandout, type Consumption } from './handout.js';
import { rateLimitRefusal } from './rate-limit.js';
import { deletesOnlyOwn } from './del-owner.js';
import { replacesVersion } from './mr-kp-replace.js';
import { rejectDeletedVersion, slotDeletions } from './mr-kp-delete.js';
import { servedUntil } from './mr-445-expiration.js';
import { giftWrapReaders, giftWrapReadRefusal } from './mr-1059-serve.js';

export interface Rules {
  // §1 Identity
  authProblem: typeof authProblem; // kp-auth-verify
  anotherAuthProblem: typeof anotherAuthProblem; // kp-auth-multi
  waitsForAuth: typeof waitsForAuth; // kp-auth-grace
  // §2 Publishing
  signatureProblem: SignatureRule; // kp-pub-signature
  /** In order: kp-pub-expired, kp-pub-protected, kp-pub-tags, kp-pub-content, kp-pub-mls, kp-pub-no-replay, mr-kp-delete. */
  publish: readonly PublishRule[];
  reachesLiveSubscriptions: typeof reachesLiveSubscriptions; // kp-pub-no-broadcast
  // §3 REQ
  ownersAskedFor: typeof ownersAskedFor; // kp-req-scope
  ordinaryQuery: typeof ordinaryQuery; // kp-req-unscoped, kp-req-owner
  reqRequesters: typeof reqRequesters; // kp-req-auth
  reqAsks: typeof reqAsks; // kp-req-handout, kp-req-owner
  keepsSubscription: typeof keepsSubscription; // kp-req-eose
  answeredBeforeRefusal: typeof answeredBeforeRefusal; // kp-req-refuse-whole
  // §4 kind 447
  requestChecks: readonly RequestCheck[]; // kp-447-order: kp-447-auth, kp-447-form, kp-447-subscription
  isOwnersRequest: typeof isOwnersRequest; // kp-447-owner
  deliveries: typeof deliveries; // kp-447-delivery
  requestAnswerOrder: readonly AnswerPart[]; // kp-447-ok-after-delivery
  requestOkMessage: typeof requestOkMessage; // kp-447-empty
  keepsRequest: typeof keepsRequest; // kp-447-not-stored
  // §5 Hand-out
  planHandout: typeof planHandout; // kp-handout-max, -order, -last-resort
  consumption: Consumption; // kp-handout-consume, kp-handout-exactly-once
  // §6 Rate limits
  rateLimitRefusal: typeof rateLimitRefusal; // kp-rate-queries, kp-rate-served
  // §7 Deletion
  mayDelete: typeof deletesOnlyOwn; // kp-del-owner
  // marmot-relay/1 (PROFILE-MARMOT.md)
  replacesVersion: typeof replacesVersion; // mr-kp-replace, mr-relay-lists
  slotDeletions: typeof slotDeletions; // mr-kp-delete (a tags; rejectDeletedVersion is in publish)
  servedUntil: typeof servedUntil; // mr-445-expiration, kp-pub-expired
  giftWrapReadRefusal: typeof giftWrapReadRefusal; // mr-1059-serve
  giftWrapReaders: typeof giftWrapReaders; // mr-1059-serve
}

export const PUBLISH_RULES: readonly PublishRule[] = [
  rejectExpired,
  rejectProtectedFromOthers,
  rejectMalformedTags,
  rejectMalformedContent,
  rejectUnusableMls,
  rejectTombstoned,
  rejectDeletedVersion,
];

export const RULES: Readonly<Rules> = Object.freeze({
  authProblem,
  anotherAuthProblem,
  waitsForAuth,
  signatureProblem,
  publish: PUBLISH_RULES,
  reachesLiveSubscriptions,
  ownersAskedFor,
  ordinaryQuery,
  reqRequesters,
  reqAsks,
  keepsSubscription,
  answeredBeforeRefusal,
  requestChecks: REQUEST_CHECKS,
  isOwnersRequest,
  deliveries,
  requestAnswerOrder: REQUEST_ANSWER_ORDER,
  requestOkMessage,
  keepsRequest,
  planHandout,
  consumption: consumeBeforeSend,
  rateLimitRefusal,
  mayDelete: deletesOnlyOwn,
  replacesVersion,
  slotDeletions,
  servedUntil,
  giftWrapReadRefusal,
  giftWrapReaders,
});
