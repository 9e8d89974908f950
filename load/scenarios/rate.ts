/**
 * rate: requesters go past the per-(requester, owner) query limit and the
 * per-requester served limit, by REQ and by kind 447, and every answer is
 * compared with what the limits the relay advertises in NIP-11 predict
 * (kp-rate-queries, kp-rate-served, kp-rate-refusal, kp-rate-advertise).
 *
 * Each owner has exactly one KeyPackage, its last resort: every accepted
 * query hands out exactly one and consumes nothing, so the prediction is
 * exact. Owners and requesters come from the fixture's set for this run, so
 * earlier runs charged nothing; each requester has owners of its own (the
 * limits are per requester and per (requester, owner) pair, so nothing is
 * lost), which lets a split test give each instance whole requesters with
 * their owners. The kind 447 requesters' requests are pre-signed there for
 * the limits the fixture was sized for.
 */
import { DEFAULT_KEYPACKAGE_LIMITS, KIND, PREFIX, type KeyPackageLimits } from '../../protocol/profile.js';
import { keyPackagesOf, preSigned, setOf, shareOf, type Fixture, type FixtureActor, type FixtureNeeds } from '../core/fixture.js';
import { FACT, type Share } from '../core/ledger.js';
import { fetchNip11, settleLimits } from '../core/nip11.js';
import { keyPackageRequest, openInbox, query, refusalPrefix, request447, subId } from '../core/nostr.js';
import type { LoadRuntime } from '../core/runtime.js';
import { LATENCY, OPS_FAILED, RELAY_ACCESS_METRICS, RelayUnusableError, latencyThresholds, workThresholds, type Plan, type Scenario } from '../core/scenario.js';
import { int, maxDuration, type Settings } from '../core/settings.js';
import { answered, authedSocket, claimSet, guarded, needAtLeast, replyTimeout, withSocket } from './common.js';

const M = {
  match: { name: 'rate_limit_matches_model', kind: 'rate', help: 'queries whose answer (served one / refused rate-limited:) is what the advertised limits predict' },
  checked: { name: 'rate_checked', kind: 'counter', help: 'charged queries whose answer was compared with the model (the work done)' },
  expected: { name: 'rate_expected_refusals', kind: 'counter', help: 'refusals the advertised limits predict' },
  observed: { name: 'rate_observed_refusals', kind: 'counter', help: 'answers refused with rate-limited:' },
  share: { name: 'rate_refused_share', kind: 'rate', help: 'share of queries refused with rate-limited:' },
} as const;

export type Verdict = 'served' | 'queries' | 'served-cap';

/** Past these the check takes too long to be a load scenario; say so rather than run for an hour. */
const MAX_STEPS = 2000;
const MIN_WINDOW_SECONDS = 60;

/**
 * The queries one requester sends (owner indexes) and what the limits predict:
 * queries_per_window+extra to owner 0, then owner after owner until the
 * served cap has refused `extra` queries.
 */
export function ratePlanFor(limits: KeyPackageLimits, extra: number, maxSteps = MAX_STEPS): { owners: number; steps: { owner: number; expect: Verdict }[] } {
  const q = limits.queries_per_window;
  const cap = limits.served_per_window;
  const perPair = new Map<number, number>();
  let served = 0;
  const steps: { owner: number; expect: Verdict }[] = [];
  const ask = (owner: number): Verdict => {
    const n = perPair.get(owner) ?? 0;
    if (n >= q) return 'queries';
    if (served + 1 > cap) return 'served-cap';
    perPair.set(owner, n + 1);
    served += 1;
    return 'served';
  };
  for (let i = 0; i < Math.min(q + extra, maxSteps + 1); i++) steps.push({ owner: 0, expect: ask(0) });
  let owner = 1;
  let capRefusals = steps.filter((st) => st.expect === 'served-cap').length;
  // Past maxSteps the caller refuses to run it; stop building.
  while (capRefusals < extra && steps.length <= maxSteps) {
    for (let i = 0; i < q && capRefusals < extra; i++) {
      const expect = ask(owner);
      steps.push({ owner, expect });
      if (expect === 'served-cap') capRefusals += 1;
    }
    owner += 1;
  }
  return { owners: owner, steps };
}

/** One requester of this instance and the owners it queries (plan step owner k is owners[k]). */
export interface RateRequester {
  actor: FixtureActor;
  /** Its place among all REQUESTERS: odd ones ask by kind 447. */
  unit: number;
  owners: string[];
}

export interface RateData {
  url: string;
  limits: KeyPackageLimits;
  share: Share;
  /** This instance's requesters: requester i is the role's iteration i. */
  requesters: RateRequester[];
}

const knobs = (s: Settings): { requesters: number; extra: number } => ({ requesters: int(s, 'REQUESTERS', 4, 1, 100), extra: int(s, 'EXTRA', 2, 1, 50) });

/** Even requesters ask by REQ, odd ones by kind 447: both paths share the limits. */
const by447 = (i: number): boolean => i % 2 === 1;

/**
 * The owners and pre-signed requests a run needs under `limits` (what the
 * relay advertises; the settings' overrides, else the profile's defaults,
 * when unknown): requester r owns the block of owners [r·P, (r+1)·P) of
 * its set. Under other limits setup says what is missing.
 */
export function rateNeeds(s: Settings, limits?: KeyPackageLimits): FixtureNeeds {
  const k = knobs(s);
  const plan = ratePlanFor(limits ?? settleLimits(undefined, s) ?? DEFAULT_KEYPACKAGE_LIMITS, k.extra);
  const requests = Array.from({ length: k.requesters }, (_, r) => (by447(r) ? plan.steps.map((st) => r * plan.owners + st.owner) : []));
  return { owners: k.requesters * plan.owners, keyPackagesPerOwner: 1, requests, notes: 0 };
}

export function ratePlan(s: Settings, fixture: Fixture): Plan<RateData> {
  const { requesters, extra } = knobs(s);
  const d = maxDuration(s, 'rate', '120s', 'a fixed number of queries per requester');
  const timeoutMs = replyTimeout(s);

  async function runRequester(rt: LoadRuntime, data: RateData, limits: KeyPackageLimits, index: number): Promise<void> {
    const { steps } = ratePlanFor(limits, extra);
    const entry = data.requesters[index];
    if (entry == null) throw new Error(`setup handed over no requester ${index + 1}: this instance holds ${data.requesters.length} (REQUESTERS must split evenly over the instances)`);
    const { actor: requester, unit } = entry;
    const sock = await authedSocket(rt, data.url, requester.secret, timeoutMs);
    try {
      const inbox = subId('rate-inbox');
      // authors absent: one inbox receives every owner's KeyPackages (kp-447-subscription).
      if (by447(unit) && !(await openInbox(sock, inbox, { kinds: [KIND.keyPackage] }, timeoutMs))) throw new Error('the relay refused the 447 inbox subscription');
      for (const [k, step] of steps.entries()) {
        const owner = entry.owners[step.owner];
        if (owner === undefined) throw new Error('plan names an owner setup did not create');
        let servedOne: boolean;
        let refusal: string | undefined;
        if (by447(unit)) {
          // Pre-signed for these limits; signed here only when the relay's differ from the fixture's.
          const request = preSigned(fixture, requester, k, owner) ?? keyPackageRequest(rt, requester.secret, owner);
          const res = answered(rt, await request447(rt, sock, inbox, request, timeoutMs));
          if (res === undefined) return;
          rt.add(LATENCY.request447.name, res.ms);
          servedOne = res.ok && res.deliveries.length === 1 && res.deliveries[0]?.pubkey === owner;
          refusal = res.ok ? undefined : res.message;
        } else {
          const res = answered(rt, await query(rt, sock, subId('rate-req'), [{ kinds: [KIND.keyPackage], authors: [owner], limit: limits.max_per_query }], timeoutMs));
          if (res === undefined) return;
          rt.add(LATENCY.req.name, res.ms);
          servedOne = res.closed === undefined && res.events.length === 1 && res.events[0]?.pubkey === owner;
          refusal = res.closed;
        }
        const rateLimited = refusalPrefix(refusal) === PREFIX.rateLimited;
        const expectRefused = step.expect !== 'served';
        const match = expectRefused ? rateLimited : servedOne;
        rt.add(M.checked.name, 1);
        rt.add(M.expected.name, expectRefused ? 1 : 0);
        rt.add(M.observed.name, rateLimited ? 1 : 0);
        rt.add(M.share.name, rateLimited);
        rt.add(M.match.name, match);
        if (!match) {
          const got = refusal !== undefined ? `refused "${refusal}"` : servedOne ? 'served one KeyPackage' : 'an unexpected answer';
          rt.log(`rate (${by447(unit) ? '447' : 'REQ'}): query ${k + 1} to owner ${step.owner} should be ${step.expect === 'served' ? 'served' : `refused (${step.expect} limit)`}, got ${got}`);
        }
      }
    } finally {
      await sock.close();
    }
  }

  const run = guarded<RateData>(async (rt, data, it) => {
    // Setup data as k6 passes it: test absence with == null (an undefined property arrives as null).
    if (data.limits == null) throw new Error('setup handed over no limits');
    await runRequester(rt, data, data.limits, it.iteration);
  });

  return {
    roles: [{ name: 'requesters', executor: { executor: 'per-vu-iterations', vus: requesters, iterations: 1, maxDuration: d.text }, durationMs: d.ms, run }],
    metrics: [M.checked, M.match, M.expected, M.observed, M.share, LATENCY.req, LATENCY.request447, LATENCY.publish, OPS_FAILED, ...RELAY_ACCESS_METRICS],
    work: [M.checked.name],
    thresholds: {
      ...workThresholds([M.checked.name]),
      [M.match.name]: ['rate==1'],
      [OPS_FAILED.name]: ['rate<0.01'],
      ...latencyThresholds(s, [LATENCY.req.name, LATENCY.request447.name]),
    },
    settings: { REQUESTERS: requesters, EXTRA: extra, MAX_DURATION: d.text },
    setupTimeout: '120s',
    async setup(rt, instance) {
      const nip11 = await fetchNip11(rt, s.url, timeoutMs);
      const limits = settleLimits(nip11, s);
      if (limits === undefined) {
        throw new RelayUnusableError('the relay advertises no complete NIP-11 keypackages limits (kp-rate-advertise); give MAX_PER_QUERY, QUERIES_PER_WINDOW, SERVED_PER_WINDOW and WINDOW_SECONDS');
      }
      if (limits.window_seconds < MIN_WINDOW_SECONDS) throw new RelayUnusableError(`window_seconds ${limits.window_seconds} is too short to predict refusals reliably`);
      const plan = ratePlanFor(limits, extra);
      if (plan.steps.length > MAX_STEPS) throw new RelayUnusableError(`the advertised limits need ${plan.steps.length} queries per requester; more than ${MAX_STEPS}`);
      const [a, b] = shareOf(requesters, 'requesters (REQUESTERS)', instance);
      const perSet = setOf(fixture.requesters, fixture.sets, 0).length;
      needAtLeast(perSet, requesters, 'requesters');
      // The fixture gives each requester a block of owners; the relay's limits decide how many it needs.
      const block = Math.floor(setOf(fixture.owners, fixture.sets, 0).length / Math.max(1, perSet));
      needAtLeast(block, plan.owners, "owners per requester (the relay's limits decide how many)");
      const units = Array.from({ length: b - a }, (_, j) => a + j);
      // One KeyPackage per owner: every hand-out is that owner's last resort, never consumed.
      const ownersOf = (set: number, r: number): FixtureActor[] => setOf(fixture.owners, fixture.sets, set).slice(r * block, r * block + plan.owners);
      const kps = (set: number) => units.flatMap((r) => ownersOf(set, r).flatMap((o) => keyPackagesOf(fixture, o, 1)));
      const set = await withSocket(rt, s.url, timeoutMs, (sock) => claimSet(rt, sock, fixture, kps, timeoutMs));
      const actors = setOf(fixture.requesters, fixture.sets, set);
      const entries = units.map((r) => ({ actor: actors[r] as FixtureActor, unit: r, owners: ownersOf(set, r).map((o) => o.pubkey) }));
      return { url: s.url, limits, share: { instance, fixture: fixture.createdAt, set }, requesters: entries };
    },
    facts: (data) => [...FACT.share(data.share), ...data.requesters.flatMap((r) => [FACT.requester(r.actor.pubkey), ...r.owners.map(FACT.owner)])],
    notes(values) {
      const c = (name: string): number => values[name]?.count ?? 0;
      const queries = c(M.checked.name);
      if (queries === 0) return ['no query was checked: see the log for why'];
      const pct = (n: number): string => `${((100 * n) / queries).toFixed(1)}%`;
      return [
        `${queries} charged queries: ${pct(c(M.observed.name))} refused with rate-limited:, ${pct(c(M.expected.name))} predicted by the advertised limits`,
      ];
    },
  };
}

export const rateScenario: Scenario = {
  name: 'rate',
  description: 'Requesters exceed the per-owner and per-requester limits by REQ and kind 447; every refusal must be the one the NIP-11 limits predict.',
  plan: ratePlan,
};
