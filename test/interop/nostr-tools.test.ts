/**
 * nostr-tools 2.25 against the reference relay, three configurations:
 *
 * - `SimplePool` with a per-call `onauth` (its README, "Authenticating with
 *   relays (NIP-42)"): `subscribeMany`/`subscribeEose`/`publish` take
 *   `onauth`, and on an `auth-required:` CLOSED or OK the pool signs the
 *   challenge and sends the request again. Lazy: it authenticates only after
 *   a refusal.
 * - `SimplePool` with `automaticallyAuth` (an option of the pool's
 *   constructor type, `AbstractPoolConstructorOptions`; `SimplePool`'s own
 *   constructor type leaves it out, so it is set on the instance): every relay
 *   the pool opens signs the challenge as soon as it arrives. Eager, and no
 *   retry: a refused request stays refused.
 * - `Relay` with `relay.onauth` (the hook `automaticallyAuth` installs): the
 *   same eager AUTH on one connection. (The README's `Relay` example instead
 *   calls `relay.auth(...)` in `onclose` on `auth-required:` and subscribes
 *   again: that is the lazy retry of the first configuration, by hand.)
 *
 * On Node 20 the library needs a WebSocket implementation:
 * `useWebSocketImplementation(WebSocket)` from `ws`, as its README says (here
 * the wire tap's subclass of it).
 */
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { SimplePool, useWebSocketImplementation as usePoolWebSocket } from 'nostr-tools/pool';
import { Relay, useWebSocketImplementation as useRelayWebSocket } from 'nostr-tools/relay';
import type { Event, EventTemplate, VerifiedEvent } from 'nostr-tools';
import type { Keys } from '../../protocol/crypto.js';
import type { NostrEvent } from '../../protocol/messages.js';
import { KIND } from '../../protocol/profile.js';
import { closeOnAbort, interopSuite, refusedPublishNoRetry, signerFor, silentlyEmptyFetch, WireTap, type FetchRun, type Pin, type Setup } from './support.js';

/** Received frames arrive 20 ms late, as over a network: see WireTap. */
const tap = new WireTap({ latencyMs: 20 });
beforeAll(() => {
  usePoolWebSocket(tap.WebSocket);
  useRelayWebSocket(tap.WebSocket);
});
afterAll(() => tap.expectAllClosed());

/** The `onauth` hook: signs the AUTH template nostr-tools builds (`finalizeEvent`). */
function onauth(keys: Keys): (template: EventTemplate) => Promise<VerifiedEvent> {
  const sign = signerFor(keys);
  return async (template) => sign(template) as VerifiedEvent;
}

/** A subscription's events until EOSE, which resolves them (the pool closes it there). */
function untilEose(subscribe: (handlers: { onevent: (e: Event) => void; oneose: () => void; onclose: (why: unknown) => void }) => void): Promise<NostrEvent[]> {
  return new Promise((resolve) => {
    const events: NostrEvent[] = [];
    subscribe({ onevent: (e) => events.push(e), oneose: () => resolve(events), onclose: () => resolve(events) });
  });
}

const poolWithOnauth: Setup = {
  name: 'nostr-tools SimplePool, per-call onauth',
  async publish(url, keys, event, signal) {
    const pool = new SimplePool();
    closeOnAbort(signal, () => pool.destroy());
    try {
      await pool.publish([url], event, { onauth: onauth(keys) })[0];
    } finally {
      await tap.authsAnswered();
      pool.destroy();
    }
  },
  async fetch(url, keys, filter, signal) {
    const pool = new SimplePool();
    closeOnAbort(signal, () => pool.destroy());
    try {
      // subscribeEose: subscribeMany that closes at EOSE; like querySync, it ends (with what came) on any close.
      return await untilEose(({ onevent, onclose }) => pool.subscribeEose([url], filter, { onevent, onclose, onauth: onauth(keys) }));
    } finally {
      await tap.authsAnswered();
      pool.destroy();
    }
  },
  async ask447(url, keys, request, signal) {
    const pool = new SimplePool();
    closeOnAbort(signal, () => pool.destroy());
    try {
      const events: NostrEvent[] = [];
      await new Promise<void>((resolve) => {
        pool.subscribe([url], { kinds: [KIND.keyPackage], limit: 0 }, { onevent: (e) => events.push(e), oneose: resolve, onauth: onauth(keys) });
      });
      await pool.publish([url], request, { onauth: onauth(keys) })[0];
      return events;
    } finally {
      await tap.authsAnswered();
      pool.destroy();
    }
  },
};

function poolAutoAuth(keys: Keys): SimplePool {
  const pool = new SimplePool();
  pool.automaticallyAuth = () => onauth(keys);
  return pool;
}

const poolWithAutomaticallyAuth: Setup = {
  name: 'nostr-tools SimplePool, automaticallyAuth',
  async publish(url, keys, event, signal) {
    const pool = poolAutoAuth(keys);
    closeOnAbort(signal, () => pool.destroy());
    try {
      await pool.publish([url], event)[0];
    } finally {
      await tap.authsAnswered();
      pool.destroy();
    }
  },
  async fetch(url, keys, filter, signal) {
    const pool = poolAutoAuth(keys);
    closeOnAbort(signal, () => pool.destroy());
    try {
      return await pool.querySync([url], filter);
    } finally {
      await tap.authsAnswered();
      pool.destroy();
    }
  },
  async ask447(url, keys, request, signal) {
    const pool = poolAutoAuth(keys);
    closeOnAbort(signal, () => pool.destroy());
    try {
      const events: NostrEvent[] = [];
      await new Promise<void>((resolve) => {
        pool.subscribe([url], { kinds: [KIND.keyPackage], limit: 0 }, { onevent: (e) => events.push(e), oneose: resolve });
      });
      await pool.publish([url], request)[0];
      return events;
    } finally {
      await tap.authsAnswered();
      pool.destroy();
    }
  },
};

async function relayWithOnauth(url: string, keys: Keys): Promise<Relay> {
  const relay = new Relay(url);
  relay.onauth = onauth(keys);
  await relay.connect();
  return relay;
}

const relayOnauth: Setup = {
  name: 'nostr-tools Relay, relay.onauth',
  async publish(url, keys, event, signal) {
    const relay = await relayWithOnauth(url, keys);
    closeOnAbort(signal, () => relay.close());
    try {
      await relay.publish(event);
    } finally {
      await tap.authsAnswered();
      relay.close();
    }
  },
  async fetch(url, keys, filter, signal) {
    const relay = await relayWithOnauth(url, keys);
    closeOnAbort(signal, () => relay.close());
    try {
      return await new Promise<NostrEvent[]>((resolve, reject) => {
        const events: NostrEvent[] = [];
        const sub = relay.subscribe([filter], {
          onevent: (e) => events.push(e),
          oneose: () => {
            resolve(events);
            sub.close();
          },
          // After our close at EOSE this settles nothing; before it, it is the relay's CLOSED.
          onclose: (reason) => reject(new Error(reason)),
        });
      });
    } finally {
      await tap.authsAnswered();
      relay.close();
    }
  },
  async ask447(url, keys, request, signal) {
    const relay = await relayWithOnauth(url, keys);
    closeOnAbort(signal, () => relay.close());
    try {
      const events: NostrEvent[] = [];
      await new Promise<void>((resolve) => {
        relay.subscribe([{ kinds: [KIND.keyPackage], limit: 0 }], { onevent: (e) => events.push(e), oneose: resolve });
      });
      await relay.publish(request);
      return events;
    } finally {
      await tap.authsAnswered();
      relay.close();
    }
  },
};

/** `Relay.subscribe` hands the CLOSED reason to `onclose`; nothing is sent again unless the app does it (the README's pattern). */
const refusedReqNoRetry: Pin<FetchRun> = {
  why: 'the REQ leaves before the AUTH; onclose gets "auth-required: ...", nothing is resent',
  check(run) {
    expect(run.outcome, 'the app is told the refusal').toEqual({ ok: false, error: expect.stringMatching(/^auth-required: /) });
    expect(run.wire.requestBeforeAuth, 'the REQ left before the AUTH').toBe(true);
    expect(run.wire.requestsSent, 'never resent').toBe(1);
    expect(run.wire.authVerdicts, 'the library did authenticate, too late').toContain(true);
    expect(run.stored.length, 'nothing consumed').toBe(3);
  },
};

const noGrace = { authGraceMs: 0 };

// The suites run side by side (each run's frames are told apart by operation, see WireTap).
describe.concurrent('nostr-tools', () => {
  // Lazy: a first request is refused (after the whole grace, when the relay has one), then resent after AUTH.
  // At the default grace each first request takes over 2 s, so that suite runs for an 8 s budget, and
  // scenario 4 (three such requests a run) is left to the suite without grace.
  interopSuite('nostr-tools SimplePool + per-call onauth, default grace', poolWithOnauth, { publish: 'after-retry', fetch: 'after-retry', ask447: 'after-retry' }, { tap, loop: { budgetMs: 8000 }, chain: false });
  interopSuite('nostr-tools SimplePool + per-call onauth, no grace', poolWithOnauth, { publish: 'after-retry', fetch: 'after-retry', ask447: 'after-retry' }, { tap, relay: noGrace });

  // Eager: AUTH when the challenge arrives, which is after the first request left.
  interopSuite('nostr-tools SimplePool + automaticallyAuth, default grace', poolWithAutomaticallyAuth, { publish: 'held-until-auth', fetch: 'held-until-auth', ask447: 'at-once' }, { tap });
  interopSuite('nostr-tools SimplePool + automaticallyAuth, no grace', poolWithAutomaticallyAuth, { publish: refusedPublishNoRetry, fetch: silentlyEmptyFetch, ask447: 'at-once' }, { tap, relay: noGrace, loop: { budgetMs: 10_000 } });
  interopSuite('nostr-tools Relay + relay.onauth, default grace', relayOnauth, { publish: 'held-until-auth', fetch: 'held-until-auth', ask447: 'at-once' }, { tap });
  interopSuite('nostr-tools Relay + relay.onauth, no grace', relayOnauth, { publish: refusedPublishNoRetry, fetch: refusedReqNoRetry, ask447: 'at-once' }, { tap, relay: noGrace, loop: { budgetMs: 10_000 } });
});
