/** PROFILE.md §4 Asking with a KeyPackage request (kind 447). */
import { randomBytes } from 'node:crypto';
import { ids, type TestContext } from '../context.js';
import type { ConformanceTest } from '../types.js';
import { nowSeconds, type RelayClient, type RequestResult } from '../../client/relay-client.js';
import { newKeys, sign, type Keys } from '../../protocol/crypto.js';
import type { NostrEvent } from '../../protocol/messages.js';
import { KIND, PREFIX, prefixOf, TAG } from '../../protocol/profile.js';
import { allDeliveries, askFor, boundedQueries, deliveredText, distinct, eventFrames, idSet, kp, kpsText, liveSub, okLine, refusedWith, reqAnswer, request447 } from '../steps.js';

/** A 447 must be refused with `prefix`, deliver nothing, and leave the owner's KeyPackages in place. */
async function expectRefused(
  t: TestContext,
  client: RelayClient,
  result: RequestResult,
  prefix: string,
  what: string,
  owner: Keys,
  before: readonly NostrEvent[],
): Promise<void> {
  refusedWith(t, result, prefix, what);
  const delivered = (await allDeliveries(t, client, result)).map((d) => d.event);
  t.equal(ids(delivered), [], `${what} was refused but ${deliveredText(delivered)}`, delivered[0]);
  const left = await t.inventory(owner);
  t.equal(idSet(left), idSet(before), `after ${what} was refused, the owner's inventory holds ${kpsText(left)} of the ${before.length} published`);
}

/** A connection authenticated as a fresh requester, with a live subscription for `owner`'s KeyPackages. */
async function requesterFor(t: TestContext, owner: Keys, label = 'alice'): Promise<{ client: RelayClient; keys: Keys; subId: string }> {
  const { client, keys } = await t.connectAs(label);
  const subId = await liveSub(client, askFor(owner));
  return { client, keys, subId };
}

interface FormCase {
  side: string;
  what: string;
  needsLimits?: boolean;
  tags(signer: Keys, owner: Keys, t: TestContext): string[][];
}

const FORM_CASES: FormCase[] = [
  { side: 'missing-p', what: 'a 447 without a p tag', tags: () => [] },
  { side: 'two-p', what: 'a 447 with two p tags', tags: (_s, o) => [[TAG.pubkey, o.pubkey], [TAG.pubkey, newKeys().pubkey]] },
  { side: 'p-is-signer', what: 'a 447 whose p tag names its own signer', tags: (s) => [[TAG.pubkey, s.pubkey]] },
  { side: 'n-zero', what: 'a 447 with ["n", "0"]', tags: (_s, o) => [[TAG.pubkey, o.pubkey], [TAG.count, '0']] },
  {
    side: 'n-over-max',
    what: 'a 447 with n = max_per_query + 1',
    needsLimits: true,
    tags: (_s, o, t) => [[TAG.pubkey, o.pubkey], [TAG.count, String(t.limits.max_per_query + 1)]],
  },
  { side: 'n-not-integer', what: 'a 447 with ["n", "1.5"]', tags: (_s, o) => [[TAG.pubkey, o.pubkey], [TAG.count, '1.5']] },
  { side: 'two-n', what: 'a 447 with two n tags', tags: (_s, o) => [[TAG.pubkey, o.pubkey], [TAG.count, '1'], [TAG.count, '1']] },
];

/** Tests that judge a refusal by the prefix the profile names ("invalid:", "auth-required:"): NIP-01 asks only for some machine-readable prefix. */
const STRICTER_PREFIX = { profile: true, stricterThan: 'NIP-01' } as const;

function formTest(c: FormCase): ConformanceTest {
  return {
    id: `kp-447-form/${c.side}`,
    anchor: 'kp-447-form',
    section: 'Kind 447 requests',
    level: 'MUST',
    source: STRICTER_PREFIX,
    ...(c.needsLimits ? { needsLimits: true } : {}),
    async run(t) {
      const owner = t.newKeys();
      const before = await t.publishKeyPackages(owner, 3);
      const { client, keys } = await requesterFor(t, owner);
      const result = await client.sendRequest(request447(keys, c.tags(keys, owner, t)));
      await expectRefused(t, client, result, PREFIX.invalid, c.what, owner, before);
    },
  };
}

/** Flips one hex digit of the signature: the id still matches, the signature no longer verifies. */
function badSignature(event: NostrEvent): NostrEvent {
  const first = event.sig[0] === '0' ? '1' : '0';
  return { ...event, sig: first + event.sig.slice(1) };
}

export const request447Tests: ConformanceTest[] = [
  ...FORM_CASES.map(formTest),
  {
    id: 'kp-447-auth/other-signer',
    anchor: 'kp-447-auth',
    section: 'Kind 447 requests',
    level: 'MUST',
    source: STRICTER_PREFIX,
    async run(t) {
      const owner = t.newKeys();
      const before = await t.publishKeyPackages(owner, 3);
      const { client } = await requesterFor(t, owner);
      const result = await client.requestKeyPackages(t.newKeys(), owner.pubkey);
      await expectRefused(t, client, result, PREFIX.authRequired, 'a 447 signed by a pubkey not authenticated on the connection (another one is)', owner, before);
    },
  },
  {
    id: 'kp-447-auth/unauthenticated',
    anchor: 'kp-447-auth',
    section: 'Kind 447 requests',
    level: 'MUST',
    source: STRICTER_PREFIX,
    async run(t) {
      const owner = t.newKeys();
      const before = await t.publishKeyPackages(owner, 3);
      const anon = await t.connect('anon');
      await liveSub(anon, askFor(owner));
      const result = await anon.requestKeyPackages(t.newKeys(), owner.pubkey);
      await expectRefused(t, anon, result, PREFIX.authRequired, 'a 447 on a connection where nobody is authenticated', owner, before);
    },
  },
  {
    id: 'kp-447-subscription/none',
    anchor: 'kp-447-subscription',
    section: 'Kind 447 requests',
    level: 'MUST',
    source: STRICTER_PREFIX,
    async run(t) {
      const owner = t.newKeys();
      const before = await t.publishKeyPackages(owner, 3);
      const { client, keys } = await t.connectAs('alice');
      const result = await client.requestKeyPackages(keys, owner.pubkey);
      await expectRefused(t, client, result, PREFIX.invalid, 'a 447 on a connection with no open subscription', owner, before);
    },
  },
  {
    id: 'kp-447-subscription/not-matching',
    anchor: 'kp-447-subscription',
    section: 'Kind 447 requests',
    level: 'MUST',
    source: STRICTER_PREFIX,
    async run(t) {
      const owner = t.newKeys();
      const before = await t.publishKeyPackages(owner, 3);
      const { client, keys } = await t.connectAs('alice');
      await liveSub(client, askFor(t.newKeys()));
      await liveSub(client, { kinds: [1], authors: [owner.pubkey] });
      const result = await client.requestKeyPackages(keys, owner.pubkey);
      await expectRefused(t, client, result, PREFIX.invalid, "a 447 whose connection's subscriptions are for another owner's KeyPackages and the owner's kind 1", owner, before);
    },
  },
  {
    id: 'kp-447-subscription/closed',
    anchor: 'kp-447-subscription',
    section: 'Kind 447 requests',
    level: 'MUST',
    source: STRICTER_PREFIX,
    async run(t) {
      const owner = t.newKeys();
      const before = await t.publishKeyPackages(owner, 3);
      const { client, keys, subId } = await requesterFor(t, owner);
      client.closeSub(subId);
      const result = await client.requestKeyPackages(keys, owner.pubkey);
      await expectRefused(t, client, result, PREFIX.invalid, 'a 447 after its only matching subscription was CLOSEd', owner, before);
    },
  },
  {
    id: 'kp-447-subscription/not-charged',
    anchor: 'kp-447-subscription',
    section: 'Kind 447 requests',
    level: 'MUST',
    source: STRICTER_PREFIX,
    needsLimits: true,
    async run(t) {
      const q = boundedQueries(t);
      const owner = t.newKeys();
      await t.publishKeyPackages(owner, 3);
      const { client, keys } = await t.connectAs('alice');
      for (let i = 0; i <= q; i++) {
        const r = await client.requestKeyPackages(keys, owner.pubkey);
        refusedWith(t, r, PREFIX.invalid, `447 number ${i + 1} of ${q + 1} on a connection with no open subscription`);
      }
      await liveSub(client, askFor(owner));
      const result = await client.requestKeyPackages(keys, owner.pubkey);
      t.check(
        result.ok,
        `after ${q + 1} 447s refused for want of a subscription (queries_per_window is ${q}), the 447 with one open was refused with ${JSON.stringify(result.message)}${prefixOf(result.message) === PREFIX.rateLimited ? ': the refusals were charged' : ''}`,
        '["OK", <id>, true, ...]',
        okLine(result),
      );
    },
  },
  {
    id: 'kp-447-delivery/every-subscription',
    anchor: 'kp-447-delivery',
    section: 'Kind 447 requests',
    level: 'MUST',
    async run(t) {
      const owner = t.newKeys();
      await t.publishKeyPackages(owner, 3);
      const { client, keys } = await t.connectAs('alice');
      const byKind = await liveSub(client, askFor(owner));
      const byAuthor = await liveSub(client, { authors: [owner.pubkey] });
      const notes = await liveSub(client, { kinds: [1], authors: [owner.pubkey] });
      const deliveries = await allDeliveries(t, client, await client.requestKeyPackages(keys, owner.pubkey, 1));
      const got = distinct(deliveries.map((d) => d.event));
      t.check(got.length === 1, `a 447 with ["n", "1"] for an owner with 3 KeyPackages ${deliveredText(got)}`, '1 KeyPackage', `${got.length}: ${ids(got).join(', ')}`);
      const subsOf = (id: string): string[] => deliveries.filter((d) => d.event.id === id).map((d) => d.subId).sort();
      t.equal(
        subsOf(got[0]!.id),
        [byKind, byAuthor].sort(),
        `KeyPackage ${ids(got)[0]} went out on ${subsOf(got[0]!.id).join(', ') || 'no subscription'}, not on each matching one (${byKind}, ${byAuthor}) and not on ${notes} (kind 1 only)`,
        got[0],
      );
    },
  },
  {
    id: 'kp-447-delivery/matching-only',
    anchor: 'kp-447-delivery',
    section: 'Kind 447 requests',
    level: 'MUST',
    async run(t) {
      const owner = t.newKeys();
      const [, second] = await t.publishKeyPackages(owner, 3);
      const { client, keys } = await t.connectAs('alice');
      await liveSub(client, { kinds: [kp], ids: [second!.id] });
      const got = distinct((await allDeliveries(t, client, await client.requestKeyPackages(keys, owner.pubkey, 1))).map((d) => d.event));
      t.equal(ids(got), ids([second!]), `with the only subscription naming ${ids([second!])[0]} (the second-oldest) by id, the 447 ${deliveredText(got)}`, got[0]);
    },
  },
  {
    id: 'kp-447-ok-after-delivery/one-subscription',
    anchor: 'kp-447-ok-after-delivery',
    section: 'Kind 447 requests',
    level: 'MUST',
    async run(t) {
      const owner = t.newKeys();
      await t.publishKeyPackages(owner, 3);
      const { client, keys } = await requesterFor(t, owner);
      const result = await client.requestKeyPackages(keys, owner.pubkey);
      const late = eventFrames(await t.quiet(client));
      if (result.deliveries.length === 0 && late.length === 0) t.untested('the relay delivered nothing for this 447 (see kp-447-delivery), so the order of OK and deliveries cannot be seen');
      t.check(result.ok, `the 447 was refused: ${okLine(result)}`, '["OK", <id>, true, ...]', okLine(result));
      t.equal(ids(late.map((d) => d.event)), [], `${kpsText(late.map((d) => d.event))} arrived after the 447's OK (${result.deliveries.length} before it)`, late[0]?.event);
    },
  },
  {
    id: 'kp-447-ok-after-delivery/two-subscriptions',
    anchor: 'kp-447-ok-after-delivery',
    section: 'Kind 447 requests',
    level: 'MUST',
    async run(t) {
      const owner = t.newKeys();
      await t.publishKeyPackages(owner, 3);
      const { client, keys } = await requesterFor(t, owner);
      await liveSub(client, { authors: [owner.pubkey] });
      const result = await client.requestKeyPackages(keys, owner.pubkey);
      const late = eventFrames(await t.quiet(client));
      if (result.deliveries.length === 0 && late.length === 0) t.untested('the relay delivered nothing for this 447 (see kp-447-delivery), so the order of OK and deliveries cannot be seen');
      t.equal(ids(late.map((d) => d.event)), [], `with two matching subscriptions, ${late.length} deliveries (${ids(late.map((d) => d.event)).join(', ')}) arrived after the 447's OK (${result.deliveries.length} before it)`, late[0]?.event);
    },
  },
  {
    id: 'kp-447-empty/no-keypackages',
    anchor: 'kp-447-empty',
    section: 'Kind 447 requests',
    level: 'MUST',
    async run(t) {
      const owner = t.newKeys();
      const { client, keys } = await requesterFor(t, owner);
      const result = await client.requestKeyPackages(keys, owner.pubkey);
      t.check(result.ok && result.message !== '', `a 447 for an owner with no KeyPackage was answered ${okLine(result)}, not OK true with a message`, '["OK", <id>, true, "<informative message>"]', okLine(result));
      const delivered = (await allDeliveries(t, client, result)).map((d) => d.event);
      t.equal(ids(delivered), [], `a 447 for an owner with no KeyPackage ${deliveredText(delivered)}`, delivered[0]);
    },
  },
  {
    id: 'kp-447-empty/no-match',
    anchor: 'kp-447-empty',
    section: 'Kind 447 requests',
    level: 'MUST',
    async run(t) {
      const owner = t.newKeys();
      const before = await t.publishKeyPackages(owner, 3);
      const { client, keys } = await t.connectAs('alice');
      await liveSub(client, askFor(owner, { since: nowSeconds() + 3600 }));
      const result = await client.requestKeyPackages(keys, owner.pubkey);
      t.check(
        result.ok && result.message !== '',
        'a 447 whose only subscription matches none of the owner\'s KeyPackages (since is an hour ahead) is answered OK true with an informative message',
        '["OK", <id>, true, "<informative message>"]',
        okLine(result),
      );
      const delivered = (await allDeliveries(t, client, result)).map((d) => d.event);
      t.equal(ids(delivered), [], `a 447 whose only subscription matches nothing ${deliveredText(delivered)}`, delivered[0]);
      const left = await t.inventory(owner);
      t.equal(idSet(left), idSet(before), `after a 447 whose subscription matched nothing, the owner's inventory holds ${kpsText(left)} of the ${before.length} published`);
    },
  },
  {
    id: 'kp-447-owner/not-consumed',
    anchor: 'kp-447-owner',
    section: 'Kind 447 requests',
    level: 'MUST',
    async run(t) {
      const owner = t.newKeys();
      const before = await t.publishKeyPackages(owner, 3);
      const { client, keys } = await requesterFor(t, owner);
      const second = await client.auth(owner);
      if (!second.ok) t.untested(`a second AUTH on one connection was refused (see kp-auth-multi): ${second.message}`);
      const got = distinct((await allDeliveries(t, client, await client.requestKeyPackages(keys, owner.pubkey, 2))).map((d) => d.event));
      t.check(got.length > 0, `a 447 on a connection where the owner is also authenticated ${deliveredText(got)}`, 'up to 2 KeyPackages', `${got.length}`);
      const left = await t.inventory(owner);
      t.equal(idSet(left), idSet(before), `after a 447 on a connection where the owner is authenticated, the owner's inventory holds ${kpsText(left)} of the ${before.length} published`);
    },
  },
  {
    id: 'kp-447-owner/not-charged',
    anchor: 'kp-447-owner',
    section: 'Kind 447 requests',
    level: 'MUST',
    needsLimits: true,
    async run(t) {
      const q = boundedQueries(t);
      const owner = t.newKeys();
      await t.publishKeyPackages(owner, 2);
      const { client, keys } = await requesterFor(t, owner);
      const second = await client.auth(owner);
      if (!second.ok) t.untested(`a second AUTH on one connection was refused (see kp-auth-multi): ${second.message}`);
      for (let i = 0; i <= q; i++) {
        const result = await client.requestKeyPackages(keys, owner.pubkey, 1);
        t.check(
          result.ok,
          `447 number ${i + 1} of ${q + 1} (queries_per_window is ${q}) on a connection where the owner is authenticated was refused with ${JSON.stringify(result.message)}${prefixOf(result.message) === PREFIX.rateLimited ? ": the owner's queries were charged" : ''}`,
          '["OK", <id>, true, ...]',
          okLine(result),
        );
      }
    },
  },
  {
    id: 'kp-447-not-stored/req',
    anchor: 'kp-447-not-stored',
    section: 'Kind 447 requests',
    level: 'MUST',
    async run(t) {
      const owner = t.newKeys();
      await t.publishKeyPackages(owner, 2);
      const { client, keys } = await requesterFor(t, owner);
      const request = request447(keys, [[TAG.pubkey, owner.pubkey]]);
      await client.sendRequest(request);
      const anon = await t.connect('reader');
      const byAuthor = await anon.req([{ kinds: [KIND.keyPackageRequest], authors: [keys.pubkey] }]);
      t.equal(ids(byAuthor.events), [], `a REQ for kind 447 by the signer returned ${byAuthor.events.length} stored request(s) (${ids(byAuthor.events).join(', ')})`, byAuthor.events[0]);
      const byId = await anon.req([{ ids: [request.id] }]);
      t.equal(ids(byId.events), [], `a REQ for the 447 ${request.id.slice(0, 12)} by id returned it: the request was stored`, byId.events[0]);
    },
  },
  {
    id: 'kp-447-not-stored/broadcast',
    anchor: 'kp-447-not-stored',
    section: 'Kind 447 requests',
    level: 'MUST',
    async run(t) {
      const owner = t.newKeys();
      await t.publishKeyPackages(owner, 2);
      const { client, keys } = await requesterFor(t, owner);
      const watcher = await t.connect('watcher');
      const watch = await watcher.req([{ kinds: [KIND.keyPackageRequest], authors: [keys.pubkey] }]);
      const request = request447(keys, [[TAG.pubkey, owner.pubkey]]);
      await client.sendRequest(request);
      const seen = eventFrames(await t.quiet(watcher)).filter((d) => d.subId === watch.subId);
      t.equal(ids(seen.map((d) => d.event)), [], `a live {"kinds":[447]} subscription on another connection received ${seen.length} request(s) (${ids(seen.map((d) => d.event)).join(', ')})`, seen[0]?.event);
    },
  },
  {
    id: 'kp-447-not-stored/gift-wrap',
    anchor: 'kp-447-not-stored',
    section: 'Kind 447 requests',
    level: 'MUST',
    async run(t) {
      const owner = t.newKeys();
      const wrap = sign({ kind: KIND.giftWrap, created_at: nowSeconds(), tags: [[TAG.pubkey, owner.pubkey]], content: randomBytes(64).toString('base64') }, t.newKeys());
      const sender = await t.connect('sender');
      const reply = await sender.publish(wrap);
      t.check(reply.ok, `a kind 1059 gift wrap (which may carry a 447) was refused: ${okLine(reply)}`, '["OK", <id>, true, ...]', okLine(reply));
      const { client } = await t.connectAs('recipient', owner);
      const res = await client.req([{ ids: [wrap.id] }]);
      t.equal(ids(res.events), ids([wrap]), `the recipient's REQ for the stored gift wrap ${wrap.id.slice(0, 12)} by id ${reqAnswer(res).replace('KeyPackage', 'event')}`);
    },
  },
  {
    id: 'kp-447-order/signature-first',
    anchor: 'kp-447-order',
    section: 'Kind 447 requests',
    level: 'MUST',
    source: STRICTER_PREFIX,
    async run(t) {
      const owner = t.newKeys();
      const anon = await t.connect('anon');
      const result = await anon.sendRequest(badSignature(request447(t.newKeys(), [[TAG.pubkey, owner.pubkey]])));
      refusedWith(t, result, PREFIX.invalid, 'an unauthenticated 447 with a bad signature (signature is checked before AUTH)');
    },
  },
  {
    id: 'kp-447-order/expiration-first',
    anchor: 'kp-447-order',
    section: 'Kind 447 requests',
    level: 'MUST',
    source: STRICTER_PREFIX,
    async run(t) {
      const owner = t.newKeys();
      const anon = await t.connect('anon');
      const expired = request447(t.newKeys(), [[TAG.pubkey, owner.pubkey], [TAG.expiration, String(nowSeconds() - 60)]]);
      const result = await anon.sendRequest(expired);
      refusedWith(t, result, PREFIX.invalid, 'an unauthenticated, expired 447 (expiration is checked before AUTH)');
    },
  },
  {
    id: 'kp-447-order/auth-before-form',
    anchor: 'kp-447-order',
    section: 'Kind 447 requests',
    level: 'MUST',
    source: STRICTER_PREFIX,
    async run(t) {
      const owner = t.newKeys();
      const anon = await t.connect('anon');
      const signer = t.newKeys();
      const wellFormed = await anon.requestKeyPackages(signer, owner.pubkey);
      if (wellFormed.ok || !wellFormed.message.startsWith(`${PREFIX.authRequired}:`)) {
        t.untested(`the relay does not refuse an unauthenticated 447 with auth-required: (see kp-447-auth); it answered ${okLine(wellFormed)}`);
      }
      const malformed = request447(signer, [[TAG.pubkey, owner.pubkey], [TAG.pubkey, signer.pubkey], [TAG.count, '0']]);
      const result = await anon.sendRequest(malformed);
      refusedWith(t, result, PREFIX.authRequired, 'an unauthenticated 447 that is also malformed (AUTH is checked before form)');
    },
  },
  {
    id: 'kp-447-order/subscription-and-form-before-rate-limit',
    anchor: 'kp-447-order',
    section: 'Kind 447 requests',
    level: 'MUST',
    source: STRICTER_PREFIX,
    needsLimits: true,
    async run(t) {
      const q = boundedQueries(t);
      const owner = t.newKeys();
      const { client, keys, subId } = await requesterFor(t, owner);
      const probe = await client.requestKeyPackages(keys, t.newKeys().pubkey);
      if (probe.ok || !probe.message.startsWith(`${PREFIX.invalid}:`)) {
        t.untested(`the relay does not refuse a 447 with no subscription for its owner with invalid: (see kp-447-subscription), so the order cannot be seen; it answered ${okLine(probe)}`);
      }
      for (let i = 0; i < q; i++) {
        const r = await client.requestKeyPackages(keys, owner.pubkey);
        if (!r.ok) t.untested(`the relay refused charged 447 ${i + 1} of queries_per_window (${q}): ${r.message}`);
      }
      const limited = await client.requestKeyPackages(keys, owner.pubkey);
      if (limited.ok || !limited.message.startsWith(`${PREFIX.rateLimited}:`)) {
        t.untested(`request ${q + 1} for one owner was not refused with rate-limited: (see kp-rate-queries), so the order cannot be seen; the relay answered ${okLine(limited)}`);
      }
      const malformed = await client.sendRequest(request447(keys, [[TAG.pubkey, owner.pubkey], [TAG.count, '0']]));
      refusedWith(t, malformed, PREFIX.invalid, 'a malformed 447 over the rate limit (form is checked before rate limits)');
      client.closeSub(subId);
      const noSub = await client.requestKeyPackages(keys, owner.pubkey);
      refusedWith(t, noSub, PREFIX.invalid, 'a 447 over the rate limit with no open subscription (subscription is checked before rate limits)');
    },
  },
];
