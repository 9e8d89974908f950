/**
 * publish: many owners publish KeyPackages at a set arrival rate.
 * Invariant: every valid KeyPackage gets `OK true` (kp-pub-accept).
 * Each iteration is one connection publishing BATCH KeyPackages from the
 * pre-made pool (genuine, made in Node), one after another. A split test
 * gives each instance whole batches of the pool (core/instance.ts).
 */
import { FixtureTooSmallError, shareOf, type Fixture, type FixtureNeeds } from '../core/fixture.js';
import { FACT, type Share } from '../core/ledger.js';
import { publish } from '../core/nostr.js';
import { LATENCY, OPS_FAILED, RELAY_ACCESS_METRICS, latencyThresholds, workThresholds, type Plan, type Scenario } from '../core/scenario.js';
import { duration, int, num, type Settings } from '../core/settings.js';
import { answered, arrivalRate, guarded, maxArrivals, replyTimeout, vusFor, withSocket } from './common.js';

const M = {
  accepted: { name: 'kp_publish_accepted', kind: 'rate', help: 'share of KeyPackage EVENTs answered OK true' },
  checked: { name: 'publish_checked', kind: 'counter', help: 'KeyPackage EVENTs whose OK was checked (the work done)' },
  duplicates: { name: 'kp_publish_duplicates', kind: 'counter', help: 'OK true "duplicate:" answers (the pool wrapped or was published before)' },
} as const;

export interface PublishData {
  url: string;
  share: Share;
  /** This instance's part of the pool: keyPackages [start, end), whole batches. */
  pool: [number, number];
}

export const PUBLISH_DEFAULTS = { rate: 10, duration: '30s', batch: 5 };

export function publishPlan(s: Settings, fixture: Fixture): Plan<PublishData> {
  const rate = num(s, 'RATE', PUBLISH_DEFAULTS.rate, 0.01, 10_000);
  const d = duration(s, 'DURATION', PUBLISH_DEFAULTS.duration);
  const batch = int(s, 'BATCH', PUBLISH_DEFAULTS.batch, 1, 100);
  const timeoutMs = replyTimeout(s);
  const pool = fixture.keyPackages;
  const run = guarded<PublishData>(async (rt, data, it) => {
    const [start, end] = data.pool;
    await withSocket(rt, data.url, timeoutMs, async (sock) => {
      for (let j = 0; j < batch; j++) {
        // Past this instance's part it wraps: a relay answers "duplicate:", counted apart.
        const event = end > start ? pool[start + ((it.iteration * batch + j) % (end - start))] : undefined;
        if (event === undefined) return;
        const reply = answered(rt, await publish(rt, sock, event, timeoutMs));
        if (reply === undefined) return;
        rt.add(LATENCY.publish.name, reply.ms);
        rt.add(M.checked.name, 1);
        rt.add(M.accepted.name, reply.ok);
        if (reply.ok && reply.message.startsWith('duplicate:')) rt.add(M.duplicates.name, 1);
        if (!reply.ok) rt.log(`publish refused: ${reply.message}`);
      }
    });
  });
  return {
    roles: [
      {
        name: 'publishers',
        executor: { executor: 'constant-arrival-rate', ...arrivalRate(rate), duration: d.text, ...vusFor(rate, 1 + batch * 0.05) },
        durationMs: d.ms,
        run,
      },
    ],
    metrics: [M.checked, M.accepted, M.duplicates, LATENCY.publish, OPS_FAILED, ...RELAY_ACCESS_METRICS],
    work: [M.checked.name],
    thresholds: {
      ...workThresholds([M.checked.name]),
      [M.accepted.name]: ['rate==1'],
      [OPS_FAILED.name]: ['rate<0.01'],
      ...latencyThresholds(s, [LATENCY.publish.name]),
    },
    settings: { RATE: rate, DURATION: d.text, BATCH: batch, POOL: pool.length },
    setupTimeout: '60s',
    async setup(_rt, instance) {
      if (pool.length === 0) throw new FixtureTooSmallError('the fixture holds no KeyPackages to publish');
      const [a, b] = shareOf(Math.max(1, Math.floor(pool.length / batch)), 'batches of the KeyPackage pool', instance);
      return { url: s.url, share: { instance, fixture: fixture.createdAt, set: 0 }, pool: [a * batch, Math.min(pool.length, b * batch)] };
    },
    facts: (data) => [...FACT.share(data.share), FACT.range('keyPackages', data.pool[0], data.pool[1])],
    notes(values) {
      const published = values[M.checked.name]?.count ?? 0;
      const dup = values[M.duplicates.name]?.count ?? 0;
      const notes = [`${published} KeyPackages published at ${rate} connections/s × ${batch}`];
      if (dup > 0) notes.push(`${dup} were already stored (pool of ${pool.length} reused): run \`kpsuite load publish --driver k6\` or rebuild for a fresh pool`);
      return notes;
    },
  };
}

export const publishScenario: Scenario = {
  name: 'publish',
  description: 'Many owners publish KeyPackages at a set arrival rate; every one must get OK true (kp-pub-accept).',
  plan: publishPlan,
};

/** How many pre-signed KeyPackages a run with these settings may use: a batch per iteration either driver can start. */
export function publishPoolSize(s: Settings): number {
  const rate = num(s, 'RATE', PUBLISH_DEFAULTS.rate, 0.01, 10_000);
  const d = duration(s, 'DURATION', PUBLISH_DEFAULTS.duration);
  const batch = int(s, 'BATCH', PUBLISH_DEFAULTS.batch, 1, 100);
  return maxArrivals(rate, d.ms) * batch;
}

/** KeyPackages per owner in the publish pool: one default batch. */
export const PER_OWNER = 5;

/**
 * The pool as owners of PER_OWNER KeyPackages, at least publishPoolSize (at
 * most `max`), plus a batch per further instance when sized for INSTANCES:
 * each instance's part then holds a batch for every iteration it can start.
 */
export function publishNeeds(s: Settings, max: number): FixtureNeeds {
  const slack = (int(s, 'INSTANCES', 1, 1, 1000) - 1) * int(s, 'BATCH', PUBLISH_DEFAULTS.batch, 1, 100);
  return { owners: Math.ceil(Math.min(max, publishPoolSize(s) + slack) / PER_OWNER), keyPackagesPerOwner: PER_OWNER, requests: [], notes: 0 };
}
