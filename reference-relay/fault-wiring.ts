/**
 * Where each fault switch of faults.ts is wired: it swaps one rule of
 * rules/index.ts or one method of the store, so the rules themselves never
 * mention a fault. The few that break the transport (when the challenge is
 * sent, how a connection's messages are scheduled) are wrappers in
 * core/transport-faults.ts.
 */
import { eventProblemIgnoringSig } from '../protocol/crypto.js';
import { isProtected, storageOf } from '../protocol/events.js';
import { matchesAnyFilter, matchesFilter } from '../protocol/filter.js';
import { ciphersuiteTag, decodeKeyPackageBytes, keyPackageBytes } from '../protocol/mls.js';
import type { Filter, NostrEvent } from '../protocol/messages.js';
import { KIND, PREFIX, TAG } from '../protocol/profile.js';
import type { RelayConfig } from './config.js';
import type { FaultName } from './faults.js';
import { requestSignerAuthenticated } from './rules/447-auth.js';
import { requestForm } from './rules/447-form.js';
import { Answer, type RequestCheck } from './rules/447-order.js';
import { requestSubscription } from './rules/447-subscription.js';
import type { Consumption } from './rules/handout.js';
import { RULES, type Rules } from './rules/index.js';
import { rejectUnusableMls } from './rules/pub-mls.js';
import { keyPackageRule, rejectExpired, rejectMalformedContent, rejectMalformedTags, rejectProtectedFromOthers, rejectTombstoned, type PublishRule } from './rules/publish.js';
import { Refusal } from './rules/refusal.js';
import type { ReqContext } from './rules/req-scope.js';
import type { EventStore, QueryOptions, StoredEvent } from './store/store.js';

interface Swap {
  /** The rules this fault replaces, given the rules so far. */
  rules?: (rules: Readonly<Rules>) => Partial<Rules>;
  /** The store as this fault changes it. */
  store?: (store: EventStore) => EventStore;
  /** Also (or only) a transport wrapper, in core/transport-faults.ts. */
  transport?: true;
}

/** The store with some methods replaced; the others are the store's own. */
function storeWith(store: EventStore, methods: Partial<EventStore>): EventStore {
  return Object.assign(Object.create(store) as EventStore, methods);
}

const without =
  (...dropped: PublishRule[]) =>
  (r: Readonly<Rules>): Partial<Rules> => ({ publish: r.publish.filter((rule) => !dropped.includes(rule)) });

const replacing = <T>(list: readonly T[], old: T, by: T): T[] => list.map((x) => (x === old ? by : x));

const hasTag = (tags: readonly string[][], name: string): boolean => tags.some((t) => t[0] === name);

/** A naive relay that streams a hand-out, waits for the socket to take it, then deletes what it sent. */
const streamThenConsume: Consumption = {
  withPlan: () => undefined,
  async afterSend(store, plans, nowSeconds) {
    // The delete is a second storage round trip, as with an asynchronous database driver: its
    // completion comes back through the event loop, after the requests already received are handled.
    await new Promise<void>((resolve) => setImmediate(resolve));
    store.transaction(() => plans.forEach((plan) => store.consume(plan.consume, plan.owner, nowSeconds)));
  },
  waitsForSocket: true,
};

/** tag-allow-list: the tags of PROFILE.md §2, NIP-EE and Marmot MIP-00; anything else is refused. */
const LISTED_TAGS = new Set<string>([
  TAG.mlsProtocolVersion,
  ...TAG.ciphersuite,
  ...TAG.extensions,
  TAG.encoding,
  TAG.expiration,
  TAG.protected,
  TAG.client,
  TAG.relays,
  TAG.keyPackageRef,
]);
const rejectUnlistedTags = keyPackageRule((event) => {
  const other = event.tags.find((t) => !LISTED_TAGS.has(t[0] ?? ''));
  return other === undefined ? undefined : `unexpected tag "${other[0] ?? ''}" on a KeyPackage`;
});

/** unchecked-tags: the MLS check reads no tag either: without a ciphersuite value it takes the content's own. */
function withContentCiphersuite(event: NostrEvent): NostrEvent {
  const isCiphersuite = (t: string[]): boolean => (TAG.ciphersuite as readonly string[]).includes(t[0] ?? '');
  if (event.tags.some((t) => isCiphersuite(t) && t[1])) return event;
  const bytes = keyPackageBytes(event);
  const decoded = bytes && decodeKeyPackageBytes(bytes);
  if (!decoded || 'problem' in decoded) return event;
  return { ...event, tags: [...event.tags.filter((t) => !isCiphersuite(t)), [TAG.ciphersuite[1], ciphersuiteTag(decoded.keyPackage.cipherSuite)]] };
}

/** mls-refusal-unprefixed: the refusal's text without its machine-readable prefix. */
class UnprefixedRefusal extends Refusal {
  override get message(): string {
    return this.detail;
  }
}

/** owner-oldest-first: the owner's own KeyPackages in hand-out order, the limit taking the oldest. */
function ownOldestFirst(ctx: ReqContext, filter: Filter): StoredEvent[] | undefined {
  const own = (filter.authors ?? []).filter((a) => ctx.authenticated.has(a));
  if (!filter.kinds?.includes(KIND.keyPackage) || own.length === 0) return undefined;
  const limit = Math.min(filter.limit ?? ctx.maxLimit, ctx.maxLimit);
  const kps = [...new Set(own)].flatMap((o) => ctx.store.pickKeyPackages(o, [filter], limit, 'oldest-first', ctx.nowSeconds).take);
  return kps.slice(0, limit);
}

/** ids-as-authors: a filter's ids only say whose KeyPackages it asks for; any of theirs qualifies. */
function ownerWide(filter: Filter, owner: string): Filter {
  const wide: Filter = { ...filter, authors: [owner] };
  delete wide.ids;
  return wide;
}

const ZERO_SIG = '0'.repeat(128);

/** The kinds Marmot clients publish (PROFILE-MARMOT.md): faults of kp-relay rules leave them alone, marmot- faults touch only them. */
const MARMOT_KINDS: ReadonlySet<number> = new Set([KIND.marmotKeyPackage, KIND.groupMessage, KIND.giftWrap, KIND.inboxRelays, KIND.relayList]);

/** marmot-protected-no-challenge: NIP-70's default for Marmot events, a refusal whose prefix asks for no AUTH. */
const blockMarmotProtected: PublishRule = (ctx, event) =>
  isProtected(event) && MARMOT_KINDS.has(event.kind) ? new Refusal(PREFIX.blocked, 'event marked as protected') : rejectProtectedFromOthers(ctx, event);

/** A query that hides nothing and caps nothing: what storage holds, as a fault reads it. */
const everything = (nowSeconds: number): QueryOptions => ({ nowSeconds, keyPackageOwners: 'everyone', giftWrapReaders: 'everyone', maxLimit: Number.MAX_SAFE_INTEGER });

const BOTH_KEYPACKAGE_KINDS: readonly number[] = [KIND.keyPackage, KIND.marmotKeyPackage];

/** marmot-consume-30443: a filter whose kinds are 443 and 30443 together, nothing else. */
const namesBothKeyPackageKinds = (filter: Filter): boolean =>
  BOTH_KEYPACKAGE_KINDS.every((k) => filter.kinds?.includes(k)) && (filter.kinds ?? []).every((k) => BOTH_KEYPACKAGE_KINDS.includes(k));

/** marmot-consume-30443: the owner's kind 30443 events join the hand-out of a filter that names their kind, in hand-out order. */
function pickingMarmotToo(store: EventStore): EventStore {
  return storeWith(store, {
    pickKeyPackages(owner, filters, max, order, nowSeconds) {
      const pick = store.pickKeyPackages(owner, filters, max, order, nowSeconds);
      const naming = filters.filter((f) => f.kinds?.includes(KIND.marmotKeyPackage));
      if (naming.length === 0) return pick;
      const marmot = store.query({ kinds: [KIND.marmotKeyPackage], authors: [owner] }, everything(nowSeconds)).filter((e) => matchesAnyFilter(naming, e.event));
      const direction = order === 'oldest-first' ? 1 : -1;
      const pool = [...pick.take, ...marmot].sort((a, b) => direction * (a.event.created_at - b.event.created_at || (a.id < b.id ? -1 : 1)));
      const take = pool.slice(0, Math.max(0, Math.floor(max)));
      return { take, ownerHasMore: pick.ownerHasMore || pool.length > take.length };
    },
  });
}

/** marmot-drop-tag-values: a kind 30443 event as read back from (name, value) rows; the JSON is rebuilt, as such a relay must. */
function fromTagRows(stored: StoredEvent): StoredEvent {
  if (stored.event.kind !== KIND.marmotKeyPackage) return stored;
  const event = { ...stored.event, tags: stored.event.tags.map((t) => t.slice(0, 2)) };
  return { id: stored.id, json: JSON.stringify(event), event };
}

/** marmot-ignore-d-i-filters: the tag conditions such a relay drops, not having indexed them. */
const UNINDEXED: ReadonlySet<string> = new Set([`#${TAG.identifier}`, `#${TAG.keyPackageRef}`]);

/** marmot-ignore-d-i-filters: a filter for kind 30443 without its #d and #i conditions. */
function withoutDAndI(filter: Filter): Filter {
  if (!filter.kinds?.includes(KIND.marmotKeyPackage)) return filter;
  return Object.fromEntries(Object.entries(filter).filter(([key]) => !UNINDEXED.has(key))) as Filter;
}

/** marmot-ignore-since: a kind 445 filter on #h without its since (the tag lookup applies kinds and tags only). */
function withoutSinceOnH(filter: Filter): Filter {
  if (!filter.kinds?.includes(KIND.groupMessage) || filter[`#${TAG.group}`] === undefined) return filter;
  const wide: Filter = { ...filter };
  delete wide.since;
  return wide;
}

/**
 * marmot-consume-on-fetch: NIP-EE's hand-out applied to kind 30443 after the
 * query: what was found is consumed, but for each owner whose every stored
 * KeyPackage was found, the newest of them stays (NIP-EE's last resort).
 */
function consumeFound(ctx: ReqContext, found: readonly StoredEvent[]): void {
  const byOwner = new Map<string, StoredEvent[]>();
  for (const e of found) if (e.event.kind === KIND.marmotKeyPackage) byOwner.set(e.event.pubkey, [...(byOwner.get(e.event.pubkey) ?? []), e]);
  if (byOwner.size === 0) return;
  ctx.store.transaction(() => {
    for (const [owner, kps] of byOwner) {
      const stored = ctx.store.query({ kinds: [KIND.marmotKeyPackage], authors: [owner] }, everything(ctx.nowSeconds)).length;
      const newestFirst = [...kps].sort((a, b) => b.event.created_at - a.event.created_at || (a.id < b.id ? -1 : 1));
      const consumed = newestFirst.length < stored ? newestFirst : newestFirst.slice(1);
      ctx.store.consume(consumed.map((kp) => kp.id), owner, ctx.nowSeconds);
    }
  });
}

/** Replaceable kinds Marmot clients publish: the relay lists of PROFILE-MARMOT.md §4. */
const RELAY_LIST_KINDS: ReadonlySet<number> = new Set([KIND.inboxRelays, KIND.relayList]);

/** soft-consume: consumed KeyPackages are only flagged, and the lookup by id forgets the flag. */
function softConsuming(store: EventStore): EventStore {
  const flagged = new Map<string, StoredEvent>();
  // Flags of the transaction under way: kept only if it commits.
  let staged: StoredEvent[] | undefined;
  return storeWith(store, {
    transaction(fn) {
      if (staged) return store.transaction(fn);
      staged = [];
      try {
        const result = store.transaction(fn);
        for (const kp of staged) flagged.set(kp.id, kp);
        return result;
      } finally {
        staged = undefined;
      }
    },
    consume(ids, owner, nowSeconds) {
      const kps = ids.flatMap((id) => {
        const event = store.get(id);
        return event ? [{ id, json: JSON.stringify(event), event }] : [];
      });
      if (staged) staged.push(...kps);
      else for (const kp of kps) flagged.set(kp.id, kp);
      store.consume(ids, owner, nowSeconds);
    },
    query(filter, opts) {
      const found = store.query(filter, opts);
      const named = filter.ids ? [...flagged.values()].filter((kp) => matchesFilter(filter, kp.event) && !found.some((e) => e.id === kp.id)) : [];
      return [...found, ...named];
    },
  });
}

const SWAPS: Record<FaultName, Swap> = {
  // §1 identity
  'no-challenge': { transport: true },
  'lazy-challenge': { transport: true },
  'any-challenge': {
    // Whatever challenge the event names is taken for the connection's; a missing tag still fails.
    rules: (r) => ({ authProblem: (event, expected) => r.authProblem(event, { ...expected, challenge: event.tags.find((t) => t[0] === TAG.challenge)?.[1] ?? expected.challenge }) }),
  },
  'single-auth': {
    rules: () => ({ anotherAuthProblem: (authenticated, pubkey) => (authenticated.size > 0 && !authenticated.has(pubkey) ? 'this connection is already authenticated' : undefined) }),
  },
  'no-auth-grace': { rules: () => ({ waitsForAuth: () => false }) },
  // §2 publishing
  'tag-allow-list': { rules: (r) => ({ publish: [...r.publish, rejectUnlistedTags] }) },
  'case-insensitive-id': {
    rules: (r) => ({
      signatureProblem: (raw, verifier) => {
        const id = (raw as { id?: unknown } | null)?.id;
        return r.signatureProblem(typeof id === 'string' ? { ...(raw as object), id: id.toLowerCase() } : raw, verifier);
      },
    }),
  },
  'unchecked-sig-443': {
    rules: (r) => ({ signatureProblem: (raw, verifier) => ((raw as { kind?: unknown }).kind === KIND.keyPackage ? eventProblemIgnoringSig(raw) : r.signatureProblem(raw, verifier)) }),
  },
  'unchecked-tags': {
    rules: (r) => ({
      publish: replacing(
        r.publish.filter((rule) => rule !== rejectMalformedTags),
        rejectUnusableMls,
        (ctx, event) => rejectUnusableMls(ctx, withContentCiphersuite(event)),
      ),
    }),
  },
  'opaque-content': {
    // Content it cannot decode is opaque text to it; what decodes still goes through the MLS check.
    rules: (r) => ({
      publish: replacing(
        r.publish.filter((rule) => rule !== rejectMalformedContent),
        rejectUnusableMls,
        (ctx, event) => (keyPackageBytes(event)?.length ? rejectUnusableMls(ctx, event) : undefined),
      ),
    }),
  },
  'ignore-protected': {
    // Marmot's kinds keep NIP-70, so this breaks kp-pub-protected and not mr-protected.
    rules: (r) => ({ publish: replacing(r.publish, rejectProtectedFromOthers, (ctx, event) => (MARMOT_KINDS.has(event.kind) ? rejectProtectedFromOthers(ctx, event) : undefined)) }),
  },
  'accept-expired': { rules: without(rejectExpired) },
  'accept-replay': {
    rules: (r) => ({ publish: replacing(r.publish, rejectTombstoned, (ctx, event) => (event.kind === KIND.keyPackage ? undefined : rejectTombstoned(ctx, event))) }),
  },
  'mls-refusal-unprefixed': {
    rules: (r) => ({
      publish: replacing(r.publish, rejectUnusableMls, async (ctx, event) => {
        const refusal = await rejectUnusableMls(ctx, event);
        return refusal && new UnprefixedRefusal(refusal.prefix, refusal.detail);
      }),
    }),
  },
  'broadcast-live': { rules: () => ({ reachesLiveSubscriptions: () => true }) },
  // §3 REQ
  'handout-mixed-kinds': {
    rules: (r) => ({ ownersAskedFor: (ctx, filter) => r.ownersAskedFor(ctx, filter.kinds?.includes(KIND.keyPackage) ? { ...filter, kinds: [KIND.keyPackage] } : filter) }),
  },
  'serve-unscoped': {
    rules: (r) => ({
      ordinaryQuery: (ctx, filter) =>
        filter.kinds?.includes(KIND.keyPackage) && !filter.authors && !filter.ids
          ? ctx.store.query(filter, { nowSeconds: ctx.nowSeconds, keyPackageOwners: 'everyone', giftWrapReaders: ctx.giftWrapReaders, maxLimit: ctx.maxLimit })
          : r.ordinaryQuery(ctx, filter),
    }),
  },
  'owner-oldest-first': { rules: (r) => ({ ordinaryQuery: (ctx, filter) => ownOldestFirst(ctx, filter) ?? r.ordinaryQuery(ctx, filter) }) },
  'limit-per-filter': {
    // The owners a filter names share one limit, as a NIP-01 limit is per filter: the first ones take it all.
    rules: (r) => ({
      reqAsks: (ctx, filter, owners) => {
        const asks = r.reqAsks(ctx, filter, owners);
        let budget = asks[0]?.max ?? 0;
        return asks.map((ask) => {
          const max = ctx.store.pickKeyPackages(ask.owner, ask.filters, budget, 'oldest-first', ctx.nowSeconds).take.length;
          budget -= max;
          return { ...ask, max };
        });
      },
    }),
  },
  'ids-as-authors': { rules: (r) => ({ reqAsks: (ctx, filter, owners) => r.reqAsks(ctx, filter, owners).map((ask) => ({ ...ask, filters: [ownerWide(filter, ask.owner)] })) }) },
  'one-shot-handout': { rules: () => ({ keepsSubscription: (plans) => plans.length === 0 }) },
  'partial-refusal': { rules: () => ({ answeredBeforeRefusal: (filters, asking) => filters.filter((f) => f.limit !== 0 && !asking.has(f)) }) },
  'no-auth': {
    rules: (r) => ({
      // An unauthenticated connection is charged under a pseudonym of its own.
      reqRequesters: (authenticated, connection) => (authenticated.size > 0 ? [...authenticated] : [`anonymous:${connection}`]),
      requestChecks: r.requestChecks.filter((check) => check !== requestSignerAuthenticated),
    }),
  },
  // §4 kind 447
  'form-before-auth': { rules: (r) => ({ requestChecks: [requestForm, ...r.requestChecks.filter((check) => check !== requestForm)] }) },
  'no-p-ok': {
    rules: (r) => ({
      requestChecks: replacing<RequestCheck>(r.requestChecks, requestForm, (review) =>
        hasTag(review.request.tags, TAG.pubkey) ? requestForm(review) : new Answer('no owner named: no KeyPackage to deliver'),
      ),
    }),
  },
  'under-delivery': {
    rules: (r) => ({
      requestChecks: replacing<RequestCheck>(r.requestChecks, requestForm, (review) => {
        const found = requestForm(review);
        return hasTag(review.request.tags, TAG.count) || found instanceof Refusal || found instanceof Answer ? found : { ...found, count: 1 };
      }),
    }),
  },
  'handout-without-subscription': {
    rules: (r) => ({
      requestChecks: replacing<RequestCheck>(r.requestChecks, requestSubscription, (review) => {
        const found = requestSubscription(review);
        return found instanceof Refusal ? { filters: [{ kinds: [KIND.keyPackage], authors: [review.owner ?? ''] }] } : found;
      }),
    }),
  },
  'silent-empty-447': { rules: (r) => ({ requestOkMessage: (plan) => (plan.send.length === 0 ? '' : r.requestOkMessage(plan)) }) },
  'owner-447-consumes': { rules: () => ({ isOwnersRequest: () => false }) },
  'store-447': { rules: () => ({ keepsRequest: () => true }) },
  'ok-before-delivery': { rules: () => ({ requestAnswerOrder: ['ok', 'deliveries'] }) },
  'first-subscription-only': {
    rules: (r) => ({
      deliveries: (subscriptions, kps) => {
        const sent = new Set<string>();
        return r.deliveries(subscriptions, kps).filter((d) => !sent.has(d.kp.id) && sent.add(d.kp.id));
      },
    }),
  },
  // §5 hand-out
  'consume-last': {
    rules: (r) => ({
      planHandout: (store, ask, nowSeconds) => {
        const plan = r.planHandout(store, ask, nowSeconds);
        return { ...plan, consume: plan.send.map((kp) => kp.id), lastResort: undefined };
      },
    }),
  },
  'newest-first': { store: (s) => storeWith(s, { pickKeyPackages: (owner, filters, max, _order, now) => s.pickKeyPackages(owner, filters, max, 'newest-first', now) }) },
  'double-handout': { rules: () => ({ consumption: streamThenConsume }) },
  'concurrent-messages': { rules: () => ({ consumption: streamThenConsume }), transport: true },
  'close-under-load': { transport: true },
  'soft-consume': { store: softConsuming },
  'zero-sig': {
    // A relay that rebuilds events from its own columns and re-signs them with nothing.
    store: (s) =>
      storeWith(s, {
        pickKeyPackages(owner, filters, max, order, now) {
          const pick = s.pickKeyPackages(owner, filters, max, order, now);
          const take = pick.take.map((kp) => {
            const event = { ...kp.event, sig: ZERO_SIG };
            return { id: kp.id, json: JSON.stringify(event), event };
          });
          return { ...pick, take };
        },
      }),
  },
  // §6 rate limits
  'no-rate-limit': { rules: () => ({ rateLimitRefusal: () => undefined }) },
  'lower-served-cap': {
    rules: (r) => ({
      rateLimitRefusal: (check, requester, owner, sending) =>
        r.rateLimitRefusal({ ...check, limits: { ...check.limits, served_per_window: Math.floor(check.limits.served_per_window / 2) } }, requester, owner, sending),
    }),
  },
  // §7-§8
  // A stranger deletes KeyPackages (kind 443) only, so this breaks kp-del-owner and not mr-kp-delete.
  'stranger-delete': { rules: (r) => ({ mayDelete: (deletion, target) => target.kind === KIND.keyPackage || r.mayDelete(deletion, target) }) },
  'crash-on-bad-filter': { transport: true },
  // marmot-relay/1
  'marmot-keep-older': { rules: (r) => ({ replacesVersion: (event, stored) => storageOf(event.kind) === 'addressable' || r.replacesVersion(event, stored) }) },
  'marmot-serve-expired': { rules: (r) => ({ servedUntil: (event) => (event.kind === KIND.groupMessage ? undefined : r.servedUntil(event)) }) },
  'marmot-consume-30443': {
    rules: (r) => ({ ownersAskedFor: (ctx, filter) => r.ownersAskedFor(ctx, namesBothKeyPackageKinds(filter) ? { ...filter, kinds: [KIND.keyPackage] } : filter) }),
    store: pickingMarmotToo,
  },
  'marmot-ignore-a-deletion': { rules: () => ({ slotDeletions: () => [] }) },
  'marmot-protected-no-challenge': { rules: (r) => ({ publish: replacing(r.publish, rejectProtectedFromOthers, blockMarmotProtected) }), transport: true },
  'marmot-gift-wrap-leak': {
    rules: (r) => ({ giftWrapReaders: (reads, authenticated) => (authenticated.size > 0 ? 'everyone' : r.giftWrapReaders(reads, authenticated)) }),
  },
  'marmot-drop-tag-values': { store: (s) => storeWith(s, { query: (filter, opts) => s.query(filter, opts).map(fromTagRows) }) },
  'marmot-ignore-d-i-filters': { rules: (r) => ({ ordinaryQuery: (ctx, filter) => r.ordinaryQuery(ctx, withoutDAndI(filter)) }) },
  'marmot-consume-on-fetch': {
    rules: (r) => ({
      ordinaryQuery: (ctx, filter) => {
        const found = r.ordinaryQuery(ctx, filter);
        consumeFound(ctx, found);
        return found;
      },
    }),
  },
  'marmot-ignore-since': { rules: (r) => ({ ordinaryQuery: (ctx, filter) => r.ordinaryQuery(ctx, withoutSinceOnH(filter)) }) },
  // Any arrival replaces a relay list; kind 30443 slots and other replaceable kinds keep the rule (marmot-keep-older breaks 30443).
  'marmot-upsert-relay-lists': { rules: (r) => ({ replacesVersion: (event, stored) => RELAY_LIST_KINDS.has(event.kind) || r.replacesVersion(event, stored) }) },
};

/** The rules a relay with this configuration runs: the profile's, without kp-pub-mls if switched off, with each fault's swap. */
export function rulesFor(config: Pick<RelayConfig, 'faults' | 'mlsChecks'>): Rules {
  let rules: Rules = { ...RULES, publish: config.mlsChecks ? RULES.publish : RULES.publish.filter((rule) => rule !== rejectUnusableMls) };
  for (const fault of config.faults) {
    const swap = SWAPS[fault].rules;
    if (swap) rules = { ...rules, ...swap(rules) };
  }
  return rules;
}

/** The store as a relay with these faults uses it. */
export function storeFor(faults: ReadonlySet<FaultName>, store: EventStore): EventStore {
  let wired = store;
  for (const fault of faults) wired = SWAPS[fault].store?.(wired) ?? wired;
  return wired;
}
