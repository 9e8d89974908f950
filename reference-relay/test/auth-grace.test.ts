/**
 * PROFILE.md §1.4 kp-auth-grace: a KeyPackage REQ, kind 447 or protected
 * event that arrives before the connection answered its challenge waits for
 * the AUTH (or for the grace to pass), later messages wait behind it, and an
 * AUTH is handled at once.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { newKeys } from '../../protocol/crypto.js';
import type { RelayMessage } from '../../protocol/messages.js';
import { KIND, PREFIX, TAG, prefixOf } from '../../protocol/profile.js';
import { inventory, publishKeyPackages } from '../../client/choreography.js';
import { textNote } from '../../fixtures/events.js';
import type { RelayClient } from '../../client/relay-client.js';
import { resolveConfig, type RelayOptions } from '../config.js';
import { RelayCore } from '../core/relay-core.js';
import { SqliteStore } from '../store/sqlite-store.js';
import { authEvent, ClientPool, idsOf, keyPackageRequest, liveSub, startTestRelay, type RunningRelay } from './harness.js';

const K = KIND.keyPackage;
/** Far longer than any wait below: what comes back in time was released by the AUTH, not by the timer. */
const LONG_GRACE_MS = 60_000;
/** Short enough to wait out in a test. */
const SHORT_GRACE_MS = 400;

const pool = new ClientPool();
let patient: RunningRelay;
let brief: RunningRelay;

beforeAll(async () => {
  [patient, brief] = await Promise.all([startTestRelay({ authGraceMs: LONG_GRACE_MS }), startTestRelay({ authGraceMs: SHORT_GRACE_MS })]);
});
afterEach(async ({ task }) => {
  await pool.closeAll(task.result?.state === 'fail');
});
afterAll(async () => {
  await Promise.all([patient?.close(), brief?.close()]);
});

/** Where in `client.received` the first frame matching `match` is (-1: none). */
function indexOf(client: RelayClient, match: (m: RelayMessage) => boolean): number {
  return client.received.findIndex(match);
}

const isEnd = (subId: string) => (m: RelayMessage) => (m[0] === 'EOSE' || m[0] === 'CLOSED') && m[1] === subId;

describe('kp-auth-grace: held until the AUTH', () => {
  it('kp-auth-grace: a KeyPackage REQ sent before the AUTH is served once the AUTH arrives; the AUTH is answered first', async () => {
    const owner = newKeys();
    const kps = await publishKeyPackages(patient.url, owner, 3, pool.opts);
    const client = await pool.connect(patient.url);
    const keys = newKeys();
    const auth = authEvent(client, keys);
    client.send(['REQ', 'early', { kinds: [K], authors: [owner.pubkey], limit: 1 }]);
    client.send(['AUTH', auth]);
    // Judged at once, the REQ would be CLOSED auth-required:; held behind a queued AUTH, it would wait the whole grace.
    const end = await client.next(isEnd('early'), 'EOSE or CLOSED for the early REQ');
    expect(end[0]).toBe('EOSE');
    expect(indexOf(client, (m) => m[0] === 'OK' && m[1] === auth.id)).toBeLessThan(indexOf(client, isEnd('early')));
    expect(client.drainEvents('early').map((e) => e.id)).toEqual([kps[0]!.id]);
    expect(idsOf(await inventory(patient.url, owner, pool.opts)).sort()).toEqual(idsOf(kps.slice(1)).sort());
  });

  it('kp-auth-grace: a kind 447 sent before the AUTH is judged with it: delivered, then OK true', async () => {
    const owner = newKeys();
    const kps = await publishKeyPackages(patient.url, owner, 2, pool.opts);
    const client = await pool.connect(patient.url);
    const subId = await liveSub(client, { kinds: [K], authors: [owner.pubkey] }); // limit 0: not held
    const keys = newKeys();
    const request = keyPackageRequest(keys, [[TAG.pubkey, owner.pubkey], [TAG.count, '1']]);
    const res = await client.sendRequest(request, () => client.auth(keys));
    expect([res.ok, res.deliveries]).toEqual([true, [{ subId, event: kps[0] }]]);
  });

  it('kp-auth-grace: a protected event is judged with what the AUTH authenticated: its author, or someone else', async () => {
    const [author, other] = [newKeys(), newKeys()];
    const mine = await pool.connect(patient.url);
    const note = textNote(author, 'protected', [[TAG.protected]]);
    expect(await mine.publish(note, () => mine.auth(author))).toEqual({ ok: true, message: '' });

    const theirs = await pool.connect(patient.url);
    const refused = await theirs.publish(textNote(author, 'protected too', [[TAG.protected]]), () => theirs.auth(other));
    expect(refused.ok).toBe(false);
    expect(prefixOf(refused.message)).toBe(PREFIX.authRequired);
  });

  it('kp-auth-grace: a failed AUTH releases the held REQ too, which is then refused auth-required:', async () => {
    const owner = newKeys();
    await publishKeyPackages(patient.url, owner, 2, pool.opts);
    const client = await pool.connect(patient.url);
    const wrong = authEvent(client, newKeys(), { tags: [[TAG.relay, client.url], [TAG.challenge, 'not-the-challenge']] });
    client.send(['REQ', 'early', { kinds: [K], authors: [owner.pubkey] }]);
    client.send(['AUTH', wrong]);
    const ok = await client.next((m) => m[0] === 'OK' && m[1] === wrong.id, 'OK for the wrong AUTH');
    expect(ok[2]).toBe(false);
    const end = await client.next(isEnd('early'), 'CLOSED for the early REQ');
    expect([end[0], prefixOf(String(end[2]))]).toEqual(['CLOSED', PREFIX.authRequired]);
    expect(await inventory(patient.url, owner, pool.opts)).toHaveLength(2);
  });
});

describe('kp-auth-grace: the grace passes', () => {
  it(`kp-auth-grace: without an AUTH, a KeyPackage REQ is refused auth-required: once the grace (${SHORT_GRACE_MS} ms) passed`, async () => {
    const owner = newKeys();
    await publishKeyPackages(brief.url, owner, 2, pool.opts);
    const client = await pool.connect(brief.url);
    const sent = Date.now();
    client.send(['REQ', 'early', { kinds: [K], authors: [owner.pubkey] }]);
    const end = await client.next(isEnd('early'), 'CLOSED for the early REQ', SHORT_GRACE_MS + 3000);
    const waited = Date.now() - sent;
    expect([end[0], prefixOf(String(end[2]))]).toEqual(['CLOSED', PREFIX.authRequired]);
    // Timers run on the event loop's millisecond clock: allow it a few ms of rounding against Date.now().
    expect(waited, `refused after ${waited} ms; the grace is ${SHORT_GRACE_MS} ms`).toBeGreaterThanOrEqual(SHORT_GRACE_MS - 5);
    expect(waited, `refused after ${waited} ms; the grace is ${SHORT_GRACE_MS} ms`).toBeLessThan(SHORT_GRACE_MS + 2000);
    expect(await inventory(brief.url, owner, pool.opts)).toHaveLength(2);
  });

  it('kp-auth-grace: a held message keeps the later ones behind it: a plain REQ sent after it is answered after it', async () => {
    const client = await pool.connect(brief.url);
    client.send(['REQ', 'held', { kinds: [K], authors: [newKeys().pubkey] }]);
    client.send(['REQ', 'plain', { kinds: [1], limit: 1 }]);
    await client.next(isEnd('plain'), 'EOSE for the plain REQ', SHORT_GRACE_MS + 3000);
    const [held, plain] = [indexOf(client, isEnd('held')), indexOf(client, isEnd('plain'))];
    expect(held, 'the held REQ is answered before the plain REQ sent after it').toBeGreaterThanOrEqual(0);
    expect(held).toBeLessThan(plain);
  });
});

describe('kp-auth-grace: what is not held', () => {
  it('kp-auth-grace: a limit:0 REQ, a mixed-kinds REQ and an unprotected event before the AUTH are answered at once', async () => {
    const client = await pool.connect(patient.url);
    const owner = newKeys().pubkey;
    const live = await client.req([{ kinds: [K], authors: [owner], limit: 0 }]);
    const mixed = await client.req([{ kinds: [1, K], authors: [owner] }]);
    const note = await client.publish(textNote(newKeys(), 'plain'));
    expect([live.eose, mixed.eose, note.ok]).toEqual([true, true, true]);
  });

  it('kp-auth-grace: once an AUTH arrived, a KeyPackage REQ by a connection nobody authenticated on is refused at once', async () => {
    const client = await pool.connect(patient.url);
    const wrong = await client.auth(newKeys(), (t) => ({ ...t, tags: [[TAG.relay, client.url]] }));
    expect(wrong.ok).toBe(false);
    const res = await client.req([{ kinds: [K], authors: [newKeys().pubkey] }]);
    expect(prefixOf(res.closed ?? '')).toBe(PREFIX.authRequired);
  });

  /** On a relay started with `opts`, a KeyPackage REQ of a connection that sent no AUTH gets auth-required: within the client's wait (5 s). */
  async function refusedAtOnce(opts: RelayOptions): Promise<void> {
    const relay = await startTestRelay(opts);
    try {
      const client = await pool.connectRaw(relay.url);
      const res = await client.req([{ kinds: [K], authors: [newKeys().pubkey] }]);
      expect(prefixOf(res.closed ?? '')).toBe(PREFIX.authRequired);
    } finally {
      await pool.closeClients();
      await relay.close();
    }
  }

  it('kp-auth-grace: with authGraceMs 0 nothing is held: refused at once', async () => {
    await refusedAtOnce({ authGraceMs: 0 });
  });

  it('kp-auth-grace: with the challenge sent only with the first refusal (fault lazy-challenge), nothing is held', async () => {
    await refusedAtOnce({ authGraceMs: LONG_GRACE_MS, faults: ['lazy-challenge'] });
  });
});

describe('kp-auth-grace: closing', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('kp-auth-grace: closing a connection with a held message clears its timer, drops the message and sends nothing more', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const store = new SqliteStore(':memory:');
    try {
      const core = new RelayCore(resolveConfig({ db: ':memory:', authGraceMs: LONG_GRACE_MS }), store);
      const frames: string[] = [];
      const session = core.open('127.0.0.1:7777', (text) => frames.push(text));
      const handled = core.receive(session, JSON.stringify(['REQ', 'held', { kinds: [K], authors: [newKeys().pubkey] }]));
      expect([session.held.size, vi.getTimerCount()]).toEqual([1, 1]);
      core.close(session);
      await handled; // released by the close, not by the 60 s timer (fake, never advanced)
      expect([session.held.size, vi.getTimerCount()]).toEqual([0, 0]);
      expect(frames.map((f) => (JSON.parse(f) as unknown[])[0])).toEqual(['AUTH']);
    } finally {
      store.close();
    }
  });
});
