/** PROFILE.md §1 Identity (NIP-42): the challenge, verifying AUTH, several pubkeys on one connection. */
import { ids, type TestContext } from '../context.js';
import type { ConformanceTest } from '../types.js';
import { awaitFrame, okLine } from '../steps.js';
import { textNote } from '../../fixtures/events.js';
import { newSubId, NoChallengeError, nowSeconds, TimeoutError, type AuthTemplate, type RelayClient } from '../../client/relay-client.js';
import { sign, type Keys } from '../../protocol/crypto.js';
import type { NostrEvent, RelayMessage } from '../../protocol/messages.js';
import { AUTH_MAX_SKEW_SECONDS, KIND, PREFIX, prefixOf, TAG } from '../../protocol/profile.js';

const kp = KIND.keyPackage;

/** The connection's challenge, on connect or provoked by a request that needs AUTH; no AUTH can be tested without one. */
async function challengeOf(t: TestContext, client: RelayClient): Promise<string> {
  try {
    return await client.obtainChallenge();
  } catch (err) {
    if (err instanceof NoChallengeError) t.untested(`${err.message} (see kp-auth-challenge), so AUTH cannot be tested`);
    throw err;
  }
}

/** An answer that refuses for want of AUTH: ["CLOSED", sub, "auth-required: ..."] or ["OK", id, false, "auth-required: ..."]. */
function isAuthRefusal(m: RelayMessage, sub: string, eventId: string): boolean {
  if (m[0] === 'CLOSED') return m[1] === sub && typeof m[2] === 'string' && prefixOf(m[2]) === PREFIX.authRequired;
  return m[0] === 'OK' && m[1] === eventId && m[2] === false && typeof m[3] === 'string' && prefixOf(m[3]) === PREFIX.authRequired;
}

/** A kind 22242 event for this relay and `challenge`, optionally broken by `tweak`. */
function authEvent(t: TestContext, keys: Keys, challenge: string, tweak: (tpl: AuthTemplate) => AuthTemplate = (tpl) => tpl): NostrEvent {
  const template: AuthTemplate = {
    kind: KIND.auth,
    created_at: nowSeconds(),
    tags: [
      [TAG.relay, t.url],
      [TAG.challenge, challenge],
    ],
    content: '',
  };
  return sign(tweak(template), keys);
}

/** Sends ["AUTH", event] as is and waits for its OK. */

/** A NIP-70 protected note by `keys`: accepted only when `keys` is authenticated on the connection. */
function protectedNote(keys: Keys, label: string): NostrEvent {
  return textNote(keys, `protected note (${label})`, [[TAG.protected]]);
}

/** An AUTH broken one way: refused with invalid:, and its pubkey is still not authenticated afterwards. */
function refusedAuth(
  side: string,
  what: string,
  build: (t: TestContext, keys: Keys, challenge: string) => Promise<NostrEvent> | NostrEvent,
): ConformanceTest {
  return {
    id: `kp-auth-verify/${side}`,
    anchor: 'kp-auth-verify',
    section: 'Identity (NIP-42)',
    level: 'MUST',
    // NIP-42 names no prefix for a refused AUTH and asks created_at only "close (e.g. within ~10 minutes)".
    source: { profile: true, stricterThan: 'NIP-42' },
    async run(t) {
      const keys = t.newKeys();
      const client = await t.connect('client');
      const challenge = await challengeOf(t, client);
      // Control: this connection cannot yet publish the pubkey's protected events. Without it we cannot see who is authenticated.
      const before = await client.publish(protectedNote(keys, 'before AUTH'));
      if (before.ok) t.untested('the relay accepts ["-"] events (NIP-70) from unauthenticated connections, so this test cannot observe whether AUTH authenticated anyone');
      const event = await build(t, keys, challenge);
      const reply = await client.sendAuth(event);
      t.check(!reply.ok, `an AUTH event with ${what} was accepted: ${okLine(reply)}`, '["OK", <id>, false, "invalid: ..."]', okLine(reply));
      t.hasPrefix(reply.message, PREFIX.invalid, `the refusal of an AUTH event with ${what}`);
      const after = await client.publish(protectedNote(keys, 'after refused AUTH'));
      t.check(
        !after.ok && after.message.startsWith(`${PREFIX.authRequired}:`),
        after.ok
          ? `after refusing the AUTH with ${what}, the relay accepted a ["-"] event by its pubkey: it treats the pubkey as authenticated`
          : `after refusing the AUTH with ${what}, the relay refused a ["-"] event by its pubkey with ${JSON.stringify(after.message)}, without the "auth-required:" prefix`,
        '["OK", <id>, false, "auth-required: ..."]',
        okLine(after),
      );
    },
  };
}

export const authTests: ConformanceTest[] = [
  {
    id: 'kp-auth-challenge/on-connect',
    anchor: 'kp-auth-challenge',
    section: 'Identity (NIP-42)',
    level: 'SHOULD',
    async run(t) {
      const client = await t.connect('client');
      // Ask for something that needs no AUTH at once, so a relay that sends AUTH only when needed shows its other reply first.
      const sub = newSubId('probe');
      client.send(['REQ', sub, { kinds: [1], authors: [t.newKeys().pubkey] }]);
      const sent = t.log[t.log.length - 1];
      try {
        await client.next((m) => (m[0] === 'EOSE' || m[0] === 'CLOSED') && m[1] === sub, `EOSE or CLOSED for ${sub}`);
      } catch (err) {
        if (!(err instanceof TimeoutError)) throw err;
      }
      const first = client.received[0];
      t.check(
        first !== undefined && first[0] === 'AUTH' && typeof first[1] === 'string' && first[1].length > 0,
        first === undefined
          ? `the relay sent nothing on the connection within ${t.options.timeoutMs} ms, no ["AUTH", <challenge>]`
          : `the relay's first message on the connection was ${JSON.stringify(first)}, not ["AUTH", <non-empty challenge>]`,
        '["AUTH", "<non-empty challenge>"] first',
        first === undefined ? `nothing within ${t.options.timeoutMs} ms` : JSON.stringify(first),
        first ?? t.quietAfter(sent, t.options.timeoutMs),
      );
    },
  },
  {
    id: 'kp-auth-challenge/before-refusal',
    anchor: 'kp-auth-challenge',
    section: 'Identity (NIP-42)',
    level: 'MUST',
    async run(t) {
      const client = await t.connect('client');
      // Two requests that need AUTH (kp-req-auth, kp-pub-protected): the first auth-required refusal must not come before the challenge.
      const sub = newSubId('needs-auth');
      client.send(['REQ', sub, { kinds: [kp], authors: [t.newKeys().pubkey] }]);
      const note = protectedNote(t.newKeys(), 'needs AUTH');
      client.send(['EVENT', note]);
      const refusal = await awaitFrame(t, client, (m) => isAuthRefusal(m, sub, note.id), `an auth-required: refusal (CLOSED for ${sub} or OK for ${note.id.slice(0, 8)})`);
      const challengeAt = client.received.findIndex((m) => m[0] === 'AUTH' && typeof m[1] === 'string' && m[1].length > 0);
      if (refusal === undefined) {
        if (challengeAt >= 0) return; // a challenge came, and no refusal to be late for
        return t.untested(`the relay refused neither a KeyPackage REQ nor a ["-"] event with auth-required: within ${t.options.timeoutMs} ms, so there is no refusal to time the challenge against`);
      }
      const refusalAt = client.received.indexOf(refusal);
      t.check(
        challengeAt >= 0 && challengeAt < refusalAt,
        `the relay's first auth-required: refusal on the connection (${refusal[0]} ${JSON.stringify(refusal[refusal[0] === 'OK' ? 3 : 2])}) came ${challengeAt < 0 ? 'with no ["AUTH", <challenge>] before it' : 'before its ["AUTH", <challenge>]'}`,
        '["AUTH", "<challenge>"] before the first "auth-required: ..." refusal',
        `${client.received
          .slice(0, refusalAt + 1)
          .map((m) => JSON.stringify(m))
          .join(' then ')}${challengeAt < 0 ? ' (no challenge)' : ''}`,
        refusal,
      );
    },
  },
  {
    id: 'kp-auth-challenge/unique',
    anchor: 'kp-auth-challenge',
    section: 'Identity (NIP-42)',
    level: 'MUST',
    async run(t) {
      const [a, b] = await Promise.all([t.connect('a'), t.connect('b')]);
      const [ca, cb] = await Promise.all([challengeOf(t, a), challengeOf(t, b)]);
      t.check(ca !== cb, `two connections both got the challenge ${JSON.stringify(ca)}`, 'two different challenge strings', `both got ${JSON.stringify(ca)}`);
    },
  },
  {
    id: 'kp-auth-verify/valid',
    anchor: 'kp-auth-verify',
    section: 'Identity (NIP-42)',
    level: 'MUST',
    async run(t) {
      const keys = t.newKeys();
      const client = await t.connect('client');
      const challenge = await challengeOf(t, client);
      const reply = await client.sendAuth(authEvent(t, keys, challenge));
      t.check(reply.ok, `a valid AUTH event (kind 22242, this connection's challenge, this relay's URL, created now) was refused with ${JSON.stringify(reply.message)}`, '["OK", <id>, true, ""]', okLine(reply));
      const note = await client.publish(protectedNote(keys, 'after AUTH'));
      t.check(
        note.ok,
        `after its AUTH was accepted, the pubkey's own ["-"] event (NIP-70) on the connection was refused with ${JSON.stringify(note.message)}`,
        '["OK", <id>, true, ""]',
        okLine(note),
      );
    },
  },
  refusedAuth('wrong-challenge', "another connection's challenge", async (t, keys, challenge) => {
    const other = await t.connect('other');
    const otherChallenge = await challengeOf(t, other);
    if (otherChallenge === challenge) t.untested('two connections got the same challenge (see kp-auth-challenge/unique)');
    return authEvent(t, keys, otherChallenge);
  }),
  refusedAuth('other-relay', 'a relay tag naming another relay', (t, keys, challenge) =>
    authEvent(t, keys, challenge, (tpl) => ({ ...tpl, tags: [[TAG.relay, 'wss://relay.example.com/'], [TAG.challenge, challenge]] })),
  ),
  refusedAuth('wrong-kind', 'kind 1 instead of 22242', (t, keys, challenge) => authEvent(t, keys, challenge, (tpl) => ({ ...tpl, kind: 1 }))),
  refusedAuth('stale', `a created_at 11 minutes old (limit ${AUTH_MAX_SKEW_SECONDS} s)`, (t, keys, challenge) =>
    authEvent(t, keys, challenge, (tpl) => ({ ...tpl, created_at: nowSeconds() - 660 })),
  ),
  refusedAuth('future', `a created_at 11 minutes ahead (limit ${AUTH_MAX_SKEW_SECONDS} s)`, (t, keys, challenge) =>
    authEvent(t, keys, challenge, (tpl) => ({ ...tpl, created_at: nowSeconds() + 660 })),
  ),
  refusedAuth('bad-signature', 'a signature that does not verify', (t, keys, challenge) => {
    const event = authEvent(t, keys, challenge);
    const last = event.sig.endsWith('0') ? '1' : '0';
    return { ...event, sig: event.sig.slice(0, -1) + last };
  }),
  {
    id: 'kp-auth-verify/not-stored',
    anchor: 'kp-auth-verify',
    section: 'Identity (NIP-42)',
    level: 'MUST',
    // NIP-42 forbids broadcasting kind 22242; it does not forbid storing it.
    source: { profile: true, stricterThan: 'NIP-42' },
    async run(t) {
      const keys = t.newKeys();
      const watcher = await t.connect('watcher');
      const live = await watcher.req([{ kinds: [KIND.auth], authors: [keys.pubkey] }]);
      if (!live.eose) t.untested(`the relay refused a live subscription for kind 22242: ${live.closed ?? ''}`);
      const client = await t.connect('client');
      const event = authEvent(t, keys, await challengeOf(t, client));
      const reply = await client.sendAuth(event);
      if (!reply.ok) t.untested(`a valid AUTH was refused (see kp-auth-verify/valid): ${reply.message}`);
      const arrived = (await t.quiet(watcher)).flatMap((m) => (m[0] === 'EVENT' ? [m[2]] : []));
      t.equal(ids(arrived), [], `the AUTH event ${event.id.slice(0, 12)} was sent to a live {kinds:[22242]} subscription on another connection`, arrived[0]);
      const stored = await watcher.req([{ ids: [event.id] }]);
      t.equal(ids(stored.events), [], `a REQ for the AUTH event ${event.id.slice(0, 12)} by id returned it: the relay stored it`, stored.events[0]);
    },
  },
  {
    id: 'kp-auth-multi/each-authenticated',
    anchor: 'kp-auth-multi',
    section: 'Identity (NIP-42)',
    level: 'MUST',
    async run(t) {
      const { client, keys: alice } = await t.connectAs('alice+bob');
      const bob = t.newKeys();
      const second = await client.auth(bob);
      t.check(second.ok, `a second AUTH, for another pubkey, on the same connection was refused with ${JSON.stringify(second.message)}`, '["OK", <id>, true, ""]', okLine(second));
      for (const [name, keys] of [
        ['alice (first AUTH)', alice],
        ['bob (second AUTH)', bob],
      ] as const) {
        const reply = await client.publish(protectedNote(keys, name));
        t.check(reply.ok, `after two AUTHs on one connection, ${name}'s ["-"] event was refused with ${JSON.stringify(reply.message)}`, '["OK", <id>, true, ""]', okLine(reply));
      }
    },
  },
  {
    id: 'kp-auth-multi/owner-among',
    anchor: 'kp-auth-multi',
    section: 'Identity (NIP-42)',
    level: 'MUST',
    async run(t) {
      const owner = t.newKeys();
      const kps = await t.publishKeyPackages(owner, 3);
      const { client } = await t.connectAs('alice+owner');
      const auth = await client.auth(owner);
      if (!auth.ok) t.untested(`a second AUTH on one connection was refused (see kp-auth-multi/each-authenticated): ${auth.message}`);
      const res = await client.req([{ kinds: [kp], authors: [owner.pubkey] }]);
      t.check(res.eose, `the owner's query, with the owner authenticated next to another pubkey, was closed with ${JSON.stringify(res.closed)}`, 'EOSE', `CLOSED ${JSON.stringify(res.closed)}`);
      const all = ids(kps).sort();
      t.equal(ids(res.events).sort(), all, `with the owner authenticated next to another pubkey, the REQ returned ${res.events.length} of the owner's ${kps.length} KeyPackages`);
      const left = await t.inventory(owner);
      t.equal(ids(left).sort(), all, `after that owner's query, the owner's inventory holds ${left.length} of ${kps.length} KeyPackages`);
    },
  },
  {
    id: 'kp-auth-multi/charged-to-each',
    anchor: 'kp-auth-multi',
    section: 'Identity (NIP-42)',
    level: 'MUST',
    needsLimits: true,
    async run(t) {
      const quota = t.limits.queries_per_window;
      if (quota > 100) t.untested(`queries_per_window is ${quota}; using it up takes too many queries for a conformance run`);
      const owner = t.newKeys();
      await t.publishKeyPackages(owner, 1);
      const { client, keys: alice } = await t.connectAs('alice+bob');
      const bob = t.newKeys();
      const second = await client.auth(bob);
      if (!second.ok) t.untested(`a second AUTH on one connection was refused (see kp-auth-multi/each-authenticated): ${second.message}`);
      const filter = { kinds: [kp], authors: [owner.pubkey] };
      for (let i = 1; i <= quota; i++) {
        const res = await client.req([filter]);
        t.check(res.eose, `charged query ${i} of queries_per_window=${quota} for this owner was closed with ${JSON.stringify(res.closed)}`, 'EOSE', `CLOSED ${JSON.stringify(res.closed)}`);
        client.closeSub(res.subId);
      }
      // Charges show only through kp-rate-queries; a relay that never refuses leaves nothing to observe here.
      const over = await client.req([filter]);
      if (over.eose) t.untested(`query ${quota + 1} was served: the relay does not enforce kp-rate-queries, so charges cannot be observed`);
      for (const [name, keys] of [
        ['alice', alice],
        ['bob', bob],
      ] as const) {
        const { client: alone } = await t.connectAs(`${name} alone`, keys);
        const res = await alone.req([filter]);
        t.check(
          !res.eose && res.closed !== undefined && res.closed.startsWith(`${PREFIX.rateLimited}:`),
          `${quota} REQs on a connection where alice and bob were both authenticated are charged to each of them, so ${name} alone has used up queries_per_window for this owner`,
          '["CLOSED", <sub>, "rate-limited: ..."]',
          res.eose ? `EOSE after ${res.events.length} event(s)` : `CLOSED ${JSON.stringify(res.closed)}`,
        );
      }
    },
  },
];
