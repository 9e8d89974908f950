/**
 * applesauce-relay 6.2 against the reference relay.
 *
 * Configured as its docs say (applesauce.build, "Relay Class" > Authentication):
 * `new Relay(url)`, and authenticate when the challenge arrives:
 * `relay.challenge$.subscribe((challenge) => { if (challenge) relay.authenticate(signer) })`
 * — eager. The signer is any object with `signEvent(template)` (the docs use
 * `window.nostr`; here a plain one, so no applesauce-signers). Publishing is
 * `relay.publish(event)`, which retries an `auth-required:` refusal (3 times,
 * 1 s, 2 s, 3 s apart); fetching `relay.request(filter)` (completes at EOSE,
 * retries an `auth-required:` CLOSED once authenticated); the live
 * subscription `relay.subscription(filter)`.
 *
 * On Node 20 the relay needs a WebSocket class: the `WebSocket` option (here
 * the wire tap's `ws` subclass).
 */
import { afterAll, describe } from 'vitest';
import { Relay, type FilterInput } from 'applesauce-relay';
import type { Keys } from '../../protocol/crypto.js';
import type { NostrEvent } from '../../protocol/messages.js';
import { KIND } from '../../protocol/profile.js';
import { closeOnAbort, interopSuite, signerFor, WireTap, type Setup } from './support.js';

/** Received frames arrive 5 ms late, as over a network: see WireTap. */
const tap = new WireTap({ latencyMs: 5 });
afterAll(() => tap.expectAllClosed());

/** A relay that answers every challenge as `keys` when it arrives; `close` ends both. */
function openRelay(url: string, keys: Keys): { relay: Relay; close: () => Promise<void> } {
  const relay = new Relay(url, { WebSocket: tap.WebSocket as never });
  const signer = { signEvent: signerFor(keys) };
  const onChallenge = relay.challenge$.subscribe((challenge) => {
    if (!challenge) return;
    relay.authenticate(signer).catch(() => undefined);
  });
  return {
    relay,
    close: async () => {
      await tap.authsAnswered();
      onChallenge.unsubscribe();
      relay.close();
    },
  };
}

const challengeSetup: Setup = {
  name: 'applesauce Relay, authenticate on challenge$',
  async publish(url, keys, event, signal) {
    const { relay, close } = openRelay(url, keys);
    closeOnAbort(signal, close);
    try {
      const res = await relay.publish(event);
      if (!res.ok) throw new Error(res.message ?? 'refused');
    } finally {
      await close();
    }
  },
  async fetch(url, keys, filter, signal) {
    const { relay, close } = openRelay(url, keys);
    closeOnAbort(signal, close);
    try {
      // request() completes at EOSE (and sends CLOSE); an error-prefixed CLOSED it does not retry is an error.
      return await new Promise<NostrEvent[]>((resolve, reject) => {
        const events: NostrEvent[] = [];
        relay.request(filter as FilterInput).subscribe({ next: (e) => events.push(e as NostrEvent), error: reject, complete: () => resolve(events) });
      });
    } finally {
      await close();
    }
  },
  async ask447(url, keys, request, signal) {
    const { relay, close } = openRelay(url, keys);
    closeOnAbort(signal, close);
    const events: NostrEvent[] = [];
    let live: { unsubscribe(): void } | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        live = relay.subscription({ kinds: [KIND.keyPackage], limit: 0 }).subscribe({
          next: (m) => (m === 'EOSE' ? resolve() : events.push(m as NostrEvent)),
          error: reject,
        });
      });
      const res = await relay.publish(request);
      if (!res.ok) throw new Error(res.message ?? 'refused');
      return events;
    } finally {
      live?.unsubscribe();
      await close();
    }
  },
};

// The suites run side by side (each run's frames are told apart by operation, see WireTap).
describe.concurrent('applesauce-relay', () => {
  // Eager AUTH (when the challenge arrives, after the first request left), and a retry of a refused request.
  interopSuite('applesauce Relay + authenticate on challenge$, default grace', challengeSetup, { publish: 'held-until-auth', fetch: 'held-until-auth', ask447: 'at-once' }, { tap });
  interopSuite('applesauce Relay + authenticate on challenge$, no grace', challengeSetup, { publish: 'after-retry', fetch: 'after-retry', ask447: 'at-once' }, { tap, relay: { authGraceMs: 0 }, loop: { budgetMs: 10_000 } });
});
