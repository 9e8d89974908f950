/**
 * The suite must have teeth: against the reference relay everything passes;
 * against a relay with one fault switch on, exactly the tests TEETH names for
 * that fault are broken (fail for a MUST, non-strict for a SHOULD), a short
 * list of tests may be untested for a stated reason, and everything else passes.
 */
import { afterAll, describe, expect, it, vi } from 'vitest';
import { startRelay, type RunningRelay } from '../../reference-relay/server.js';
import type { RelayOptions } from '../../reference-relay/config.js';
import { profileOfAnchor } from '../../protocol/profile.js';
import { FAULTS, FAULT_NAMES, type FaultName } from '../../reference-relay/faults.js';
import { prepareRun } from '../check.js';
import { globMatch, runSuite } from '../runner.js';
import { ALL_TESTS } from '../cases/index.js';
import type { TestRecord } from '../../report/schema.js';

// Small limits keep the rate-limit tests short; the suite reads them from NIP-11.
const LIMITS = { queries_per_window: 4, served_per_window: 12 };

interface Teeth {
  /** Test ids that must come out broken: fail (MUST) or non-strict (SHOULD). */
  fails: readonly string[];
  /** Id globs that may come out untested under this fault, each with why; everything else must pass. */
  untested?: Readonly<Record<string, string>>;
  /** Tests at once; 1 where the fault's damage reaches every connection open at that moment. */
  concurrency?: number;
}

const RACES = ['kp-handout-exactly-once/race-req', 'kp-handout-exactly-once/race-req-447', 'kp-handout-exactly-once/race-one-connection'];
const LAST_RESORT_GONE = 'a relay that consumes a lone last resort leaves the race unable to judge the last one (judged by kp-handout-last-resort)';

/** One row per fault switch (the Record type keeps it complete). */
const TEETH: Record<FaultName, Teeth> = {
  'consume-last': {
    fails: ['kp-handout-last-resort/req', 'kp-handout-last-resort/447', 'kp-handout-last-resort/req-after-batch'],
    untested: {
      'kp-handout-exactly-once/race-*': LAST_RESORT_GONE,
      'kp-rate-served/last-resort': 'needs the last resort handed out twice; it is consumed the first time',
    },
  },
  'double-handout': {
    // Per-connection messages stay in order, so the one-connection race cannot open the window.
    fails: ['kp-handout-exactly-once/race-req', 'kp-handout-exactly-once/race-req-447'],
  },
  'concurrent-messages': { fails: RACES },
  'close-under-load': { fails: ['kp-handout-exactly-once/race-one-connection'] },
  // §3-§5 faults (kp-req-*, kp-447-*, kp-handout-consume)
  'serve-unscoped': { fails: ['kp-req-unscoped/kinds-without-authors'] },
  'owner-oldest-first': { fails: ['kp-req-owner/newest-first'] },
  'limit-per-filter': { fails: ['kp-req-handout/per-owner'] },
  'one-shot-handout': { fails: ['kp-req-eose/after-handout'] },
  'partial-refusal': { fails: ['kp-req-refuse-whole/auth'] },
  'ids-as-authors': {
    fails: ['kp-req-scope/ids'],
    untested: { 'kp-handout-order/req-ids': 'the relay hands out KeyPackages the ids do not name, so the order among the named ones cannot be judged' },
  },
  'no-p-ok': { fails: ['kp-447-form/missing-p'] },
  'handout-without-subscription': {
    fails: ['kp-447-subscription/none', 'kp-447-subscription/not-matching', 'kp-447-subscription/closed', 'kp-447-subscription/not-charged'],
    untested: { 'kp-447-order/subscription-and-form-before-rate-limit': 'needs a 447 refused for want of a subscription to see that check come before the rate limits' },
  },
  'silent-empty-447': { fails: ['kp-447-empty/no-keypackages', 'kp-447-empty/no-match'] },
  'owner-447-consumes': { fails: ['kp-447-owner/not-consumed', 'kp-447-owner/not-charged'] },
  'store-447': { fails: ['kp-447-not-stored/req'] },
  'form-before-auth': { fails: ['kp-447-order/auth-before-form'] },
  'soft-consume': { fails: ['kp-handout-consume/req'] },
  'no-rate-limit': {
    fails: [
      'kp-rate-queries/req',
      'kp-rate-queries/447-empty',
      'kp-rate-served/req-cap',
      'kp-rate-served/447-cap',
      'kp-rate-served/last-resort',
      'kp-rate-served/would-pass',
      'kp-rate-refusal/req-consumes-nothing',
      'kp-rate-refusal/447-consumes-nothing',
      'kp-rate-refusal/not-charged',
    ],
    untested: {
      'kp-auth-multi/charged-to-each': 'charges are seen only through a refusal, and none comes',
      'kp-req-refuse-whole/rate-limit': 'needs a rate-limit refusal to see it refuse the whole REQ',
      'kp-447-order/subscription-and-form-before-rate-limit': 'needs a rate-limit refusal to see the order of checks',
    },
  },
  'no-auth': {
    fails: ['kp-req-auth/authors', 'kp-req-auth/ids', 'kp-447-auth/other-signer', 'kp-447-auth/unauthenticated'],
    untested: {
      'kp-auth-grace/ends': 'a KeyPackage REQ is served without AUTH, so there is no refusal for the grace to delay',
      'kp-req-refuse-whole/auth': 'needs an auth-required: refusal to see it refuse the whole REQ',
      'kp-447-order/auth-before-form': 'needs an auth-required: refusal to see it come before the form check',
    },
  },
  'zero-sig': { fails: ['kp-handout-intact/req', 'kp-handout-intact/447'] },
  'accept-replay': { fails: ['kp-pub-no-replay/consumed', 'kp-pub-no-replay/deleted'] },
  'newest-first': {
    fails: [
      'kp-handout-order/req',
      'kp-handout-order/req-same-created-at',
      'kp-handout-order/req-ids',
      'kp-handout-order/447',
      'kp-handout-order/447-same-created-at',
    ],
  },
  'broadcast-live': { fails: ['kp-pub-no-broadcast/live-subscriptions'] },
  'ok-before-delivery': { fails: ['kp-447-ok-after-delivery/one-subscription', 'kp-447-ok-after-delivery/two-subscriptions'] },
  'no-challenge': {
    // A relay without NIP-42 refuses recipient-only gift wraps and protected events with no challenge ever sent.
    fails: ['kp-auth-challenge/on-connect', 'kp-auth-challenge/before-refusal', 'mr-1059-serve/served-to-recipient', 'mr-protected/keypackage', 'mr-protected/inbox-relays'],
    // README: only relays without NIP-42 leave the tests that need AUTH untested.
    untested: { '*': 'nobody can authenticate, so no test that needs an authenticated connection can run' },
  },
  'lazy-challenge': {
    fails: ['kp-auth-challenge/on-connect'],
    untested: { 'kp-auth-grace/*': 'the grace is about a challenge sent on connect, and none is' },
  },
  'no-auth-grace': { fails: ['kp-auth-grace/req-then-auth', 'kp-auth-grace/protected-then-auth', 'kp-auth-grace/447-then-auth'] },
  'handout-mixed-kinds': { fails: ['kp-req-scope/mixed-kinds'] },
  'mls-refusal-unprefixed': {
    fails: ['kp-pub-mls/foreign-credential', 'kp-pub-mls/ciphersuite-mismatch', 'kp-pub-mls/truncated', 'kp-pub-mls/bad-signature', 'kp-pub-mls/not-mls'],
  },
  // §1–§2 faults (kp-auth-*, kp-pub-*).
  'any-challenge': { fails: ['kp-auth-verify/wrong-challenge'] },
  'single-auth': {
    fails: ['kp-auth-multi/each-authenticated'],
    untested: {
      'kp-auth-multi/owner-among': 'needs the owner authenticated as a second pubkey; that AUTH is refused (judged by kp-auth-multi/each-authenticated)',
      'kp-auth-multi/charged-to-each': 'needs two pubkeys authenticated on one connection; the second AUTH is refused',
      'kp-447-owner/*': 'needs the owner authenticated next to the requester; that second AUTH is refused',
    },
  },
  'tag-allow-list': { fails: ['kp-pub-accept/other-tags'] },
  'unchecked-sig-443': { fails: ['kp-pub-signature/bad-sig'] },
  'case-insensitive-id': { fails: ['kp-pub-signature/upper-case-id'] },
  'unchecked-tags': {
    fails: ['kp-pub-tags/missing-version', 'kp-pub-tags/wrong-version', 'kp-pub-tags/missing-ciphersuite', 'kp-pub-tags/empty-ciphersuite', 'kp-pub-tags/missing-extensions'],
  },
  'opaque-content': {
    fails: ['kp-pub-content/empty', 'kp-pub-content/bad-hex', 'kp-pub-content/odd-hex', 'kp-pub-content/bad-base64', 'kp-pub-content/unknown-encoding'],
  },
  'ignore-protected': {
    fails: ['kp-pub-protected/no-auth', 'kp-pub-protected/other-auth', 'kp-pub-protected/any-kind'],
    untested: { 'kp-auth-verify/*': 'sees who is authenticated only through ["-"] events, which are accepted from anyone' },
  },
  'accept-expired': { fails: ['kp-pub-expired/past', 'kp-pub-expired/any-kind'] },
  'under-delivery': { fails: ['kp-handout-max/447'] },
  'lower-served-cap': {
    fails: ['kp-rate-served/req-cap', 'kp-rate-served/447-cap', 'kp-rate-served/last-resort', 'kp-rate-served/would-pass', 'kp-rate-served/two-subscriptions'],
    untested: { 'kp-rate-refusal/not-charged': 'its setup needs the advertised served_per_window; the lower cap is judged by kp-rate-served' },
  },
  'first-subscription-only': {
    fails: ['kp-447-delivery/every-subscription'],
    untested: { 'kp-rate-served/two-subscriptions': 'needs a delivery on two subscriptions to count it once' },
  },
  'stranger-delete': { fails: ['kp-del-owner/others-cannot'] },
  'crash-on-bad-filter': {
    fails: ['kp-robust-bad-input/invalid-filter', 'kp-robust-bad-input/other-connections'],
    // Closing every connection also ends the connections of tests running alongside: one test at a time.
    concurrency: 1,
  },
  // Marmot faults (mr-*)
  'marmot-keep-older': { fails: ['mr-kp-replace/older-after-newer', 'mr-kp-replace/same-created-at-lower-first'] },
  'marmot-serve-expired': { fails: ['mr-445-expiration/passes'] },
  'marmot-consume-30443': { fails: ['mr-coexist/kinds-443-30443'] },
  'marmot-ignore-a-deletion': { fails: ['mr-kp-delete/by-a'] },
  'marmot-protected-no-challenge': {
    fails: ['mr-protected/keypackage', 'mr-protected/inbox-relays', 'kp-auth-challenge/on-connect'],
    untested: { 'kp-auth-grace/*': 'the grace is about a challenge sent on connect, and none is' },
  },
  'marmot-gift-wrap-leak': { fails: ['mr-1059-serve/served-to-recipient'] },
  'marmot-drop-tag-values': { fails: ['mr-kp-store/served-as-published'] },
  'marmot-ignore-d-i-filters': { fails: ['mr-kp-filters/d', 'mr-kp-filters/i'] },
  // mr-coexist asks that a filter for kind 30443 consume nothing too: consuming on fetch breaks both.
  'marmot-consume-on-fetch': {
    fails: ['mr-kp-no-consume/unauthenticated', 'mr-kp-no-consume/authenticated', 'mr-coexist/kinds-30443', 'mr-coexist/kinds-443-30443', 'mr-coexist/not-charged'],
  },
  'marmot-ignore-since': { fails: ['mr-445-fetch/since'] },
  'marmot-upsert-relay-lists': { fails: ['mr-relay-lists/10050', 'mr-relay-lists/10002'] },
};

const relays: RunningRelay[] = [];
afterAll(async () => {
  await Promise.all(relays.map((r) => r.close()));
});

async function runAgainst(faults: FaultName[], concurrency = 4, options: RelayOptions = {}): Promise<TestRecord[]> {
  const relay = await startRelay({ port: 0, db: ':memory:', limits: LIMITS, faults, ...options });
  relays.push(relay);
  try {
    const { runOptions } = await prepareRun(relay.url, { timeoutMs: 3000, quietMs: 200, limits: {} });
    const { records } = await runSuite(ALL_TESTS, runOptions, { only: [], exclude: [] }, concurrency);
    return records;
  } finally {
    await relay.close();
  }
}

const describeRecord = (r: TestRecord): string => `${r.id} → ${r.outcome}: ${r.message ?? ''} (expected ${r.expected ?? '-'}, observed ${r.observed ?? '-'})`;
const brokenOutcome = (r: TestRecord): string => (r.level === 'MUST' ? 'fail' : 'non-strict');

/** Every record that differs from what TEETH says for this fault, described; empty when the suite has exactly these teeth. */
function teethMismatches(teeth: Teeth, records: readonly TestRecord[]): string[] {
  const known = new Set(records.map((r) => r.id));
  const unknown = [...teeth.fails, ...Object.keys(teeth.untested ?? {})].filter((g) => !records.some((r) => globMatch(g, r.id)));
  const wrong = records.flatMap((r) => {
    if (teeth.fails.includes(r.id)) return r.outcome === brokenOutcome(r) ? [] : [`should be ${brokenOutcome(r)}: ${describeRecord(r)}`];
    if (r.outcome === 'pass') return [];
    if (r.outcome === 'untested' && Object.keys(teeth.untested ?? {}).some((g) => globMatch(g, r.id))) return [];
    return [`should pass: ${describeRecord(r)}`];
  });
  return [...unknown.map((g) => `TEETH names ${g}, which matches no test (${known.size} tests)`), ...wrong];
}

describe('conformance suite against the reference relay', () => {
  it('passes every test, MUST and SHOULD alike', async () => {
    const records = await runAgainst([]);
    expect(records.length).toBeGreaterThan(0);
    expect(records.filter((r) => r.outcome !== 'pass').map(describeRecord)).toEqual([]);
  }, 60_000);
});

describe('conformance suite against the reference relay without MLS content checks (kp-pub-mls is its choice)', () => {
  it('passes every test, and reports the unusable KeyPackages it accepts as information', async () => {
    const records = await runAgainst([], 4, { mlsChecks: false });
    const mls = records.filter((r) => r.anchor === 'kp-pub-mls' && r.id !== 'kp-pub-mls/bare');
    expect(mls.length).toBeGreaterThan(0);
    expect(mls.filter((r) => r.outcome !== 'info').map(describeRecord)).toEqual([]);
    expect(records.filter((r) => !mls.includes(r) && r.outcome !== 'pass').map(describeRecord)).toEqual([]);
  }, 60_000);
});

describe('every MUST anchor of the profile that the suite tests is broken by some fault', () => {
  it('has a fault whose teeth include a failing test of each tested MUST anchor', () => {
    const mustAnchors = new Set(ALL_TESTS.filter((t) => t.level === 'MUST' && profileOfAnchor(t.anchor) !== undefined).map((t) => t.anchor));
    const bitten = new Set(Object.values(TEETH).flatMap((row) => row.fails.map((id) => id.split('/')[0]!)));
    // Empty: a new anchor without a fault shows up here until a fault breaks it.
    const NOT_YET: string[] = [];
    expect([...mustAnchors].filter((a) => !bitten.has(a)).sort()).toEqual([...NOT_YET].sort());
  });
});

// Runs overlap: most of a run is waiting on quiet periods, not CPU.
// Each fault's run mostly waits on the relay (quiet periods, races): ten at a time keep the file near a minute.
vi.setConfig({ maxConcurrency: 10 });

describe.concurrent.each(FAULT_NAMES)('conformance suite against a relay with --fault %s', (fault) => {
  const teeth = TEETH[fault];
  it(`breaks exactly ${teeth.fails.join(', ')} (the fault breaks ${FAULTS[fault].breaks.join(', ')})`, async () => {
    const records = await runAgainst([fault], teeth.concurrency);
    expect(teethMismatches(teeth, records)).toEqual([]);
    // Each fault's teeth are tests of the anchors it says it breaks.
    const anchors: readonly string[] = FAULTS[fault].breaks;
    expect(teeth.fails.filter((id) => !anchors.includes(id.split('/')[0]!))).toEqual([]);
  }, 240_000); // up to 10 runs overlap on 2 cores; crash-on-bad-filter runs one test at a time
});
