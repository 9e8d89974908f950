/**
 * NDK 3.0 (@nostr-dev-kit/ndk) against the reference relay.
 *
 * Configured as its docs say: `new NDK({ explicitRelayUrls, signer })` with an
 * `NDKPrivateKeySigner`, `enableOutboxModel: false` (otherwise it also dials
 * its default outbox relays on the internet), `await ndk.connect()`, and as
 * the relay auth policy `ndk.relayAuthDefaultPolicy =
 * NDKRelayAuthPolicies.signIn({ ndk })` (the example on `relayAuthDefaultPolicy`
 * in its source docs). signIn answers the challenge when it arrives: eager.
 * Publishing is `new NDKEvent(ndk, event).publish()`, fetching
 * `ndk.fetchEvents(filter)` (closes at EOSE), the live subscription
 * `ndk.subscribe(filter, { closeOnEose: false }, handlers)`.
 *
 * NDK opens its WebSocket with the global `WebSocket`, which Node 20 lacks: the
 * wire tap's `ws` subclass is installed as the global for this file.
 */
import { afterAll, beforeAll, describe, expect } from 'vitest';
import NDK, { NDKEvent, NDKPrivateKeySigner, NDKRelayAuthPolicies, type NDKFilter } from '@nostr-dev-kit/ndk';
import { secretHex, type Keys } from '../../protocol/crypto.js';
import type { Filter, NostrEvent } from '../../protocol/messages.js';
import { KIND } from '../../protocol/profile.js';
import { closeOnAbort, interopSuite, WireTap, type AskRun, type FetchRun, type Pin, type PublishRun, type Setup } from './support.js';

/**
 * Received frames arrive 100 ms late, as over a network (see WireTap). NDK's
 * behaviour depends on whether its first REQ (sent after a 10 ms grouping
 * delay) leaves before the challenge arrives and its AUTH's OK comes back:
 * over a real link it does; with 100 ms each way it does even when a loaded
 * machine runs that 10 ms timer late.
 */
const tap = new WireTap({ latencyMs: 100 });
let uninstall: (() => void) | undefined;
beforeAll(() => {
  uninstall = tap.installGlobally();
});
afterAll(async () => {
  await tap.expectAllClosed();
  uninstall?.();
});

/** NDK's publish timeout (its own default is 10 s): a publish whose refusal NDK keeps waiting on fails after it. */
const PUBLISH_TIMEOUT_MS = 1500;

async function connectNdk(url: string, keys: Keys, signIn: boolean): Promise<NDK> {
  const ndk = new NDK({ explicitRelayUrls: [url], enableOutboxModel: false, signer: new NDKPrivateKeySigner(secretHex(keys)) });
  if (signIn) ndk.relayAuthDefaultPolicy = NDKRelayAuthPolicies.signIn({ ndk });
  await ndk.connect(2000);
  return ndk;
}

async function closeNdk(ndk: NDK): Promise<void> {
  await tap.authsAnswered();
  for (const relay of ndk.pool.relays.values()) relay.disconnect();
}

/** The limit:0 subscription 447 deliveries go to. */
const LIVE: Filter = { kinds: [KIND.keyPackage], limit: 0 };

function ndkSetup(name: string, signIn: boolean): Setup {
  return {
    name,
    async publish(url, keys, event, signal) {
      const ndk = await connectNdk(url, keys, signIn);
      closeOnAbort(signal, () => closeNdk(ndk));
      try {
        await new NDKEvent(ndk, event).publish(undefined, PUBLISH_TIMEOUT_MS);
      } finally {
        await closeNdk(ndk);
      }
    },
    async fetch(url, keys, filter, signal) {
      const ndk = await connectNdk(url, keys, signIn);
      closeOnAbort(signal, () => closeNdk(ndk));
      try {
        const events = await ndk.fetchEvents(filter as NDKFilter);
        return [...events].map((e) => e.rawEvent() as NostrEvent);
      } finally {
        await closeNdk(ndk);
      }
    },
    async ask447(url, keys, request, signal) {
      const ndk = await connectNdk(url, keys, signIn);
      closeOnAbort(signal, () => closeNdk(ndk));
      const events: NostrEvent[] = [];
      let eose: () => void = () => undefined;
      const eosed = new Promise<void>((resolve) => (eose = resolve));
      const sub = ndk.subscribe(LIVE as NDKFilter, { closeOnEose: false }, {
        onEvent: (e) => events.push(e.rawEvent() as NostrEvent),
        onEose: () => eose(),
      });
      try {
        await eosed;
        await new NDKEvent(ndk, request).publish(undefined, PUBLISH_TIMEOUT_MS);
        return events;
      } finally {
        sub.stop();
        await closeNdk(ndk);
      }
    },
  };
}

const signIn = ndkSetup('NDK, signIn policy', true);
const noPolicy = ndkSetup('NDK, no auth policy', false);

/** NDK keeps waiting on a refused publish, then gives up at its timeout with its own message. */
function refusedPublish(authenticates: boolean): Pin<PublishRun> {
  return {
    why: `the protected EVENT leaves before the AUTH; refused auth-required:, never resent${authenticates ? ' (signIn does not resend)' : ', and nothing authenticates'}; publish() fails at its timeout`,
    check(run) {
      expect(run.outcome, "NDK's publish fails at its timeout").toEqual({ ok: false, error: expect.stringMatching(/^Not enough relays received the event/) });
      expect(run.wire.requestBeforeAuth, 'the EVENT left before any AUTH').toBe(true);
      expect(run.wire.verdicts, 'one refusal').toEqual([expect.stringMatching(/^auth-required: /)]);
      expect(run.wire.requestsSent, 'never resent').toBe(1);
      if (authenticates) expect(run.wire.authVerdicts, 'signIn did authenticate, after the EVENT').toContain(true);
      else expect(run.wire.authsSent, 'no AUTH without a policy').toBe(0);
      expect(run.stored, 'nothing stored').toEqual([]);
    },
  };
}

/** With the grace, the held REQ is answered, and NDK's re-execution after AUTH asks a second time. */
const secondHandOut: Pin<FetchRun> = {
  why: 'NDK sends the REQ again, under a new id, once its AUTH completes (it re-executes subscriptions started before); the held first REQ was answered too, so that is a second hand-out: the app gets all 3 KeyPackages for limit 2, the last resort included',
  check(run) {
    const ids = run.published.map((e) => e.id).sort();
    expect(run.wire.requestsSent, 'the REQ was sent twice').toBe(2);
    expect(run.wire.verdicts, 'both answered').toEqual([true, true]);
    expect([...run.wire.keyPackagesReceived].sort(), 'the relay handed out all 3').toEqual(ids);
    expect(run.outcome, 'fetchEvents returns all 3').toEqual({ ok: true, value: expect.arrayContaining(ids) });
    expect(run.stored, 'the 2 oldest consumed, the last resort kept').toEqual([run.published[2]!.id]);
  },
};

/** Where the library's first kind 447 and its second `{kinds:[443], limit:0}` REQ (the re-subscription) are among the messages it sent. */
function resubscription(sent: unknown[][]): { second: number; request: number } {
  const live = sent.flatMap((m, i) => (m[0] === 'REQ' && m.slice(2).some((f) => (f as { limit?: unknown }).limit === 0) ? [i] : []));
  return { second: live[1] ?? -1, request: sent.findIndex((m) => m[0] === 'EVENT' && (m[1] as { kind?: unknown }).kind === KIND.keyPackageRequest) };
}

/**
 * NDK re-sends the limit:0 subscription under a new id once its AUTH
 * completes and drops what arrives on the old id. When the 447 left before
 * that re-subscription (the usual order: the subscription's EOSE comes back
 * before the AUTH's OK), its KeyPackages go to the old id: consumed, never
 * seen by the app. When a loaded machine delays NDK's first REQ past the
 * challenge, the EOSE the app waits for is the new subscription's, and the
 * KeyPackages arrive.
 */
const droppedDeliveries: Pin<AskRun> = {
  why: "NDK re-subscribes under a new id once its AUTH completes and drops what arrives on the old id: a 447 sent before that (the usual order) has its 2 KeyPackages consumed but never seen by the app",
  check(run) {
    const [a, b, c] = run.published;
    const { second, request } = resubscription(run.wire.sent);
    expect(second, 'NDK sent the limit:0 REQ again after its AUTH').toBeGreaterThan(0);
    expect(run.wire.verdicts, 'the 447 was accepted').toEqual([true]);
    expect([...run.wire.keyPackagesReceived].sort(), 'the relay delivered the 2 oldest').toEqual([a!.id, b!.id].sort());
    expect(run.stored, 'both consumed').toEqual([c!.id]);
    if (request < second) {
      expect(run.outcome, '447 before the re-subscription: the app got none of them').toEqual({ ok: true, value: [] });
      return 'dropped';
    }
    expect(run.outcome, '447 after the re-subscription: the app got them').toEqual({ ok: true, value: expect.arrayContaining([a!.id, b!.id]) });
    return 'delivered (447 after the re-subscription)';
  },
};

/**
 * Without the grace the 447 also races NDK's signing: when it leaves before
 * the AUTH it is refused and never resent; when after, it is answered, with
 * the outcome of droppedDeliveries.
 */
const noKeyPackagesWithoutGrace: Pin<AskRun> = {
  why: 'a 447 that leaves before the AUTH is refused and never resent; one answered before NDK re-subscribes has its KeyPackages dropped (as with the grace)',
  check(run) {
    if (run.wire.verdicts[0] === true) return droppedDeliveries.check(run);
    expect(run.wire.verdicts, 'refused').toEqual([expect.stringMatching(/^auth-required: /)]);
    expect(run.wire.requestsSent, 'never resent').toBe(1);
    expect(run.outcome, "NDK's publish fails at its timeout").toEqual({ ok: false, error: expect.stringMatching(/^Not enough relays received the event/) });
    expect(run.stored.length, 'nothing consumed').toBe(3);
    return 'refused, never resent';
  },
};

/**
 * Without the grace NDK's REQ is refused, then re-sent when its AUTH
 * completes: that works. But when a loaded machine delays the first REQ past
 * the AUTH, it is answered, and re-sent all the same: a second hand-out.
 */
const reSentWithoutGrace: Pin<FetchRun> = {
  why: 'NDK re-sends the REQ once its AUTH completes: after a refusal that is the retry (the app gets 2); after an answered REQ (the first one left after the AUTH) a second hand-out (3)',
  check(run) {
    const ids = run.published.map((e) => e.id);
    expect(run.wire.requestsSent, 'the REQ was sent twice').toBe(2);
    if (run.wire.requestBeforeAuth) {
      expect(run.wire.verdicts, 'refused, then answered').toEqual([expect.stringMatching(/^auth-required: /), true]);
      expect(run.outcome, 'the app got the 2 oldest').toEqual({ ok: true, value: expect.arrayContaining([ids[0], ids[1]]) });
      expect(run.outcome.ok && run.outcome.value.length, 'only those').toBe(2);
      expect(run.stored, 'the 2 oldest consumed').toEqual([ids[2]]);
      return 'refused, then re-sent: 2';
    }
    expect(run.wire.verdicts, 'both answered').toEqual([true, true]);
    expect(run.outcome, 'the app got all 3').toEqual({ ok: true, value: expect.arrayContaining(ids) });
    expect(run.stored, 'the 2 oldest consumed').toEqual([ids[2]]);
    return 'answered, then re-sent: 3';
  },
};

/** Without a policy NDK never authenticates; a refused REQ leaves fetchEvents pending for good. */
const neverSettles: Pin<FetchRun> = {
  why: 'no AUTH is ever sent; after the CLOSED auth-required: fetchEvents never settles (bounded here at 2 s)',
  check(run) {
    expect(run.outcome, 'fetchEvents still pending when the test stopped waiting').toEqual({ ok: false, error: expect.stringMatching(/^timed out after 2000 ms/) });
    expect(run.wire.verdicts, 'the CLOSED came').toEqual([expect.stringMatching(/^auth-required: /)]);
    expect(run.wire.authsSent, 'no AUTH').toBe(0);
    expect(run.stored.length, 'nothing consumed').toBe(3);
  },
};

const refused447: Pin<AskRun> = {
  why: 'no AUTH is ever sent; the 447 is refused auth-required: and publish() fails at its timeout',
  check(run) {
    expect(run.outcome, "NDK's publish fails at its timeout").toEqual({ ok: false, error: expect.stringMatching(/^Not enough relays received the event/) });
    expect(run.wire.verdicts, 'refused').toEqual([expect.stringMatching(/^auth-required: /)]);
    expect(run.wire.authsSent, 'no AUTH').toBe(0);
    expect(run.stored.length, 'nothing consumed').toBe(3);
  },
};

const noGrace = { authGraceMs: 0 };

// The suites run side by side (each run's frames are told apart by operation, see WireTap).
describe.concurrent('NDK', () => {
  interopSuite('NDK + signIn policy, default grace', signIn, { publish: 'held-until-auth', fetch: secondHandOut, ask447: droppedDeliveries }, { tap, loop: { budgetMs: 10_000 } });
  interopSuite('NDK + signIn policy, no grace', signIn, { publish: refusedPublish(true), fetch: reSentWithoutGrace, ask447: noKeyPackagesWithoutGrace }, { tap, relay: noGrace, loop: { budgetMs: 10_000 } });
  // With the grace a policy-less NDK fails the same way, each request 2 s later (held, then refused).
  interopSuite('NDK without an auth policy, no grace', noPolicy, { publish: refusedPublish(false), fetch: neverSettles, ask447: refused447 }, { tap, relay: noGrace, loop: { budgetMs: 10_000 }, operationMs: 2000 });
});
