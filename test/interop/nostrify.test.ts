/**
 * @nostrify/nostrify 0.54 against the reference relay.
 *
 * Configured as its README says ("NRelay1 class" > NRelay1Opts): `new
 * NRelay1(url, { auth })`, where `auth(challenge)` returns a signed kind 22242
 * event; the relay calls it whenever the relay sends an AUTH message (eager),
 * and sends a request refused `auth-required:` again once that AUTH is done.
 * Publishing is `relay.event(event)` (throws when the OK is false), fetching
 * `relay.query([filter])` (closes at EOSE, or once `limit` events came), the
 * live subscription `relay.req([filter])` (an async iterable).
 *
 * NRelay1 opens its socket with the global `WebSocket` (through websocket-ts),
 * which Node 20 lacks: the wire tap's `ws` subclass is installed as the global
 * for this file.
 */
import { afterAll, beforeAll, describe } from 'vitest';
import { NRelay1 } from '@nostrify/nostrify';
import type { Keys } from '../../protocol/crypto.js';
import type { NostrEvent } from '../../protocol/messages.js';
import { KIND } from '../../protocol/profile.js';
import { authEventFor, closeOnAbort, interopSuite, WireTap, type Setup } from './support.js';

/** Received frames arrive 5 ms late, as over a network: see WireTap. */
const tap = new WireTap({ latencyMs: 5 });
let uninstall: (() => void) | undefined;
beforeAll(() => {
  uninstall = tap.installGlobally();
});
afterAll(async () => {
  await tap.expectAllClosed();
  uninstall?.();
});

function openRelay(url: string, keys: Keys): NRelay1 {
  return new NRelay1(url, { auth: async (challenge) => authEventFor(keys, url, challenge) });
}

async function close(relay: NRelay1): Promise<void> {
  await tap.authsAnswered();
  await relay.close();
}

const authSetup: Setup = {
  name: 'nostrify NRelay1, auth option',
  async publish(url, keys, event, signal) {
    const relay = openRelay(url, keys);
    closeOnAbort(signal, () => close(relay));
    try {
      await relay.event(event);
    } finally {
      await close(relay);
    }
  },
  async fetch(url, keys, filter, signal) {
    const relay = openRelay(url, keys);
    closeOnAbort(signal, () => close(relay));
    try {
      return await relay.query([filter]);
    } finally {
      await close(relay);
    }
  },
  async ask447(url, keys, request, signal) {
    const relay = openRelay(url, keys);
    closeOnAbort(signal, () => close(relay));
    const events: NostrEvent[] = [];
    const stop = new AbortController();
    let reading: Promise<void> | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        reading = (async () => {
          for await (const msg of relay.req([{ kinds: [KIND.keyPackage], limit: 0 }], { signal: stop.signal })) {
            if (msg[0] === 'EOSE') resolve();
            if (msg[0] === 'EVENT') events.push(msg[2]);
          }
        })();
        reading.catch(reject);
      });
      await relay.event(request);
      // The relay sends the KeyPackages before the 447's OK (kp-447-ok-after-delivery), and the
      // loop above takes each as it arrives: they are all in `events` once event() resolved.
      return events;
    } finally {
      stop.abort();
      await reading?.catch(() => undefined);
      await close(relay);
    }
  },
};

// The suites run side by side (each run's frames are told apart by operation, see WireTap).
describe.concurrent('nostrify', () => {
  // Eager AUTH (when the challenge arrives, after the first request left), and a retry of a refused request.
  interopSuite('nostrify NRelay1 + auth, default grace', authSetup, { publish: 'held-until-auth', fetch: 'held-until-auth', ask447: 'at-once' }, { tap });
  interopSuite('nostrify NRelay1 + auth, no grace', authSetup, { publish: 'after-retry', fetch: 'after-retry', ask447: 'at-once' }, { tap, relay: { authGraceMs: 0 }, loop: { budgetMs: 10_000 } });
});
