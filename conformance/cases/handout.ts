/**
 * PROFILE.md §5 Hand-out, shared by REQ and kind 447.
 */
import { ids, type TestContext } from '../context.js';
import type { ConformanceTest } from '../types.js';
import { kp, reqLine, distinct, askFor, liveSub, reqOnce, allDeliveries, kpsText, reqAnswer, deliveredText } from '../steps.js';
import { keyPackage, oldestFirst } from '../../fixtures/events.js';
import { closeText, ConnectionClosedError, nowSeconds } from '../../client/relay-client.js';
import { eventProblem, type Keys } from '../../protocol/crypto.js';
import type { NostrEvent } from '../../protocol/messages.js';
import { keyPackageMlsProblem } from '../../protocol/mls.js';

/** Publishes `count` KeyPackages with one shared created_at, so only their ids order them. Returns them in hand-out order. */
async function publishSameSecond(t: TestContext, owner: Keys, count: number): Promise<NostrEvent[]> {
  const { client } = await t.connectAs('owner', owner);
  const createdAt = nowSeconds() - 5;
  const kps: NostrEvent[] = [];
  for (let i = 0; i < count; i++) kps.push(await keyPackage(owner, { createdAt }));
  for (const e of kps) {
    const reply = await client.publish(e);
    if (!reply.ok) throw new Error(`setup: publishing a KeyPackage was refused: ${reply.message}`);
  }
  await client.close();
  return kps.sort(oldestFirst);
}

/** What became of the last resort, from the owner's inventory: "is still stored", "was consumed after alice received it". */
function lastResortFate(left: readonly NostrEvent[], lastResort: NostrEvent, after: string): string {
  if (left.some((e) => e.id === lastResort.id)) return `is still stored (the owner holds ${kpsText(left)})`;
  return left.length === 0 ? `was consumed after ${after}` : `is gone after ${after}; the owner holds ${kpsText(left)}`;
}

/** A relay that consumes a lone last resort even without concurrency: kp-handout-last-resort reports that. */
async function consumesLastResortAlone(t: TestContext): Promise<boolean> {
  const owner = t.newKeys();
  await t.publishKeyPackages(owner, 1);
  const { client } = await t.connectAs('probe');
  await reqOnce(client, [askFor(owner)]);
  return (await t.inventory(owner)).length === 0;
}

/**
 * kp-handout-exactly-once, judged on everything handed out in a race: only
 * the last resort may appear twice, and it must still be stored.
 */
async function judgeRace(t: TestContext, owner: Keys, handed: readonly NostrEvent[]): Promise<void> {
  const left = await t.inventory(owner);
  const counts = new Map<string, number>();
  for (const e of handed) counts.set(e.id, (counts.get(e.id) ?? 0) + 1);
  const repeated = [...counts].filter(([, n]) => n > 1);
  const lastResort = left.length === 1 ? left[0]!.id : undefined;
  const twice = repeated.filter(([id]) => id !== lastResort);
  t.check(
    twice.length === 0,
    `${twice.map(([id, n]) => `${id.slice(0, 12)} was handed to ${n} concurrent requesters`).join(', ')}; the last resort (still stored at the end) is ${lastResort?.slice(0, 12) ?? 'none'}`,
    `each KeyPackage handed out once, except the one still stored at the end (${lastResort?.slice(0, 12) ?? 'none'})`,
    twice.map(([id, n]) => `${id.slice(0, 12)} handed out ${n} times`).join(', '),
    // The second hand-out of the first repeated KeyPackage.
    handed.filter((e) => e.id === twice[0]?.[0])[1],
  );
  if (left.length === 0) {
    if (await consumesLastResortAlone(t)) {
      t.untested("the relay consumes a lone last resort even without concurrency (see kp-handout-last-resort), so the race cannot judge the last one");
    }
    t.fail(`after ${handed.length} hand-outs to concurrent requesters the owner's inventory is empty: the last resort was consumed`, 'one KeyPackage still stored after the race', 'none stored');
  }
}

const RACERS = 8;

/**
 * A race can go the right way by luck: each race test runs up to this many
 * rounds, with fresh owner and requesters, and fails on the first round that
 * hands a KeyPackage out twice.
 */
const RACE_ROUNDS = 3;

/** Runs one round's concurrent requests; a relay that hangs up on them instead of answering fails the rule. */
async function raceRound(t: TestContext, round: number, requests: () => Promise<NostrEvent[]>): Promise<NostrEvent[]> {
  try {
    return await requests();
  } catch (err) {
    if (!(err instanceof ConnectionClosedError)) throw err;
    return t.fail(
      `in race round ${round}, the relay closed a requester's connection instead of answering its concurrent requests`,
      'every concurrent request answered (EVENTs then EOSE, or an OK)',
      `the connection was closed (${closeText(err.code, err.reason)})`,
    );
  }
}

/**
 * kp-handout-intact: every handed-out event verifies, is the published event
 * field for field, and still holds a KeyPackage a client can use (its MLS
 * content decodes, names its owner and its signatures verify).
 */
async function checkIntact(t: TestContext, published: readonly NostrEvent[], handed: readonly NostrEvent[]): Promise<void> {
  if (handed.length === 0) t.untested('nothing was handed out (see kp-req-handout, kp-447-delivery), so there is no KeyPackage to inspect');
  for (const e of handed) {
    const problem = eventProblem(e);
    t.check(problem === undefined, `handed-out KeyPackage ${e.id.slice(0, 12)} does not verify: ${problem ?? ''}`, 'a valid id and signature', problem ?? '', e);
    const original = published.find((p) => p.id === e.id);
    t.check(original !== undefined, `the relay handed out ${e.id.slice(0, 12)}, an id the owner never published (${ids(published).join(', ')})`, ids(published).join(', '), e.id.slice(0, 12), e);
    const fields = (x: NostrEvent): unknown[] => [x.pubkey, x.kind, x.created_at, x.tags, x.content];
    t.equal(fields(e), fields(original!), `handed-out KeyPackage ${e.id.slice(0, 12)} differs from the published event in pubkey, kind, created_at, tags or content`, e);
    const mls = await keyPackageMlsProblem(e);
    t.check(mls === undefined, `handed-out KeyPackage ${e.id.slice(0, 12)} no longer holds a usable MLS KeyPackage: ${mls ?? ''}`, 'content that decodes as an MLS KeyPackage of its owner whose signatures verify', mls ?? '', e);
  }
}

/** Extra tags a relay rebuilding events from its columns tends to drop. */
const UNUSUAL_TAGS = { extraTags: [['client', 'kpsuite conformance']] };

export const handoutTests: ConformanceTest[] = [
  {
    id: 'kp-handout-max/req',
    anchor: 'kp-handout-max',
    section: 'Hand-out',
    level: 'MUST',
    needsLimits: true,
    async run(t) {
      const m = t.limits.max_per_query;
      if (t.limits.queries_per_window < 3) t.untested(`the test asks one owner 3 times; queries_per_window is ${t.limits.queries_per_window}`);
      if (t.limits.served_per_window < 2 * m + 1) t.untested(`the test needs ${2 * m + 1} hand-outs; served_per_window is ${t.limits.served_per_window}`);
      const owner = t.newKeys();
      await t.publishKeyPackages(owner, 2 * m + 3); // more than every ask below takes, so available never binds
      const { client } = await t.connectAs('alice');
      // Exactly min(limit, max_per_query): more is too many, fewer leaves stored KeyPackages unserved.
      const asks: [string, { limit?: number }, number][] = [
        ['without limit', {}, m],
        [`with limit ${m + 5}`, { limit: m + 5 }, m],
        ['with limit 1', { limit: 1 }, 1],
      ];
      for (const [what, extra, want] of asks) {
        const res = await reqOnce(client, [askFor(owner, extra)]);
        t.check(
          res.closed === undefined && res.events.length === want,
          `a REQ ${what} for an owner with more stored ${reqAnswer(res)}, not min(limit, max_per_query) = ${want} (max_per_query ${m})`,
          `${want} EVENT then EOSE`,
          reqLine(res),
        );
      }
    },
  },
  {
    id: 'kp-handout-max/447',
    anchor: 'kp-handout-max',
    section: 'Hand-out',
    level: 'MUST',
    needsLimits: true,
    async run(t) {
      const m = t.limits.max_per_query;
      if (t.limits.queries_per_window < 2) t.untested(`the test asks one owner twice; queries_per_window is ${t.limits.queries_per_window}`);
      if (t.limits.served_per_window < m + 1) t.untested(`the test needs ${m + 1} hand-outs; served_per_window is ${t.limits.served_per_window}`);
      const owner = t.newKeys();
      await t.publishKeyPackages(owner, m + 3);
      const { client, keys } = await t.connectAs('alice');
      await liveSub(client, askFor(owner));
      const dflt = distinct((await allDeliveries(t, client, await client.requestKeyPackages(keys, owner.pubkey))).map((d) => d.event));
      t.check(
        dflt.length === m,
        `a 447 without n (asking for max_per_query, ${m}) for an owner with ${m + 3} stored ${deliveredText(dflt)}`,
        `${m} KeyPackages`,
        `${dflt.length}: ${ids(dflt).join(', ')}`,
      );
      const one = distinct((await allDeliveries(t, client, await client.requestKeyPackages(keys, owner.pubkey, 1))).map((d) => d.event));
      t.check(one.length === 1, `a 447 with ["n", "1"] for an owner with more stored ${deliveredText(one)}`, '1 KeyPackage', `${one.length}: ${ids(one).join(', ')}`);
    },
  },
  {
    id: 'kp-handout-order/req',
    anchor: 'kp-handout-order',
    section: 'Hand-out',
    level: 'MUST',
    needsLimits: true,
    async run(t) {
      const k = Math.min(2, t.limits.max_per_query);
      const owner = t.newKeys();
      const published = await t.publishKeyPackages(owner, 4);
      const { client } = await t.connectAs('alice');
      const res = await client.req([askFor(owner, { limit: k })]);
      t.equal(ids(res.events), ids(published.slice(0, k)), `a REQ with limit ${k} for 4 KeyPackages with distinct created_at ${reqAnswer(res)}; the ${k} oldest, oldest first, are ${ids(published.slice(0, k)).join(', ')}`);
    },
  },
  {
    id: 'kp-handout-order/req-same-created-at',
    anchor: 'kp-handout-order',
    section: 'Hand-out',
    level: 'MUST',
    needsLimits: true,
    async run(t) {
      const k = Math.min(2, t.limits.max_per_query);
      const owner = t.newKeys();
      const published = await publishSameSecond(t, owner, 3);
      const { client } = await t.connectAs('alice');
      const res = await client.req([askFor(owner, { limit: k })]);
      t.equal(ids(res.events), ids(published.slice(0, k)), `a REQ with limit ${k} for 3 KeyPackages with the same created_at ${reqAnswer(res)}; the ${k} lowest ids, lowest first, are ${ids(published.slice(0, k)).join(', ')}`);
    },
  },
  {
    id: 'kp-handout-order/req-ids',
    anchor: 'kp-handout-order',
    section: 'Hand-out',
    level: 'MUST',
    needsLimits: true,
    async run(t) {
      const k = Math.min(2, t.limits.max_per_query);
      const owner = t.newKeys();
      const published = await t.publishKeyPackages(owner, 4);
      const named = published.slice(1).reverse();
      const { client } = await t.connectAs('alice');
      const res = await client.req([{ kinds: [kp], ids: named.map((e) => e.id), limit: k }]);
      const unnamed = res.events.filter((e) => !named.some((n) => n.id === e.id));
      if (unnamed.length > 0) t.untested(`the relay handed out ${ids(unnamed).join(', ')}, which the filter does not name (see kp-req-scope), so the order among the named ones cannot be judged`);
      t.equal(ids(res.events), ids(published.slice(1, 1 + k)), `a REQ with limit ${k} and ids naming the 3 newest of 4 KeyPackages ${reqAnswer(res)}; the ${k} oldest named are ${ids(published.slice(1, 1 + k)).join(', ')}`);
    },
  },
  {
    id: 'kp-handout-order/447',
    anchor: 'kp-handout-order',
    section: 'Hand-out',
    level: 'MUST',
    needsLimits: true,
    async run(t) {
      const k = Math.min(2, t.limits.max_per_query);
      const owner = t.newKeys();
      const published = await t.publishKeyPackages(owner, 4);
      const { client, keys } = await t.connectAs('alice');
      await liveSub(client, askFor(owner));
      const got = (await allDeliveries(t, client, await client.requestKeyPackages(keys, owner.pubkey, k))).map((d) => d.event);
      t.equal(ids(got), ids(published.slice(0, k)), `a 447 with ["n", "${k}"] for 4 KeyPackages ${deliveredText(got)}; the ${k} oldest, oldest first, are ${ids(published.slice(0, k)).join(', ')}`);
    },
  },
  {
    id: 'kp-handout-order/447-same-created-at',
    anchor: 'kp-handout-order',
    section: 'Hand-out',
    level: 'MUST',
    needsLimits: true,
    async run(t) {
      const k = Math.min(2, t.limits.max_per_query);
      const owner = t.newKeys();
      const published = await publishSameSecond(t, owner, 3);
      const { client, keys } = await t.connectAs('alice');
      await liveSub(client, askFor(owner));
      const got = (await allDeliveries(t, client, await client.requestKeyPackages(keys, owner.pubkey, k))).map((d) => d.event);
      t.equal(ids(got), ids(published.slice(0, k)), `a 447 with ["n", "${k}"] for 3 KeyPackages with the same created_at ${deliveredText(got)}; the ${k} lowest ids, lowest first, are ${ids(published.slice(0, k)).join(', ')}`);
    },
  },
  {
    id: 'kp-handout-consume/req',
    anchor: 'kp-handout-consume',
    section: 'Hand-out',
    level: 'MUST',
    needsLimits: true,
    async run(t) {
      const m = t.limits.max_per_query;
      const owner = t.newKeys();
      await t.publishKeyPackages(owner, 2 * m + 1);
      const { client: alice } = await t.connectAs('alice');
      const first = (await alice.req([askFor(owner)])).events;
      if (first.length === 0) t.untested('nothing was handed out to the first requester (see kp-req-handout)');
      const { client: bob } = await t.connectAs('bob');
      const second = (await bob.req([askFor(owner)])).events;
      const again = second.filter((e) => first.some((f) => f.id === e.id));
      t.equal(ids(again), [], `bob's REQ was handed ${kpsText(again)} that alice had already received`, again[0]);
      const byId = (await bob.req([{ kinds: [kp], ids: first.map((e) => e.id) }])).events;
      t.equal(ids(byId), [], `a REQ naming alice's ${first.length} consumed KeyPackage(s) by id returned ${kpsText(byId)}`, byId[0]);
      const kept = (await t.inventory(owner)).filter((e) => first.some((f) => f.id === e.id));
      t.equal(ids(kept), [], `the owner's inventory still holds ${kpsText(kept)} that alice's REQ handed out`);
    },
  },
  {
    id: 'kp-handout-consume/447',
    anchor: 'kp-handout-consume',
    section: 'Hand-out',
    level: 'MUST',
    needsLimits: true,
    async run(t) {
      const m = t.limits.max_per_query;
      const owner = t.newKeys();
      await t.publishKeyPackages(owner, 2 * m + 1);
      const { client: alice, keys } = await t.connectAs('alice');
      await liveSub(alice, askFor(owner));
      const first = distinct((await allDeliveries(t, alice, await alice.requestKeyPackages(keys, owner.pubkey))).map((d) => d.event));
      if (first.length === 0) t.untested('nothing was delivered to the first requester (see kp-447-delivery)');
      const { client: bob } = await t.connectAs('bob');
      const second = (await bob.req([askFor(owner)])).events;
      const again = second.filter((e) => first.some((f) => f.id === e.id));
      t.equal(ids(again), [], `bob's REQ was handed ${kpsText(again)} that alice's 447 had already delivered`, again[0]);
      const kept = (await t.inventory(owner)).filter((e) => first.some((f) => f.id === e.id));
      t.equal(ids(kept), [], `the owner's inventory still holds ${kpsText(kept)} that alice's 447 delivered`);
    },
  },
  {
    id: 'kp-handout-last-resort/req',
    anchor: 'kp-handout-last-resort',
    section: 'Hand-out',
    level: 'MUST',
    async run(t) {
      const owner = t.newKeys();
      const [only] = await t.publishKeyPackages(owner, 1);
      const { client: alice } = await t.connectAs('alice');
      const first = await alice.req([{ kinds: [kp], authors: [owner.pubkey] }]);
      t.equal(ids(first.events), ids([only!]), `alice's REQ for an owner with one KeyPackage (${ids([only!])[0]}) ${reqAnswer(first)}`);
      const { client: bob } = await t.connectAs('bob');
      const second = await bob.req([{ kinds: [kp], authors: [owner.pubkey] }]);
      const bobsAnswer = t.lastAnswer;
      // Read now so bob's verdict can say what became of the last resort; bob's answer stays the decisive frame.
      const left = await t.inventory(owner);
      t.equal(ids(second.events), ids([only!]), `bob's REQ ${reqAnswer(second)}; the last resort ${ids([only!])[0]} ${lastResortFate(left, only!, 'alice received it')}`, bobsAnswer);
      t.equal(ids(left), ids([only!]), `after alice and bob received the last resort ${ids([only!])[0]}, the owner's inventory holds ${kpsText(left)}`);
    },
  },
  {
    id: 'kp-handout-last-resort/447',
    anchor: 'kp-handout-last-resort',
    section: 'Hand-out',
    level: 'MUST',
    async run(t) {
      const owner = t.newKeys();
      const [only] = await t.publishKeyPackages(owner, 1);
      for (const who of ['alice', 'bob']) {
        const { client, keys } = await t.connectAs(who);
        await liveSub(client, askFor(owner));
        const got = distinct((await allDeliveries(t, client, await client.requestKeyPackages(keys, owner.pubkey))).map((d) => d.event));
        if (ids(got).join() !== ids([only!]).join()) {
          const answer = t.lastAnswer;
          const fate = who === 'alice' ? '' : `; the last resort ${ids([only!])[0]} ${lastResortFate(await t.inventory(owner), only!, 'alice received it')}`;
          t.equal(ids(got), ids([only!]), `${who}'s 447 for an owner with one KeyPackage (${ids([only!])[0]}) ${deliveredText(got)}${fate}`, answer);
        }
      }
      const left = await t.inventory(owner);
      t.equal(ids(left), ids([only!]), `after alice and bob received the last resort ${ids([only!])[0]} by 447, the owner's inventory holds ${kpsText(left)}`);
    },
  },
  {
    id: 'kp-handout-last-resort/req-after-batch',
    anchor: 'kp-handout-last-resort',
    section: 'Hand-out',
    level: 'MUST',
    needsLimits: true,
    async run(t) {
      const m = t.limits.max_per_query;
      const owner = t.newKeys();
      const published = await t.publishKeyPackages(owner, m + 1);
      const { client: alice } = await t.connectAs('alice');
      const first = (await alice.req([askFor(owner)])).events;
      if (first.length !== m) t.untested(`the first requester of ${m + 1} KeyPackages got ${first.length}, not max_per_query (${m}) (see kp-req-handout), so more than one is left`);
      const rest = published.filter((e) => !first.some((f) => f.id === e.id));
      for (const who of ['bob', 'carol']) {
        const { client } = await t.connectAs(who);
        const res = await client.req([askFor(owner)]);
        if (ids(res.events).join() !== ids(rest).join()) {
          const answer = t.lastAnswer;
          const after = who === 'bob' ? `alice took ${m}` : `alice took ${m} and bob received it`;
          const fate = rest[0] ? `; the last resort ${ids(rest)[0]} ${lastResortFate(await t.inventory(owner), rest[0], after)}` : '';
          t.equal(ids(res.events), ids(rest), `${who}'s REQ after alice took ${m} of ${m + 1} KeyPackages ${reqAnswer(res)}${fate}`, answer);
        }
      }
      const left = await t.inventory(owner);
      t.equal(ids(left), ids(rest), `after bob and carol received the last resort ${ids(rest).join(', ')}, the owner's inventory holds ${kpsText(left)}`);
    },
  },
  {
    id: 'kp-handout-exactly-once/race-req',
    anchor: 'kp-handout-exactly-once',
    section: 'Hand-out',
    level: 'MUST',
    needsLimits: true,
    async run(t) {
      for (let round = 1; round <= RACE_ROUNDS; round++) {
        const owner = t.newKeys();
        await t.publishKeyPackages(owner, 2 * t.limits.max_per_query + 1);
        const racers = await Promise.all(Array.from({ length: RACERS }, (_, i) => t.connectAs(`${round}r${i}`)));
        t.note(`round ${round}: ${RACERS} requesters on separate connections send their REQs at once`);
        const handed = await raceRound(t, round, async () => (await Promise.all(racers.map(({ client }) => client.req([askFor(owner)])))).flatMap((r) => r.events));
        await judgeRace(t, owner, handed);
      }
    },
  },
  {
    id: 'kp-handout-exactly-once/race-req-447',
    anchor: 'kp-handout-exactly-once',
    section: 'Hand-out',
    level: 'MUST',
    needsLimits: true,
    async run(t) {
      for (let round = 1; round <= RACE_ROUNDS; round++) {
        const owner = t.newKeys();
        await t.publishKeyPackages(owner, 2 * t.limits.max_per_query + 1);
        const racers = await Promise.all(Array.from({ length: RACERS }, (_, i) => t.connectAs(`${round}r${i}`)));
        const by447 = racers.filter((_, i) => i % 2 === 1);
        await Promise.all(by447.map(({ client }) => liveSub(client, askFor(owner))));
        t.note(`round ${round}: ${RACERS} requesters on separate connections, half by REQ and half by 447, ask at once`);
        const got = await raceRound(t, round, async () =>
          (
            await Promise.all(
              racers.map(async ({ client, keys }, i) => {
                if (i % 2 === 0) return (await client.req([askFor(owner)])).events;
                const result = await client.requestKeyPackages(keys, owner.pubkey);
                return distinct((await allDeliveries(t, client, result)).map((d) => d.event));
              }),
            )
          ).flat(),
        );
        await judgeRace(t, owner, got);
      }
    },
  },
  {
    id: 'kp-handout-exactly-once/race-one-connection',
    anchor: 'kp-handout-exactly-once',
    section: 'Hand-out',
    level: 'MUST',
    needsLimits: true,
    async run(t) {
      const k = Math.min(4, t.limits.queries_per_window);
      for (let round = 1; round <= RACE_ROUNDS; round++) {
        const owner = t.newKeys();
        await t.publishKeyPackages(owner, 2 * t.limits.max_per_query + 1);
        const { client } = await t.connectAs(`alice${round}`); // fresh requester: each round within the served cap
        t.note(`round ${round}: ${k} REQs on one connection sent without waiting for each other`);
        const handed = await raceRound(t, round, async () => (await Promise.all(Array.from({ length: k }, () => client.req([askFor(owner)])))).flatMap((r) => r.events));
        await judgeRace(t, owner, handed);
      }
    },
  },
  {
    id: 'kp-handout-intact/req',
    anchor: 'kp-handout-intact',
    section: 'Hand-out',
    level: 'MUST',
    async run(t) {
      const owner = t.newKeys();
      const published = await t.publishKeyPackages(owner, 2, UNUSUAL_TAGS);
      const { client } = await t.connectAs('alice');
      await checkIntact(t, published, (await client.req([askFor(owner)])).events);
    },
  },
  {
    id: 'kp-handout-intact/447',
    anchor: 'kp-handout-intact',
    section: 'Hand-out',
    level: 'MUST',
    async run(t) {
      const owner = t.newKeys();
      const published = await t.publishKeyPackages(owner, 2, UNUSUAL_TAGS);
      const { client, keys } = await t.connectAs('alice');
      await liveSub(client, askFor(owner));
      const delivered = await allDeliveries(t, client, await client.requestKeyPackages(keys, owner.pubkey));
      await checkIntact(t, published, delivered.map((d) => d.event));
    },
  },
];
