/**
 * The relay's plain NIP-01 behaviour the profile relies on, its NIP-11
 * document (kp-rate-advertise) and its Prometheus metrics.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { newKeys } from '../../protocol/crypto.js';
import { DEFAULT_KEYPACKAGE_LIMITS, KIND, PROFILE_VERSION } from '../../protocol/profile.js';
import { publishKeyPackages } from '../../client/choreography.js';
import { textNote } from '../../fixtures/events.js';
import { nowSeconds } from '../../client/relay-client.js';
import { ClientPool, fetchMetrics, fetchRelayInfo, hasMetric, liveSub, metricSum, signedEvent, startTestRelay, type RunningRelay } from './harness.js';

const LIMITS = { max_per_query: 3, queries_per_window: 7, served_per_window: 20, window_seconds: 120 };
const MAX_MESSAGE_LENGTH = 50_000;
let relay: RunningRelay;
const pool = new ClientPool();

beforeAll(async () => {
  relay = await startTestRelay({ limits: LIMITS, maxMessageLength: MAX_MESSAGE_LENGTH });
});
afterEach(async ({ task }) => {
  await pool.closeAll(task.result?.state === 'fail');
});
afterAll(async () => {
  await relay?.close();
});

describe('kp-rate-advertise (NIP-11)', () => {
  it('kp-rate-advertise: the NIP-11 document advertises the configured limits under keypackages', async () => {
    const { status, headers, info } = await fetchRelayInfo(relay);
    expect(status).toBe(200);
    expect(headers.get('content-type') ?? '').toMatch(/json/);
    expect(info.keypackages).toEqual({ profile: PROFILE_VERSION, ...LIMITS, auth_grace_ms: 2000, mls_checks: true });
  });

  it('kp-rate-advertise: a relay started without limits advertises the profile defaults (2, 10, 50, 3600; grace 2000 ms, MLS checks on)', async () => {
    const plain = await startTestRelay();
    try {
      const { info } = await fetchRelayInfo(plain);
      expect(info.keypackages).toEqual({ profile: PROFILE_VERSION, ...DEFAULT_KEYPACKAGE_LIMITS, auth_grace_ms: 2000, mls_checks: true });
    } finally {
      await plain.close();
    }
  });

  it('kp-rate-advertise: auth_grace_ms (kp-auth-grace) and mls_checks (kp-pub-mls) are the configured ones', async () => {
    const configured = await startTestRelay({ authGraceMs: 750, mlsChecks: false });
    try {
      const { info } = await fetchRelayInfo(configured);
      expect(info.keypackages).toMatchObject({ auth_grace_ms: 750, mls_checks: false });
    } finally {
      await configured.close();
    }
  });

  it('kp-rate-advertise: the document has CORS headers, max_message_length and the supported NIPs', async () => {
    const { headers, info } = await fetchRelayInfo(relay);
    expect(headers.get('access-control-allow-origin')).not.toBeNull();
    expect(info.limitation?.max_message_length).toBe(MAX_MESSAGE_LENGTH);
    expect(info.supported_nips).toEqual(expect.arrayContaining([1, 9, 11, 40, 42, 70]));
  });
});

describe('metrics', () => {
  it('GET /metrics serves Prometheus text', async () => {
    const { status, contentType, text, samples } = await fetchMetrics(relay);
    expect(status).toBe(200);
    expect(contentType).toMatch(/^text\/plain/);
    expect(text).toMatch(/^# (HELP|TYPE) /m);
    expect(samples.length).toBeGreaterThan(0);
  });

  it('GET /metrics: the handed-out counter grows with a hand-out (and a consumed counter, if there is one)', async () => {
    const owner = newKeys();
    await publishKeyPackages(relay.url, owner, 4, pool.opts);
    const before = (await fetchMetrics(relay)).samples;
    const requester = await pool.connectAs(relay.url, newKeys());
    const res = await requester.req([{ kinds: [KIND.keyPackage], authors: [owner.pubkey] }]);
    expect(res.events).toHaveLength(3);
    const after = (await fetchMetrics(relay)).samples;
    expect(hasMetric(after, /handed/)).toBe(true);
    expect(metricSum(after, /handed/)).toBeGreaterThan(metricSum(before, /handed/));
    if (hasMetric(before, /consum/)) expect(metricSum(after, /consum/)).toBeGreaterThan(metricSum(before, /consum/));
  });

  it('GET /metrics: each group commit is timed, the COMMIT and its fsync', async () => {
    const before = (await fetchMetrics(relay)).samples;
    await publishKeyPackages(relay.url, newKeys(), 3, pool.opts);
    const after = (await fetchMetrics(relay)).samples;
    const commits = metricSum(after, /^relay_store_commits$/);
    expect(commits).toBeGreaterThan(metricSum(before, /^relay_store_commits$/));
    expect(metricSum(after, /^relay_store_commit_seconds_count$/)).toBe(commits);
    expect(metricSum(after, /^relay_store_commit_seconds_sum$/)).toBeGreaterThan(metricSum(before, /^relay_store_commit_seconds_sum$/));
  });

  it('GET /metrics: a rate-limit refusal is counted', async () => {
    const owner = newKeys();
    const requester = await pool.connectAs(relay.url, newKeys());
    for (let i = 0; i < LIMITS.queries_per_window; i++) {
      expect((await requester.req([{ kinds: [KIND.keyPackage], authors: [owner.pubkey] }])).eose).toBe(true);
    }
    const before = (await fetchMetrics(relay)).samples;
    const refused = await requester.req([{ kinds: [KIND.keyPackage], authors: [owner.pubkey] }]);
    expect(refused.closed).toBeDefined();
    const after = (await fetchMetrics(relay)).samples;
    expect(hasMetric(after, /rate.?limited/)).toBe(true);
    expect(metricSum(after, /rate.?limited/)).toBeGreaterThan(metricSum(before, /rate.?limited/));
  });
});

describe('NIP-01', () => {
  it('nip-01: kind 10051 is an ordinary replaceable event: only the newest is served (Appendix A)', async () => {
    const author = newKeys();
    const client = await pool.connect(relay.url);
    const older = signedEvent(author, KIND.keyPackageRelays, [['relay', 'wss://a.example']], '', nowSeconds() - 10);
    const newer = signedEvent(author, KIND.keyPackageRelays, [['relay', 'wss://b.example']], '', nowSeconds() - 5);
    expect((await client.publish(older)).ok).toBe(true);
    expect((await client.publish(newer)).ok).toBe(true);
    const res = await client.req([{ kinds: [KIND.keyPackageRelays], authors: [author.pubkey] }]);
    expect(res.events).toEqual([newer]);
  });

  it('nip-01: until bounds live events too: a subscription with until 0 gets no new event, one without gets it', async () => {
    const author = newKeys();
    const client = await pool.connect(relay.url);
    const watcher = await pool.connect(relay.url);
    // Opened first, so the relay looks at it first: were the new note sent to it, it would come before the other's.
    const bounded = await liveSub(watcher, { authors: [author.pubkey], until: 0 });
    const open = await liveSub(watcher, { authors: [author.pubkey] });
    const note = textNote(author, 'created after 1970');
    expect((await client.publish(note)).ok).toBe(true);
    const arrived = await watcher.next((m) => m[0] === 'EVENT' && m[1] === open, 'the note on the subscription without until');
    expect(arrived[2]).toEqual(note);
    expect(watcher.drainEvents(bounded)).toEqual([]);
  });

  it('nip-01: stored events come newest first, limit applies, and CLOSE stops live events', async () => {
    const author = newKeys();
    const client = await pool.connect(relay.url);
    const notes = [30, 20, 10].map((ago, i) => textNote(author, `n${i}`, [], nowSeconds() - ago));
    for (const n of notes) expect((await client.publish(n)).ok).toBe(true);
    const res = await client.req([{ authors: [author.pubkey], limit: 2 }]);
    expect(res.events).toEqual([notes[2], notes[1]]);

    const watcher = await pool.connect(relay.url);
    const subId = await liveSub(watcher, { authors: [author.pubkey] });
    watcher.closeSub(subId);
    // The relay handles one connection's frames in order: once this REQ's EOSE is back, the CLOSE took effect.
    const probe = await watcher.req([{ ids: ['0'.repeat(64)] }]);
    watcher.closeSub(probe.subId);
    expect((await client.publish(textNote(author, 'after close'))).ok).toBe(true);
    const late = await watcher.quietFor(200);
    expect(late.filter((m) => m[0] === 'EVENT')).toEqual([]);
  });
});
