/**
 * PROFILE.md kp-auth-grace: a request that needs AUTH and arrives before the
 * challenge is answered is held, then judged with the AUTH that follows it, or
 * as it is once the grace has passed. Each test sends what a client library
 * sends on a fresh socket: the request first, the AUTH right behind it.
 */
import type { TestContext } from '../context.js';
import type { ConformanceTest } from '../types.js';
import { allDeliveries, askFor, kpsText, liveSub, okLine, reqAnswer, request447 } from '../steps.js';
import { keyPackage } from '../../fixtures/events.js';
import { newSubId, NoChallengeError, TimeoutError, type RelayClient } from '../../client/relay-client.js';
import { DEFAULT_AUTH_GRACE_MS, PREFIX, prefixOf, TAG } from '../../protocol/profile.js';

/** The challenge the relay sends on connect; the grace is about that one, so without it there is nothing to test. */
async function challengeOnConnect(t: TestContext, client: RelayClient): Promise<void> {
  try {
    await client.waitForChallenge(t.options.timeoutMs);
  } catch (err) {
    if (err instanceof NoChallengeError || err instanceof TimeoutError) {
      t.untested(`the relay sent no ["AUTH", <challenge>] within ${t.options.timeoutMs} ms of connecting; kp-auth-grace holds requests only while a challenge sent on connect is unanswered`);
    }
    throw err;
  }
}

/** A fresh connection that has its challenge and has not answered it. */
async function unanswered(t: TestContext, label: string): Promise<RelayClient> {
  const client = await t.connect(label);
  await challengeOnConnect(t, client);
  return client;
}

function graceMs(t: TestContext): number {
  return t.options.nip11?.keypackages?.auth_grace_ms ?? DEFAULT_AUTH_GRACE_MS;
}

function heldRefusal(what: string, message: string): string {
  return `the relay refused ${what}, sent just before the AUTH, with ${JSON.stringify(message)}: it judged the request at once instead of holding it until the AUTH that followed`;
}

/** One side of kp-auth-grace, a SHOULD of §1 (Identity). */
function graceCase(side: string, run: ConformanceTest['run']): ConformanceTest {
  return { id: `kp-auth-grace/${side}`, anchor: 'kp-auth-grace', section: 'Identity (NIP-42)', level: 'SHOULD', run };
}

export const authGraceTests: ConformanceTest[] = [
  graceCase('req-then-auth', async (t) => {
    const owner = t.newKeys();
    await t.publishKeyPackages(owner, 2);
    const alice = t.newKeys();
    const client = await unanswered(t, 'alice');
    // Steps: the KeyPackage REQ first, the AUTH right behind it, then read the REQ's answer.
    const sub = newSubId('early');
    client.send(['REQ', sub, askFor(owner, { limit: 1 })]);
    const auth = await client.auth(alice);
    t.check(auth.ok, `the AUTH that followed the REQ was refused: ${okLine(auth)}`, '["OK", <id>, true, ""]', okLine(auth));
    const res = await client.collect(sub, graceMs(t) + t.options.timeoutMs);
    if (!res.eose) t.fail(heldRefusal('a KeyPackage REQ', res.closed ?? ''), '1 KeyPackage, then EOSE', reqAnswer(res));
    t.equal(res.events.length, 1, `the held KeyPackage REQ (limit 1) was answered with ${kpsText(res.events)} after the AUTH`);
  }),
  graceCase('protected-then-auth', async (t) => {
    const owner = t.newKeys();
    const client = await unanswered(t, 'owner');
    // Steps: the owner's protected KeyPackage first, then the owner's AUTH, then the KeyPackage's OK.
    const event = await keyPackage(owner, { extraTags: [[TAG.protected]] });
    const reply = await client.publish(event, () => client.auth(owner));
    t.check(reply.ok, heldRefusal('a protected KeyPackage of the pubkey that then authenticated', reply.message), '["OK", <id>, true, ""]', okLine(reply));
  }),
  graceCase('447-then-auth', async (t) => {
    const owner = t.newKeys();
    await t.publishKeyPackages(owner, 2);
    const alice = t.newKeys();
    const client = await unanswered(t, 'alice');
    // Steps: a limit:0 subscription (needs no AUTH), the kind 447, the AUTH, then the 447's OK and deliveries.
    await liveSub(client, askFor(owner, { limit: 0 }));
    const request = request447(alice, [[TAG.pubkey, owner.pubkey], [TAG.count, '1']]);
    const result = await client.sendRequest(request, () => client.auth(alice));
    t.check(result.ok, heldRefusal('a kind 447 request', result.message), '["OK", <id>, true, ""] and 1 delivery', okLine(result));
    // Deliveries after the OK count here too: their order is kp-447-ok-after-delivery's concern.
    const delivered = (await allDeliveries(t, client, result)).filter((d) => d.event.pubkey === owner.pubkey);
    t.equal(delivered.length, 1, `the held kind 447 (n 1) delivered ${kpsText(delivered.map((d) => d.event))}`);
  }),
  graceCase('ends', async (t) => {
    const owner = t.newKeys();
    const client = await unanswered(t, 'client');
    // Steps: a KeyPackage REQ and no AUTH: once the grace has passed it is judged as it is, refused with auth-required:.
    const sub = newSubId('no-auth');
    client.send(['REQ', sub, askFor(owner, { limit: 1 })]);
    const waitMs = graceMs(t) + t.options.timeoutMs;
    const started = Date.now();
    const res = await client.collect(sub, waitMs).catch((err: unknown) => {
      if (err instanceof TimeoutError) t.fail(`a KeyPackage REQ with no AUTH after it had no answer within ${waitMs} ms (the advertised grace of ${graceMs(t)} ms plus ${t.options.timeoutMs} ms): the relay holds it past its grace`, `["CLOSED", "${sub}", "auth-required: ..."]`, `nothing within ${waitMs} ms`);
      throw err;
    });
    t.note(`answered after ${Date.now() - started} ms`);
    if (res.eose) t.untested(`the relay served a KeyPackage REQ without AUTH (${reqAnswer(res)}; judged by kp-req-auth), so there is no refusal for the grace to delay`);
    t.check(
      !res.eose && prefixOf(res.closed ?? '') === PREFIX.authRequired,
      `a KeyPackage REQ with no AUTH after it was answered ${reqAnswer(res)}, not refused with auth-required:`,
      `["CLOSED", "${sub}", "auth-required: ..."]`,
      reqAnswer(res),
    );
  }),
];
