/** PROFILE.md §3 Asking for KeyPackages with REQ. */
import { randomBytes } from 'node:crypto';
import { ids, type TestContext } from '../context.js';
import type { ConformanceTest } from '../types.js';
import { textNote } from '../../fixtures/events.js';
import { TimeoutError, type RelayClient } from '../../client/relay-client.js';
import type { Keys } from '../../protocol/crypto.js';
import type { Filter, NostrEvent } from '../../protocol/messages.js';
import { PREFIX } from '../../protocol/profile.js';
import { askFor, boundedQueries, closedWith, eventFrames, eventsText, idSet, keyPackagesIn, kp, kpsText, reqAnswer, reqLine, reqOnce } from '../steps.js';

function randomId(): string {
  return randomBytes(32).toString('hex');
}

/** Publishes a kind 1 note as `owner` on a connection of their own. */
async function publishNote(t: TestContext, owner: Keys, content: string): Promise<{ note: NostrEvent; client: RelayClient }> {
  const { client } = await t.connectAs('owner-notes', owner);
  const note = textNote(owner, content);
  const reply = await client.publish(note);
  if (!reply.ok) throw new Error(`setup: publishing a kind 1 note was refused: ${reply.message}`);
  return { note, client };
}

/** A REQ answered EOSE with no KeyPackage of anyone but `self` (undefined: nobody authenticated). */
function checkNoOthersKeyPackages(t: TestContext, res: Awaited<ReturnType<RelayClient['req']>>, what: string, self?: string): void {
  t.check(res.eose, `${what}, which needs no AUTH, ${reqAnswer(res)} instead of EOSE`, 'EOSE', reqLine(res));
  const foreign = keyPackagesIn(res.events).filter((e) => e.pubkey !== self);
  t.equal(ids(foreign), [], `${what} returned other people's KeyPackages: ${kpsText(foreign)}`, foreign[0]);
}

/** kp-req-auth: a REQ that asks for Bob's KeyPackages (by `filter`) on a connection where nobody is authenticated. */
function unauthenticatedAsk(side: string, what: string, filter: (bob: Keys, published: NostrEvent[]) => Filter): ConformanceTest {
  return {
    id: `kp-req-auth/${side}`,
    anchor: 'kp-req-auth',
    section: 'REQ',
    level: 'MUST',
    // NIP-01 asks only for some machine-readable prefix; the profile names "auth-required:".
    source: { profile: true, stricterThan: 'NIP-01' },
    async run(t) {
      const bob = t.newKeys();
      const published = await t.publishKeyPackages(bob, 2);
      const anon = await t.connect('anon');
      const res = await anon.req([filter(bob, published)]);
      closedWith(t, res, PREFIX.authRequired, what);
      t.equal(ids(res.events), [], `the unauthenticated REQ handed out ${kpsText(res.events)} before its CLOSED`, res.events[0]);
      const left = await t.inventory(bob);
      t.equal(idSet(left), idSet(published), `after the refused unauthenticated REQ, Bob's inventory holds ${kpsText(left)} of the ${published.length} he published`);
    },
  };
}

export const reqTests: ConformanceTest[] = [
  {
    id: 'kp-req-scope/limit-0',
    anchor: 'kp-req-scope',
    section: 'REQ',
    level: 'MUST',
    async run(t) {
      const owner = t.newKeys();
      const published = await t.publishKeyPackages(owner, 2);
      const anon = await t.connect('anon');
      const a = await anon.req([askFor(owner, { limit: 0 })]);
      t.check(a.eose && a.events.length === 0, `an unauthenticated limit:0 REQ for the owner's ${published.length} KeyPackages ${reqAnswer(a)}, not EOSE alone`, 'EOSE, no EVENT', reqLine(a), a.events[0]);
      const { client: alice } = await t.connectAs('alice');
      const b = await alice.req([askFor(owner, { limit: 0 })]);
      t.check(b.eose && b.events.length === 0, `alice's limit:0 REQ for the owner's ${published.length} KeyPackages ${reqAnswer(b)}, not EOSE alone`, 'EOSE, no EVENT', reqLine(b), b.events[0]);
      const left = await t.inventory(owner);
      t.equal(idSet(left), idSet(published), `after two limit:0 REQs, the owner's inventory holds ${kpsText(left)} of the ${published.length} published`);
    },
  },
  {
    id: 'kp-req-scope/limit-0-not-charged',
    anchor: 'kp-req-scope',
    section: 'REQ',
    level: 'MUST',
    needsLimits: true,
    async run(t) {
      const q = boundedQueries(t);
      const owner = t.newKeys();
      await t.publishKeyPackages(owner, 2);
      const { client } = await t.connectAs('alice');
      for (let i = 0; i <= q; i++) await reqOnce(client, [askFor(owner, { limit: 0 })]);
      const res = await client.req([askFor(owner)]);
      t.check(
        res.eose && res.events.length > 0,
        `after ${q + 1} limit:0 REQs for one owner (queries_per_window is ${q}), alice's charged REQ for that owner ${reqAnswer(res)}${res.closed !== undefined ? ': the limit:0 REQs were charged' : ''}`,
        'EVENT(s) then EOSE',
        reqLine(res),
      );
    },
  },
  {
    id: 'kp-req-scope/ids',
    anchor: 'kp-req-scope',
    section: 'REQ',
    level: 'MUST',
    async run(t) {
      const bob = t.newKeys();
      const carol = t.newKeys();
      const [b0, b1, b2] = await t.publishKeyPackages(bob, 3);
      const [c0, c1] = await t.publishKeyPackages(carol, 2);
      const { client } = await t.connectAs('alice');
      const res = await client.req([{ kinds: [kp], ids: [b1!.id, c0!.id] }]);
      t.equal(idSet(res.events), idSet([b1!, c0!]), `a REQ with kinds [443] and ids naming ${ids([b1!, c0!]).join(', ')} (no authors) ${reqAnswer(res)}`);
      const bobLeft = await t.inventory(bob);
      t.equal(idSet(bobLeft), idSet([b0!, b2!]), `after ${ids([b1!])[0]} was handed out by id, Bob's inventory holds ${kpsText(bobLeft)}`);
      const carolLeft = await t.inventory(carol);
      t.equal(idSet(carolLeft), idSet([c1!]), `after ${ids([c0!])[0]} was handed out by id, Carol's inventory holds ${kpsText(carolLeft)}`);
    },
  },
  {
    id: 'kp-req-unscoped/no-kinds',
    anchor: 'kp-req-unscoped',
    section: 'REQ',
    level: 'MUST',
    async run(t) {
      const bob = t.newKeys();
      const published = await t.publishKeyPackages(bob, 2);
      const { note } = await publishNote(t, bob, 'an ordinary note next to KeyPackages');
      const anon = await t.connect('anon');
      const a = await anon.req([{ authors: [bob.pubkey] }]);
      checkNoOthersKeyPackages(t, a, 'an unauthenticated "everything by Bob" filter (no kinds)');
      t.check(
        a.events.some((e) => e.id === note.id),
        `the unauthenticated "everything by Bob" REQ (no kinds) returned ${eventsText(a.events)}, without Bob's note ${note.id.slice(0, 12)}`,
        `Bob's note ${note.id.slice(0, 12)}`,
        reqLine(a),
      );
      const { client, keys } = await t.connectAs('alice');
      checkNoOthersKeyPackages(t, await client.req([{ authors: [bob.pubkey] }]), 'an authenticated "everything by Bob" filter (no kinds)', keys.pubkey);
      const left = await t.inventory(bob);
      t.equal(idSet(left), idSet(published), `after two "everything by Bob" REQs (no kinds), Bob's inventory holds ${kpsText(left)} of the ${published.length} he published`);
    },
  },
  {
    id: 'kp-req-unscoped/ids-without-kinds',
    anchor: 'kp-req-unscoped',
    section: 'REQ',
    level: 'MUST',
    async run(t) {
      const bob = t.newKeys();
      const published = await t.publishKeyPackages(bob, 2);
      const { client, keys } = await t.connectAs('alice');
      checkNoOthersKeyPackages(t, await client.req([{ ids: published.map((e) => e.id) }]), "a filter naming Bob's KeyPackages by ids but without kinds", keys.pubkey);
      const left = await t.inventory(bob);
      t.equal(idSet(left), idSet(published), `after a REQ naming his KeyPackages by ids without kinds, Bob's inventory holds ${kpsText(left)} of the ${published.length} he published`);
    },
  },
  {
    id: 'kp-req-unscoped/kinds-without-authors',
    anchor: 'kp-req-unscoped',
    section: 'REQ',
    level: 'MUST',
    async run(t) {
      const bob = t.newKeys();
      const published = await t.publishKeyPackages(bob, 2);
      const anon = await t.connect('anon');
      checkNoOthersKeyPackages(t, await anon.req([{ kinds: [kp] }]), 'an unauthenticated {"kinds":[443]} filter without authors');
      const { client, keys } = await t.connectAs('alice');
      checkNoOthersKeyPackages(t, await client.req([{ kinds: [kp] }]), 'an authenticated {"kinds":[443]} filter without authors', keys.pubkey);
      const left = await t.inventory(bob);
      t.equal(idSet(left), idSet(published), `after two {"kinds":[443]} REQs without authors, Bob's inventory holds ${kpsText(left)} of the ${published.length} he published`);
    },
  },
  {
    id: 'kp-req-scope/mixed-kinds',
    anchor: 'kp-req-scope',
    section: 'REQ',
    level: 'MUST',
    async run(t) {
      // Steps: Bob publishes KeyPackages and a note; Alice sends the filter NDK merges two subscriptions into.
      const bob = t.newKeys();
      const published = await t.publishKeyPackages(bob, 2);
      const note = textNote(bob, 'a note next to KeyPackages');
      const { client: bobClient } = await t.connectAs('bob', bob);
      const stored = await bobClient.publish(note);
      if (!stored.ok) t.untested(`the relay refused Bob's kind 1 note (${stored.message}), so the merged filter has nothing ordinary to serve`);
      const { client, keys } = await t.connectAs('alice');
      const merged = { kinds: [1, kp], authors: [bob.pubkey, t.newKeys().pubkey] };
      const res = await client.req([merged]);
      checkNoOthersKeyPackages(t, res, `a filter mixing kinds 1 and 443 (${JSON.stringify({ ...merged, authors: ['<bob>', '<carol>'] })})`, keys.pubkey);
      t.check(res.events.some((e) => e.id === note.id), `the mixed filter did not return Bob's kind 1 note ${note.id.slice(0, 12)}: its other kinds must be served by NIP-01 rules`, `Bob's note ${note.id.slice(0, 12)}`, eventsText(res.events));
      const left = await t.inventory(bob);
      t.equal(idSet(left), idSet(published), `after a REQ whose filter mixes kinds 1 and 443, Bob's inventory holds ${kpsText(left)} of the ${published.length} he published`);
    },
  },
  {
    id: 'kp-req-unscoped/unknown-ids',
    anchor: 'kp-req-unscoped',
    section: 'REQ',
    level: 'MUST',
    async run(t) {
      const anon = await t.connect('anon');
      const res = await anon.req([{ kinds: [kp], ids: [randomId()] }]);
      t.check(res.eose && res.events.length === 0, 'a kind 443 filter whose ids name no stored KeyPackage asks for nobody: no AUTH needed, nothing returned', 'EOSE, no EVENT', reqLine(res));
    },
  },
  {
    id: 'kp-req-unscoped/not-charged',
    anchor: 'kp-req-unscoped',
    section: 'REQ',
    level: 'MUST',
    needsLimits: true,
    async run(t) {
      const q = boundedQueries(t);
      const bob = t.newKeys();
      await t.publishKeyPackages(bob, 2);
      const { client } = await t.connectAs('alice');
      for (let i = 0; i <= q; i++) await reqOnce(client, [{ authors: [bob.pubkey] }]);
      const res = await client.req([askFor(bob)]);
      t.check(
        res.eose && res.events.length > 0,
        `after ${q + 1} "everything by Bob" REQs without kinds (queries_per_window is ${q}), alice's charged REQ for Bob's KeyPackages ${reqAnswer(res)}${res.closed !== undefined ? ': the REQs without kinds were charged' : ''}`,
        'EVENT(s) then EOSE',
        reqLine(res),
      );
    },
  },
  unauthenticatedAsk('authors', "an unauthenticated REQ for Bob's KeyPackages", (bob) => askFor(bob)),
  unauthenticatedAsk('ids', "an unauthenticated REQ naming one of Bob's KeyPackages by id", (_bob, published) => ({ kinds: [kp], ids: [published[0]!.id] })),
  {
    id: 'kp-req-owner/newest-first',
    anchor: 'kp-req-owner',
    section: 'REQ',
    level: 'MUST',
    source: { profile: true, stricterThan: 'NIP-01' },
    async run(t) {
      const bob = t.newKeys();
      const published = await t.publishKeyPackages(bob, 3);
      const newestFirst = [...published].reverse();
      const { client } = await t.connectAs('bob', bob);
      const all = await client.req([askFor(bob)]);
      t.equal(ids(all.events), ids(newestFirst), `Bob's REQ for his own 3 KeyPackages ${reqAnswer(all)}, not all 3 newest first`);
      const two = await client.req([askFor(bob, { limit: 2 })]);
      t.equal(ids(two.events), ids(newestFirst.slice(0, 2)), `Bob's REQ for his own KeyPackages with limit 2 ${reqAnswer(two)}, not the 2 newest`);
      const again = await client.req([askFor(bob)]);
      t.equal(ids(again.events), ids(newestFirst), `Bob's third REQ for his own KeyPackages ${reqAnswer(again)}: his earlier queries consumed some`);
    },
  },
  {
    id: 'kp-req-handout/limit',
    anchor: 'kp-req-handout',
    section: 'REQ',
    level: 'MUST',
    needsLimits: true,
    async run(t) {
      const m = t.limits.max_per_query;
      const bob = t.newKeys();
      await t.publishKeyPackages(bob, m + 2);
      const { client } = await t.connectAs('alice');
      const one = await client.req([askFor(bob, { limit: 1 })]);
      t.check(one.eose && one.events.length === 1, 'a REQ with limit 1 hands out one KeyPackage', '1 EVENT then EOSE', reqLine(one));
      const more = await client.req([askFor(bob, { limit: m + 1 })]);
      t.check(more.eose && more.events.length === m, `a REQ with limit ${m + 1} hands out min(limit, max_per_query) = ${m}`, `${m} EVENT then EOSE`, reqLine(more));
      t.check([...one.events, ...more.events].every((e) => e.pubkey === bob.pubkey), "every EVENT is one of Bob's KeyPackages", 'pubkey Bob', reqLine(more));
    },
  },
  {
    id: 'kp-req-handout/per-owner',
    anchor: 'kp-req-handout',
    section: 'REQ',
    level: 'MUST',
    needsLimits: true,
    async run(t) {
      const m = t.limits.max_per_query;
      const bob = t.newKeys();
      const carol = t.newKeys();
      await Promise.all([t.publishKeyPackages(bob, m + 2), t.publishKeyPackages(carol, m + 2)]);
      const { client } = await t.connectAs('alice');
      const count = (events: NostrEvent[]): number[] => [bob, carol].map((o) => events.filter((e) => e.pubkey === o.pubkey).length);
      const one = await client.req([{ kinds: [kp], authors: [bob.pubkey, carol.pubkey], limit: 1 }]);
      t.equal(count(one.events), [1, 1], `a filter naming Bob and Carol with limit 1 handed out ${count(one.events).join(' of Bob\'s and ')} of Carol's, not 1 of each (limit applies per owner)`);
      const all = await client.req([{ kinds: [kp], authors: [bob.pubkey, carol.pubkey] }]);
      t.equal(count(all.events), [m, m], `a filter naming Bob and Carol without limit handed out ${count(all.events).join(' of Bob\'s and ')} of Carol's, not max_per_query (${m}) of each`);
    },
  },
  {
    id: 'kp-req-eose/after-handout',
    anchor: 'kp-req-eose',
    section: 'REQ',
    level: 'MUST',
    async run(t) {
      const bob = t.newKeys();
      await t.publishKeyPackages(bob, 3);
      const { note, client: bobClient } = await publishNote(t, bob, 'a note asked for next to KeyPackages');
      const { client } = await t.connectAs('alice');
      const res = await client.req([askFor(bob), { kinds: [1], authors: [bob.pubkey] }]);
      t.check(res.eose, 'the REQ ends its stored events with EOSE', 'EOSE', reqLine(res));
      t.check(keyPackagesIn(res.events).length > 0, "Bob's KeyPackages are handed out before EOSE", 'KeyPackage EVENT(s) before EOSE', reqLine(res));
      t.check(res.events.some((e) => e.id === note.id), 'the kind 1 filter of the same REQ is served by ordinary NIP-01 rules', `Bob's note ${note.id.slice(0, 12)} before EOSE`, reqLine(res));
      const late = keyPackagesIn(eventFrames(await t.quiet(client)).map((d) => d.event));
      t.equal(ids(late), [], `${kpsText(late)} arrived after the EOSE of ${res.subId}`, late[0]);
      const live = textNote(bob, 'a live note after EOSE');
      await bobClient.publish(live);
      try {
        await client.next((m) => m[0] === 'EVENT' && m[1] === res.subId && m[2].id === live.id, `live note ${live.id.slice(0, 8)} on ${res.subId}`);
      } catch (err) {
        if (!(err instanceof TimeoutError)) throw err;
        t.fail(
          `Bob's live note ${live.id.slice(0, 12)} did not arrive on ${res.subId} within ${t.options.timeoutMs} ms after its EOSE`,
          `Bob's new note ${live.id.slice(0, 12)} on ${res.subId}`,
          `nothing within ${t.options.timeoutMs} ms`,
          t.quietAfter(client.lastTakenEntry, t.options.timeoutMs),
        );
      }
    },
  },
  {
    id: 'kp-req-refuse-whole/auth',
    anchor: 'kp-req-refuse-whole',
    section: 'REQ',
    level: 'MUST',
    async run(t) {
      const bob = t.newKeys();
      const published = await t.publishKeyPackages(bob, 2);
      await publishNote(t, bob, 'a note in a refused REQ');
      const anon = await t.connect('anon');
      const res = await anon.req([{ kinds: [1], authors: [bob.pubkey] }, askFor(bob)]);
      if (res.closed === undefined) t.untested("the relay did not refuse an unauthenticated REQ for Bob's KeyPackages (see kp-req-auth), so a whole-REQ refusal cannot be observed");
      t.equal(ids(res.events), [], 'a refused REQ sends nothing of any of its filters: not even the kind 1 note');
      t.equal(idSet(await t.inventory(bob)), idSet(published), 'a refused REQ consumes nothing');
    },
  },
  {
    id: 'kp-req-refuse-whole/rate-limit',
    anchor: 'kp-req-refuse-whole',
    section: 'REQ',
    level: 'MUST',
    needsLimits: true,
    async run(t) {
      const q = boundedQueries(t);
      if (q > t.limits.served_per_window) t.untested(`the test hands out queries_per_window (${q}) KeyPackages, more than served_per_window (${t.limits.served_per_window})`);
      // Bob has no KeyPackages: his queries are charged (kp-rate-queries) and use none of the served cap.
      const bob = t.newKeys();
      const carol = t.newKeys();
      const carolKps = await t.publishKeyPackages(carol, q + 1);
      const { client } = await t.connectAs('alice');
      for (let i = 0; i < q; i++) {
        const res = await reqOnce(client, [askFor(bob)]);
        if (res.closed !== undefined) t.untested(`the relay refused charged query ${i + 1} of queries_per_window (${q}) for one owner: ${res.closed}`);
      }
      const refused = await client.req([askFor(carol), askFor(bob)]);
      if (refused.closed === undefined) t.untested(`the relay did not refuse query ${q + 1} for one owner (see kp-rate-queries), so a whole-REQ refusal cannot be observed`);
      t.equal(ids(refused.events), [], "a REQ refused for its Bob filter hands out nothing of its Carol filter");
      t.equal(idSet(await t.inventory(carol)), idSet(carolKps), "a refused REQ consumes none of Carol's KeyPackages");
      for (let i = 0; i < q; i++) {
        const res = await reqOnce(client, [askFor(carol, { limit: 1 })]);
        t.check(
          res.closed === undefined,
          `the refused REQ must not charge its Carol filter: ${q} queries for Carol must still be served afterwards`,
          `query ${i + 1} of ${q} for Carol served`,
          reqLine(res),
        );
      }
    },
  },
];
