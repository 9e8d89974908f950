/**
 * PROFILE.md §6 Rate limits. A test cannot move a remote relay's clock, so
 * each works inside one window with a fresh requester, using the limits the
 * relay advertises; limits too large to exhaust in a bounded test are untested.
 */
import { ids, type TestContext } from '../context.js';
import type { ConformanceTest } from '../types.js';
import type { RelayClient } from '../../client/relay-client.js';
import type { Keys } from '../../protocol/crypto.js';
import { PREFIX, prefixOf } from '../../protocol/profile.js';
import { allDeliveries, askFor, boundedQueries, boundedServed, closedWith, deliveredText, eventFrames, idSet, kpsText, liveSub, okLine, refusedWith, reqAnswer, reqLine, reqOnce } from '../steps.js';

/**
 * Hands exactly `amount` KeyPackages to the requester on `client`, by REQ,
 * from fresh owners that each keep one more than they give (so no last resort
 * is involved) and each see at most queries_per_window queries.
 */
async function fillServed(t: TestContext, client: RelayClient, amount: number, judge: 'served' | 'setup' = 'setup'): Promise<void> {
  const { max_per_query: m, queries_per_window: q } = t.limits;
  t.note(`handing ${amount} KeyPackages to the requester to bring it near served_per_window`);
  for (let left = amount; left > 0; ) {
    const fromOwner = Math.min(left, m * q);
    const owner = t.newKeys();
    await t.publishKeyPackages(owner, fromOwner + 1);
    for (let got = 0; got < fromOwner; ) {
      const take = Math.min(m, fromOwner - got);
      const res = await reqOnce(client, [askFor(owner, { limit: take })]);
      if (judge === 'served' && res.closed !== undefined && prefixOf(res.closed) === PREFIX.rateLimited) {
        // The advertised limits are the relay's limits (§6.4): refusing below them is enforcing another cap.
        t.fail(
          `a REQ for ${take} more KeyPackage(s), within the advertised served_per_window (${t.limits.served_per_window}), ${reqAnswer(res)}: the relay enforces a lower cap than it advertises`,
          `${take} EVENT then EOSE (hand-out ${amount - left + got + take} of ${t.limits.served_per_window})`,
          reqLine(res),
        );
      }
      if (res.closed !== undefined || res.events.length !== take) {
        t.untested(`while handing out ${amount} KeyPackages within the advertised limits, a REQ with limit ${take} got ${reqLine(res)}`);
      }
      got += take;
    }
    left -= fromOwner;
  }
}

/** Sends `count` charged REQs for `owner`; untested if the relay refuses one within the limit. */
async function chargeReqs(t: TestContext, client: RelayClient, owner: Keys, count: number, judge: 'queries' | 'setup' = 'setup'): Promise<void> {
  for (let i = 0; i < count; i++) {
    const res = await reqOnce(client, [askFor(owner)]);
    if (judge === 'queries' && res.closed !== undefined && prefixOf(res.closed) === PREFIX.rateLimited) {
      t.fail(`charged query ${i + 1} of the advertised queries_per_window (${t.limits.queries_per_window}) ${reqAnswer(res)}: the relay enforces a lower limit than it advertises`, 'EOSE', reqLine(res));
    }
    if (res.closed !== undefined) t.untested(`the relay refused charged query ${i + 1} of queries_per_window (${t.limits.queries_per_window}) for one owner: ${res.closed}`);
  }
}

/** Sends `count` charged 447s for `owner`; untested if the relay refuses one within the limit. */
async function charge447s(t: TestContext, client: RelayClient, signer: Keys, owner: Keys, count: number, judge: 'queries' | 'setup' = 'setup'): Promise<void> {
  for (let i = 0; i < count; i++) {
    const r = await client.requestKeyPackages(signer, owner.pubkey);
    if (judge === 'queries' && !r.ok && prefixOf(r.message) === PREFIX.rateLimited) {
      t.fail(`447 number ${i + 1} of the advertised queries_per_window (${t.limits.queries_per_window}) was refused with ${JSON.stringify(r.message)}: the relay enforces a lower limit than it advertises`, '["OK", <id>, true, ...]', okLine(r));
    }
    if (!r.ok) t.untested(`the relay refused charged 447 ${i + 1} of queries_per_window (${t.limits.queries_per_window}) for one owner: ${r.message}`);
  }
  await t.quiet(client); // deliveries of a relay that sends them after the OK must not count against the next request
}

/** The queries tests hand out one last resort per query: they need queries_per_window of room under served_per_window. */
function queriesWithinServed(t: TestContext): number {
  const q = boundedQueries(t);
  if (q > t.limits.served_per_window) t.untested(`queries_per_window (${q}) exceeds served_per_window (${t.limits.served_per_window}): the served cap would refuse first`);
  return q;
}

/** Tests that judge a refusal by "rate-limited:": NIP-01 asks only for some machine-readable prefix. */
const STRICTER_PREFIX = { profile: true, stricterThan: 'NIP-01' } as const;

export const rateLimitTests: ConformanceTest[] = [
  {
    id: 'kp-rate-queries/req',
    anchor: 'kp-rate-queries',
    section: 'Rate limits',
    level: 'MUST',
    source: STRICTER_PREFIX,
    needsLimits: true,
    async run(t) {
      const q = queriesWithinServed(t);
      const owner = t.newKeys();
      await t.publishKeyPackages(owner, 1);
      const { client } = await t.connectAs('alice');
      await chargeReqs(t, client, owner, q, 'queries');
      const over = await client.req([askFor(owner)]);
      closedWith(t, over, PREFIX.rateLimited, `charged REQ ${q + 1} for one owner (queries_per_window is ${q})`);
      t.equal(ids(over.events), [], `the REQ over queries_per_window was refused but handed out ${kpsText(over.events)} first`, over.events[0]);
    },
  },
  {
    id: 'kp-rate-queries/447-empty',
    anchor: 'kp-rate-queries',
    section: 'Rate limits',
    level: 'MUST',
    source: STRICTER_PREFIX,
    needsLimits: true,
    async run(t) {
      const q = boundedQueries(t);
      const owner = t.newKeys(); // no KeyPackages: each request finds nothing and is still charged
      const { client, keys } = await t.connectAs('alice');
      await liveSub(client, askFor(owner));
      await charge447s(t, client, keys, owner, q, 'queries');
      const over = await client.requestKeyPackages(keys, owner.pubkey);
      refusedWith(t, over, PREFIX.rateLimited, `447 number ${q + 1} for one owner (queries_per_window is ${q}; the earlier ones found nothing and still count)`);
    },
  },
  {
    id: 'kp-rate-served/req-cap',
    anchor: 'kp-rate-served',
    section: 'Rate limits',
    level: 'MUST',
    source: STRICTER_PREFIX,
    needsLimits: true,
    async run(t) {
      const s = boundedServed(t);
      const { client } = await t.connectAs('alice');
      await fillServed(t, client, s, 'served');
      const owner = t.newKeys();
      await t.publishKeyPackages(owner, 2);
      const over = await client.req([askFor(owner, { limit: 1 })]);
      closedWith(t, over, PREFIX.rateLimited, `a REQ for one more KeyPackage after served_per_window (${s}) were handed out`);
      t.equal(ids(over.events), [], `the REQ past served_per_window was refused but handed out ${kpsText(over.events)} first`, over.events[0]);
    },
  },
  {
    id: 'kp-rate-served/447-cap',
    anchor: 'kp-rate-served',
    section: 'Rate limits',
    level: 'MUST',
    source: STRICTER_PREFIX,
    needsLimits: true,
    async run(t) {
      const s = boundedServed(t);
      const { client, keys } = await t.connectAs('alice');
      await fillServed(t, client, s, 'served');
      const owner = t.newKeys();
      await t.publishKeyPackages(owner, 2);
      await liveSub(client, askFor(owner));
      const over = await client.requestKeyPackages(keys, owner.pubkey, 1);
      refusedWith(t, over, PREFIX.rateLimited, `a 447 for one more KeyPackage after served_per_window (${s}) were handed out`);
      const delivered = (await allDeliveries(t, client, over)).map((d) => d.event);
      t.equal(ids(delivered), [], `the 447 past served_per_window ${deliveredText(delivered)}`, delivered[0]);
    },
  },
  {
    id: 'kp-rate-served/last-resort',
    anchor: 'kp-rate-served',
    section: 'Rate limits',
    level: 'MUST',
    source: STRICTER_PREFIX,
    needsLimits: true,
    async run(t) {
      const s = boundedServed(t);
      if (t.limits.queries_per_window < 2) t.untested('the test asks one owner twice; queries_per_window is below 2');
      const lone = t.newKeys();
      await t.publishKeyPackages(lone, 1);
      const { client } = await t.connectAs('alice');
      const first = await reqOnce(client, [askFor(lone)]);
      if (first.events.length !== 1) t.untested(`the owner's only KeyPackage was not handed out: ${reqLine(first)}`);
      await fillServed(t, client, s - 1, 'served');
      if ((await t.inventory(lone)).length !== 1) t.untested('the last resort was consumed (see kp-handout-last-resort), so it cannot be handed out again to test the cap');
      const over = await client.req([askFor(lone)]);
      closedWith(
        t,
        over,
        PREFIX.rateLimited,
        `a REQ for a last resort after served_per_window (${s}) KeyPackages, one of them that same last resort, were handed out (last resorts count)`,
      );
    },
  },
  {
    id: 'kp-rate-served/would-pass',
    anchor: 'kp-rate-served',
    section: 'Rate limits',
    level: 'MUST',
    source: STRICTER_PREFIX,
    needsLimits: true,
    async run(t) {
      const s = boundedServed(t);
      const m = t.limits.max_per_query;
      if (m < 2) t.untested('max_per_query is 1: no single query can pass the cap by more than the one it is allowed');
      const { client } = await t.connectAs('alice');
      await fillServed(t, client, s - 1, 'served');
      const owner = t.newKeys();
      await t.publishKeyPackages(owner, m + 1);
      const over = await client.req([askFor(owner)]);
      closedWith(t, over, PREFIX.rateLimited, `a REQ for ${m} KeyPackages when one is left under served_per_window (${s})`);
      t.equal(ids(over.events), [], `the REQ that would pass served_per_window was refused but handed out ${kpsText(over.events)}, the part that fit`, over.events[0]);
    },
  },
  {
    id: 'kp-rate-served/two-subscriptions',
    anchor: 'kp-rate-served',
    section: 'Rate limits',
    level: 'MUST',
    needsLimits: true,
    async run(t) {
      const s = boundedServed(t);
      if (s < 2) t.untested('served_per_window is below 2');
      const { client, keys } = await t.connectAs('alice');
      await fillServed(t, client, s - 2, 'served');
      const owner = t.newKeys();
      await t.publishKeyPackages(owner, 2);
      await liveSub(client, askFor(owner));
      await liveSub(client, { authors: [owner.pubkey] });
      const result = await client.requestKeyPackages(keys, owner.pubkey, 1);
      const deliveries = await allDeliveries(t, client, result);
      if (new Set(deliveries.map((d) => d.subId)).size < 2) t.untested(`the 447 was not delivered on both matching subscriptions (see kp-447-delivery): ${okLine(result)}`);
      const last = t.newKeys();
      await t.publishKeyPackages(last, 2);
      const res = await client.req([askFor(last, { limit: 1 })]);
      t.check(
        res.closed === undefined && res.events.length === 1,
        `with ${s - 1} of served_per_window (${s}) used (one KeyPackage delivered on two subscriptions counts once), a REQ for one more ${reqAnswer(res)}`,
        '1 EVENT then EOSE',
        reqLine(res),
      );
    },
  },
  {
    id: 'kp-rate-refusal/req-consumes-nothing',
    anchor: 'kp-rate-refusal',
    section: 'Rate limits',
    level: 'MUST',
    source: STRICTER_PREFIX,
    needsLimits: true,
    async run(t) {
      const q = queriesWithinServed(t);
      const owner = t.newKeys();
      await t.publishKeyPackages(owner, 1);
      const { client } = await t.connectAs('alice');
      await chargeReqs(t, client, owner, q);
      await t.publishKeyPackages(owner, t.limits.max_per_query);
      const before = await t.inventory(owner);
      const over = await client.req([askFor(owner)]);
      closedWith(t, over, PREFIX.rateLimited, `charged REQ ${q + 1} for one owner (queries_per_window is ${q})`);
      t.equal(ids(over.events), [], `the refused REQ handed out ${kpsText(over.events)} before its CLOSED`, over.events[0]);
      const left = await t.inventory(owner);
      t.equal(idSet(left), idSet(before), `after the refused REQ, the owner's inventory holds ${kpsText(left)} of the ${before.length} published`);
    },
  },
  {
    id: 'kp-rate-refusal/447-consumes-nothing',
    anchor: 'kp-rate-refusal',
    section: 'Rate limits',
    level: 'MUST',
    source: STRICTER_PREFIX,
    needsLimits: true,
    async run(t) {
      const q = queriesWithinServed(t);
      const owner = t.newKeys();
      await t.publishKeyPackages(owner, 1);
      const { client, keys } = await t.connectAs('alice');
      const subId = await liveSub(client, askFor(owner));
      await charge447s(t, client, keys, owner, q);
      // The owner restocks while no subscription is open, so only a hand-out could bring the new ones here.
      client.closeSub(subId);
      await t.publishKeyPackages(owner, t.limits.max_per_query);
      await liveSub(client, askFor(owner));
      const before = await t.inventory(owner);
      const over = await client.requestKeyPackages(keys, owner.pubkey);
      refusedWith(t, over, PREFIX.rateLimited, `447 number ${q + 1} for one owner (queries_per_window is ${q})`);
      const delivered = eventFrames(await t.quiet(client)).map((d) => d.event).concat(over.deliveries.map((d) => d.event));
      t.equal(ids(delivered), [], `the refused 447 ${deliveredText(delivered)}`, delivered[0]);
      const left = await t.inventory(owner);
      t.equal(idSet(left), idSet(before), `after the refused 447, the owner's inventory holds ${kpsText(left)} of the ${before.length} published`);
    },
  },
  {
    id: 'kp-rate-refusal/not-charged',
    anchor: 'kp-rate-refusal',
    section: 'Rate limits',
    level: 'MUST',
    source: STRICTER_PREFIX,
    needsLimits: true,
    async run(t) {
      const s = boundedServed(t);
      const q = boundedQueries(t);
      if (t.limits.max_per_query < 2) t.untested('max_per_query is 1: the test needs a query that passes the served cap by more than the room left');
      if (s < q) t.untested(`served_per_window (${s}) is below queries_per_window (${q})`);
      const carol = t.newKeys();
      await t.publishKeyPackages(carol, q + 1);
      const { client } = await t.connectAs('alice');
      for (let i = 0; i < q - 1; i++) {
        const res = await reqOnce(client, [askFor(carol, { limit: 1 })]);
        if (res.closed !== undefined || res.events.length !== 1) t.untested(`a REQ for one of Carol's KeyPackages within the limits got ${reqLine(res)}`);
      }
      await fillServed(t, client, s - q);
      const refused = await reqOnce(client, [askFor(carol, { limit: 2 })]);
      closedWith(t, refused, PREFIX.rateLimited, `a REQ for 2 of Carol's KeyPackages with one left under served_per_window (${s})`);
      const last = await reqOnce(client, [askFor(carol, { limit: 1 })]);
      t.check(
        last.closed === undefined && last.events.length === 1,
        `query ${q} of queries_per_window (${q}) for Carol, for the last 1 of served_per_window (${s}), ${reqAnswer(last)}: the refused REQ was charged`,
        '1 EVENT then EOSE',
        reqLine(last),
      );
    },
  },
];
