/**
 * contend: setup publishes M KeyPackages for each of OWNERS owners (default
 * one); for each owner, RACERS requesters race for them in one VU, half by
 * REQ and half by kind 447, in rounds until nothing but the last resort is
 * left; then the owner looks at what is stored, and so does teardown.
 *
 * Invariants (kp-handout-exactly-once, kp-handout-last-resort, kp-handout-intact):
 * the M−1 KeyPackages that are not the last are handed out at most once each
 * (at most M−1 hand-outs, no duplicates), each exactly as published, and
 * exactly the last one is left. An owner's racers all run in one VU, so one
 * runtime sees every hand-out of that owner (k6 VUs share no memory); they
 * fire in the same tick each round, which is what makes it a race.
 *
 * The owners, their KeyPackages and racers come from the fixture (a set
 * per run), owner by owner: a split test gives each instance whole owners
 * with their racers (core/instance.ts), and each VU records the ids it was
 * handed and what its owner kept, for `kpsuite load merge`. The kind 447
 * racers' requests are pre-signed there too, so a round under k6 signs nothing.
 */
import { KIND, PREFIX } from '../../protocol/profile.js';
import { keyPackagesOf, preSigned, setOf, shareOf, type Fixture, type FixtureActor, type FixtureNeeds } from '../core/fixture.js';
import { FACT, type Share } from '../core/ledger.js';
import { keyPackageRequest, openInbox, query, request447, subId } from '../core/nostr.js';
import { fetchNip11 } from '../core/nip11.js';
import type { LoadRuntime, NostrEvent, Socket } from '../core/runtime.js';
import { LATENCY, OPS_FAILED, RELAY_ACCESS_METRICS, latencyThresholds, workThresholds, type Plan, type Scenario } from '../core/scenario.js';
import { int, maxDuration, type Settings } from '../core/settings.js';
import { answered, authedSocket, claimSet, guarded, needAtLeast, replyTimeout, withSocket } from './common.js';

const M = {
  nonLast: { name: 'contend_nonlast_handouts', kind: 'counter', help: 'hand-outs of KeyPackages other than the last one published (at most M−1)' },
  duplicates: { name: 'contend_duplicates', kind: 'counter', help: 'extra hand-outs of a non-last KeyPackage already handed out (must be 0)' },
  distinct: { name: 'contend_distinct_nonlast', kind: 'counter', help: 'distinct non-last KeyPackages handed out' },
  lastResort: { name: 'contend_last_resort_handouts', kind: 'counter', help: 'hand-outs of the last KeyPackage (allowed, it is kept)' },
  altered: { name: 'contend_altered', kind: 'counter', help: 'handed-out KeyPackages that differ from what was published, or are not ours (must be 0)' },
  leftOne: { name: 'contend_owner_left_one', kind: 'rate', help: 'teardown: the owner finds exactly the last KeyPackage stored' },
  checked: { name: 'contend_checked', kind: 'counter', help: 'racer queries whose answer was checked (the work done)' },
  refused: { name: 'contend_refusals', kind: 'counter', help: 'racer queries refused (CLOSED or OK false)' },
} as const;

/** One owner's race: its KeyPackages and racers. */
export interface Race {
  ownerSecret: string;
  owner: string;
  /** Oldest first: the hand-out order; the last one is the last resort. */
  keyPackages: NostrEvent[];
  /** From the claimed set; racer i asks by kind 447 when i is odd. */
  racers: FixtureActor[];
}

export interface ContendData {
  url: string;
  maxPerQuery: number;
  share: Share;
  /** This instance's owners, one per racing VU (its iteration picks it). */
  races: Race[];
}

const sameEvent = (a: NostrEvent, b: NostrEvent): boolean =>
  a.id === b.id && a.sig === b.sig && a.pubkey === b.pubkey && a.content === b.content && a.created_at === b.created_at && a.kind === b.kind && JSON.stringify(a.tags) === JSON.stringify(b.tags);

interface Racer {
  sock: Socket;
  actor: FixtureActor;
  /** The 447 racers' open subscription; undefined for REQ racers. */
  inbox: string | undefined;
}

/** Odd racers ask by kind 447, even ones by REQ. */
const by447 = (i: number): boolean => i % 2 === 1;

interface ContendKnobs {
  m: number;
  racers: number;
  rounds: number;
  owners: number;
}

function contendKnobs(s: Settings): ContendKnobs {
  return { m: int(s, 'KPS', 20, 2, 500), racers: int(s, 'RACERS', 16, 2, 500), rounds: int(s, 'ROUNDS', 6, 1, 50), owners: int(s, 'OWNERS', 1, 1, 100) };
}

/** OWNERS owners with KPS KeyPackages; RACERS requesters per owner (owner by owner), each 447 racer with a request per round for its owner. */
export function contendNeeds(s: Settings): FixtureNeeds {
  const k = contendKnobs(s);
  const requests = Array.from({ length: k.owners * k.racers }, (_, r) => (by447(r % k.racers) ? Array<number>(k.rounds).fill(Math.floor(r / k.racers)) : []));
  return { owners: k.owners, keyPackagesPerOwner: k.m, requests, notes: 0 };
}

/** The owner's own query: what is stored, consuming nothing (kp-req-owner); undefined when it got no answer. */
async function storedOf(rt: LoadRuntime, url: string, race: Race, timeoutMs: number): Promise<NostrEvent[] | undefined> {
  const sock = await authedSocket(rt, url, race.ownerSecret, timeoutMs);
  try {
    const res = answered(rt, await query(rt, sock, subId('contend-owner'), [{ kinds: [KIND.keyPackage], authors: [race.owner] }], timeoutMs));
    return res === undefined || res.closed !== undefined ? undefined : res.events;
  } finally {
    await sock.close();
  }
}

export function contendPlan(s: Settings, fixture: Fixture): Plan<ContendData> {
  const { m, racers: racersCount, rounds, owners } = contendKnobs(s);
  const d = maxDuration(s, 'contend', '60s', 'ROUNDS rounds of racing');
  const timeoutMs = replyTimeout(s);

  async function openRacer(rt: LoadRuntime, data: ContendData, race: Race, i: number): Promise<Racer> {
    const actor = race.racers[i] as FixtureActor;
    const sock = await authedSocket(rt, data.url, actor.secret, timeoutMs);
    if (!by447(i)) return { sock, actor, inbox: undefined };
    const inbox = subId('contend-inbox');
    if (!(await openInbox(sock, inbox, { kinds: [KIND.keyPackage], authors: [race.owner] }, timeoutMs))) throw new Error('the relay refused the 447 inbox subscription');
    return { sock, actor, inbox };
  }

  /** One round: every racer asks at once; resolves to what each received (undefined: no answer). */
  function fire(rt: LoadRuntime, data: ContendData, race: Race, racers: Racer[], round: number): Promise<(NostrEvent[] | undefined)[]> {
    // Ready before any is sent (pre-signed, without n: the relay's max_per_query; signed here only past the fixture), so the relay sees them together.
    const requests = racers.map((r) => (r.inbox === undefined ? undefined : (preSigned(fixture, r.actor, round, race.owner) ?? keyPackageRequest(rt, r.actor.secret, race.owner))));
    const pending = racers.map((r, i) => {
      const request = requests[i];
      if (request === undefined || r.inbox === undefined) {
        return query(rt, r.sock, subId('contend-req'), [{ kinds: [KIND.keyPackage], authors: [race.owner], limit: data.maxPerQuery }], timeoutMs).then((res) => {
          if (res !== undefined) rt.add(LATENCY.req.name, res.ms);
          if (res?.closed !== undefined) rt.add(M.refused.name, 1);
          return res?.events;
        });
      }
      return request447(rt, r.sock, r.inbox, request, timeoutMs).then((res) => {
        if (res !== undefined) rt.add(LATENCY.request447.name, res.ms);
        if (res !== undefined && !res.ok) rt.add(M.refused.name, 1);
        return res?.deliveries;
      });
    });
    return Promise.all(pending);
  }

  const run = guarded<ContendData>(async (rt, data, it) => {
    const race = data.races[it.iteration];
    if (race == null) throw new Error(`no owner for racing VU ${it.iteration + 1}: this instance holds ${data.races.length} (OWNERS must split evenly over the instances)`);
    const published = new Map(race.keyPackages.map((kp) => [kp.id, kp]));
    const lastId = race.keyPackages[race.keyPackages.length - 1]?.id;
    const counts = new Map<string, number>();
    let altered = 0;
    const racers: Racer[] = [];
    try {
      // Keep every socket that opened, even if another failed: under k6 an open socket keeps the iteration alive.
      const opened = await Promise.all(Array.from({ length: racersCount }, (_, i) => openRacer(rt, data, race, i).then((r) => void racers.push(r), (err: unknown) => err)));
      const failure = opened.find((x) => x !== undefined);
      if (failure !== undefined) throw failure;
      for (let round = 0; round < rounds && Date.now() < it.deadline; round++) {
        const received = await fire(rt, data, race, racers, round);
        let progress = false;
        for (const events of received) {
          if (answered(rt, events) === undefined) continue;
          rt.add(M.checked.name, 1);
          for (const e of events ?? []) {
            const original = published.get(e.id);
            if (original === undefined || !sameEvent(original, e)) altered += 1;
            counts.set(e.id, (counts.get(e.id) ?? 0) + 1);
            rt.record(FACT.handout(e.id));
            if (e.id !== lastId) progress = true;
          }
        }
        // Only the last resort (or nothing) came back: the rest is gone.
        if (!progress) break;
      }
    } finally {
      await Promise.all(racers.map((r) => r.sock.close()));
    }
    let nonLast = 0;
    let duplicates = 0;
    let distinct = 0;
    for (const [id, n] of counts) {
      if (id === lastId || !published.has(id)) continue;
      nonLast += n;
      duplicates += n - 1;
      distinct += 1;
    }
    // Add even zeros, so every counter shows in the summary.
    rt.add(M.nonLast.name, nonLast);
    rt.add(M.duplicates.name, duplicates);
    rt.add(M.distinct.name, distinct);
    rt.add(M.lastResort.name, lastId === undefined ? 0 : (counts.get(lastId) ?? 0));
    rt.add(M.altered.name, altered);
    if (duplicates > 0) rt.log(`contend: ${duplicates} duplicate hand-out(s) of non-last KeyPackages (kp-handout-exactly-once)`);
    // What the owner kept, for the merge of a split test (teardown judges this instance's owners).
    const left = await storedOf(rt, data.url, race, timeoutMs);
    if (left !== undefined) {
      rt.record(FACT.inventory(race.owner, left.length));
      for (const e of left) rt.record(FACT.left(race.owner, e.id));
    }
  });

  return {
    roles: [{ name: 'racers', executor: { executor: 'per-vu-iterations', vus: owners, iterations: 1, maxDuration: d.text }, durationMs: d.ms, run }],
    metrics: [M.checked, M.nonLast, M.duplicates, M.distinct, M.lastResort, M.altered, M.leftOne, M.refused, LATENCY.req, LATENCY.request447, LATENCY.publish, OPS_FAILED, ...RELAY_ACCESS_METRICS],
    work: [M.checked.name],
    thresholds: {
      ...workThresholds([M.checked.name]),
      [M.nonLast.name]: [`count<=${owners * (m - 1)}`],
      [M.duplicates.name]: ['count==0'],
      [M.altered.name]: ['count==0'],
      [M.leftOne.name]: ['rate==1'],
      [OPS_FAILED.name]: ['rate<0.01'],
      ...latencyThresholds(s, [LATENCY.req.name, LATENCY.request447.name]),
    },
    settings: { KPS: m, RACERS: racersCount, ROUNDS: rounds, OWNERS: owners, MAX_DURATION: d.text },
    setupTimeout: '120s',
    async setup(rt, instance) {
      const nip11 = await fetchNip11(rt, s.url, timeoutMs);
      const maxPerQuery = int(s, 'MAX_PER_QUERY', nip11?.keypackages?.max_per_query ?? 2, 1);
      const [a, b] = shareOf(owners, 'owners (OWNERS)', instance);
      needAtLeast(setOf(fixture.owners, fixture.sets, 0).length, owners, 'owners');
      needAtLeast(setOf(fixture.owners, fixture.sets, 0)[0]?.count ?? 0, m, 'KeyPackages per owner');
      needAtLeast(setOf(fixture.requesters, fixture.sets, 0).length, owners * racersCount, 'racers');
      // Each owner's first M, oldest first by created_at: the array order is the hand-out order (kp-handout-order).
      const ownersOf = (set: number): FixtureActor[] => setOf(fixture.owners, fixture.sets, set).slice(a, b);
      const set = await withSocket(rt, s.url, timeoutMs, (sock) => claimSet(rt, sock, fixture, (k) => ownersOf(k).flatMap((o) => keyPackagesOf(fixture, o, m)), timeoutMs));
      const requesters = setOf(fixture.requesters, fixture.sets, set);
      const races = ownersOf(set).map((o, j) => ({ ownerSecret: o.secret, owner: o.pubkey, keyPackages: keyPackagesOf(fixture, o, m), racers: requesters.slice((a + j) * racersCount, (a + j + 1) * racersCount) }));
      return { url: s.url, maxPerQuery, share: { instance, fixture: fixture.createdAt, set }, races };
    },
    async teardown(rt, data) {
      for (const race of data.races) {
        const left = await storedOf(rt, data.url, race, timeoutMs);
        const lastId = race.keyPackages[race.keyPackages.length - 1]?.id;
        const ok = left !== undefined && left.length === 1 && left[0]?.id === lastId;
        rt.add(M.leftOne.name, ok);
        if (!ok) {
          const what = left === undefined ? 'no answer' : `${left.length} stored (${left.map((e) => (e.id === lastId ? 'the last' : e.id.slice(0, 8))).join(', ') || 'none'})`;
          rt.log(`contend teardown: expected exactly the last KeyPackage of ${race.owner.slice(0, 8)} left, found ${what} (kp-handout-last-resort)`);
        }
      }
    },
    facts: (data) => [
      ...FACT.share(data.share),
      ...data.races.flatMap((r) => [
        FACT.owner(r.owner),
        ...r.racers.map((x) => FACT.requester(x.pubkey)),
        ...r.keyPackages.map((kp, i) => FACT.keyPackage(r.owner, kp.id, i === r.keyPackages.length - 1)),
      ]),
    ],
    notes(values) {
      const v = (name: string): number => values[name]?.count ?? 0;
      const notes = [
        `${racersCount} racers (half REQ, half kind 447) against ${m} KeyPackages per owner${owners === 1 ? '' : ` (${owners} owners in the whole test)`}: ${v(M.nonLast.name)} non-last hand-outs (${v(M.distinct.name)} distinct, ${v(M.duplicates.name)} duplicates), the last one handed out ${v(M.lastResort.name)} times`,
      ];
      if (v(M.refused.name) > 0) notes.push(`${v(M.refused.name)} racer queries were refused (${PREFIX.rateLimited}: or other)`);
      if ((values[M.leftOne.name]?.rate ?? 0) < 1) notes.push('the owner did not find exactly the last KeyPackage left (kp-handout-last-resort): see the log');
      return notes;
    },
  };
}

export const contendScenario: Scenario = {
  name: 'contend',
  description: 'Many requesters race by REQ and by kind 447 for an owner’s KeyPackages: each non-last one handed out at most once, the last one kept.',
  plan: contendPlan,
};
