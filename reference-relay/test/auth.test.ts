/** PROFILE.md §1 Identity (NIP-42): kp-auth-challenge, kp-auth-verify, kp-auth-multi. */
import { describe, expect, it } from 'vitest';
import { newKeys, type Keys } from '../../protocol/crypto.js';
import { KIND, PREFIX, TAG, prefixOf } from '../../protocol/profile.js';
import { inventory, publishKeyPackages } from '../../client/choreography.js';
import { textNote } from '../../fixtures/events.js';
import { nowSeconds, type RelayClient } from '../../client/relay-client.js';
import { authEvent, liveSub, sendAuth, sortedIds, sharedRelay, withBadId, withBadSig } from './harness.js';

// Protected notes probe who is authenticated, also before any AUTH: judged at once, not held for one (kp-auth-grace, auth-grace.test.ts).
const relay = sharedRelay({ authGraceMs: 0 });
const pool = relay.pool;

/** Whether `keys` is authenticated on `client`: a protected note by it is accepted only then (kp-pub-protected). */
async function protectedNoteAccepted(client: RelayClient, keys: Keys): Promise<boolean> {
  const reply = await client.publish(textNote(keys, 'protected', [[TAG.protected]]));
  return reply.ok;
}

/** The same URL with another port. */
function otherPort(url: string): string {
  const u = new URL(url);
  u.port = String(Number(u.port) === 1 ? 2 : 1);
  return u.toString();
}

describe('kp-auth-challenge', () => {
  it('kp-auth-challenge: the first message on a new connection is AUTH with a challenge unique to it', async () => {
    const a = await pool.connectRaw(relay.url);
    const b = await pool.connectRaw(relay.url);
    // Even a client that speaks first gets the challenge before any answer.
    const [resA, resB] = await Promise.all([a.req([{ kinds: [1], limit: 1 }]), b.req([{ kinds: [1], limit: 1 }])]);
    expect(resA.eose && resB.eose).toBe(true);
    for (const c of [a, b]) {
      const first = c.received[0];
      expect(first?.[0]).toBe('AUTH');
      expect(typeof first?.[1]).toBe('string');
      expect((first?.[1] as string).length).toBeGreaterThan(0);
    }
    expect(a.challenge).not.toBe(b.challenge);
  });
});

describe('kp-auth-verify', () => {
  it('kp-auth-verify: a correct AUTH gets OK true with an empty message and authenticates its pubkey', async () => {
    const keys = newKeys();
    const client = await pool.connect(relay.url);
    expect(await protectedNoteAccepted(client, keys)).toBe(false);
    const reply = await client.auth(keys);
    expect(reply).toEqual({ ok: true, message: '' });
    expect(await protectedNoteAccepted(client, keys)).toBe(true);
  });

  const broken: [string, (client: RelayClient, keys: Keys) => ReturnType<typeof authEvent>][] = [
    ['a wrong challenge', (c, k) => authEvent(c, k, { tags: [[TAG.relay, c.url], [TAG.challenge, 'not-the-challenge']] })],
    ['a missing challenge tag', (c, k) => authEvent(c, k, { tags: [[TAG.relay, c.url]] })],
    ['a relay tag naming another relay', (c, k) => authEvent(c, k, { tags: [[TAG.relay, 'wss://relay.example.com'], [TAG.challenge, c.challenge ?? '']] })],
    ['a missing relay tag', (c, k) => authEvent(c, k, { tags: [[TAG.challenge, c.challenge ?? '']] })],
    ['a relay tag naming another port of the same host', (c, k) => authEvent(c, k, { tags: [[TAG.relay, otherPort(c.url)], [TAG.challenge, c.challenge ?? '']] })],
    ['the wrong kind (1 instead of 22242)', (c, k) => authEvent(c, k, { kind: 1 })],
    ['a created_at 11 minutes old', (c, k) => authEvent(c, k, { createdAt: nowSeconds() - 660 })],
    ['a created_at 11 minutes ahead', (c, k) => authEvent(c, k, { createdAt: nowSeconds() + 660 })],
    ['a bad signature', (c, k) => withBadSig(authEvent(c, k))],
    ['an id that is not the hash of the event', (c, k) => withBadId(authEvent(c, k))],
  ];
  for (const [what, build] of broken) {
    it(`kp-auth-verify: an AUTH with ${what} gets OK false "invalid:" and authenticates nobody`, async () => {
      const keys = newKeys();
      const client = await pool.connect(relay.url);
      const reply = await sendAuth(client, build(client, keys));
      expect(reply.ok).toBe(false);
      expect(prefixOf(reply.message)).toBe(PREFIX.invalid);
      expect(await protectedNoteAccepted(client, keys)).toBe(false);
    });
  }

  it('kp-auth-verify: a created_at 9 minutes old is still within the 600 s window', async () => {
    const keys = newKeys();
    const client = await pool.connect(relay.url);
    const reply = await sendAuth(client, authEvent(client, keys, { createdAt: nowSeconds() - 540 }));
    expect(reply.ok).toBe(true);
  });

  it("kp-auth-verify: another connection's challenge is refused", async () => {
    const keys = newKeys();
    const a = await pool.connect(relay.url);
    const b = await pool.connect(relay.url);
    const reply = await sendAuth(b, authEvent(a, keys));
    expect(reply.ok).toBe(false);
    expect(prefixOf(reply.message)).toBe(PREFIX.invalid);
    expect(await protectedNoteAccepted(b, keys)).toBe(false);
  });

  it('kp-auth-verify: kind 22242 events are neither stored nor broadcast', async () => {
    const keys = newKeys();
    const watcher = await pool.connect(relay.url);
    const sub = await liveSub(watcher, { kinds: [KIND.auth] });
    const client = await pool.connect(relay.url);
    expect((await client.auth(keys)).ok).toBe(true);
    // Also an AUTH event sent as an EVENT must not end up stored.
    const asEvent = authEvent(client, keys);
    await client.publish(asEvent);
    const stored = await client.req([{ kinds: [KIND.auth], authors: [keys.pubkey] }]);
    expect(stored.eose).toBe(true);
    expect(stored.events).toEqual([]);
    await watcher.quietFor(200);
    expect(watcher.drainEvents(sub)).toEqual([]);
    expect(watcher.received.filter((m) => m[0] === 'EVENT')).toEqual([]);
  });
});

describe('kp-auth-multi', () => {
  it('kp-auth-multi: one connection authenticates several pubkeys, each by its own AUTH', async () => {
    const a = newKeys();
    const b = newKeys();
    const client = await pool.connect(relay.url);
    expect((await client.auth(a)).ok).toBe(true);
    expect((await client.auth(b)).ok).toBe(true);
    expect(await protectedNoteAccepted(client, a)).toBe(true);
    expect(await protectedNoteAccepted(client, b)).toBe(true);
    expect(await protectedNoteAccepted(client, newKeys())).toBe(false);
  });

  it("kp-auth-multi: with the owner authenticated among others, a REQ for the owner's KeyPackages is an owner's query", async () => {
    const owner = newKeys();
    const kps = await publishKeyPackages(relay.url, owner, 3, pool.opts);
    // 3 > max_per_query (2): only an owner's query returns them all.
    const client = await pool.connectAs(relay.url, newKeys(), owner);
    const res = await client.req([{ kinds: [KIND.keyPackage], authors: [owner.pubkey] }]);
    expect(res.eose).toBe(true);
    expect(sortedIds(res.events)).toEqual(sortedIds(kps));
    expect(sortedIds(await inventory(relay.url, owner, pool.opts))).toEqual(sortedIds(kps));
  });

  it('kp-auth-multi: the owner authenticated after a requester on the same connection still makes it an owner\'s query', async () => {
    const owner = newKeys();
    const kps = await publishKeyPackages(relay.url, owner, 3, pool.opts);
    const client = await pool.connectAs(relay.url, owner, newKeys());
    const res = await client.req([{ kinds: [KIND.keyPackage], authors: [owner.pubkey] }]);
    expect(sortedIds(res.events)).toEqual(sortedIds(kps));
    expect(await inventory(relay.url, owner, pool.opts)).toHaveLength(3);
  });
});
