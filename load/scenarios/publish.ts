/**
 * publish: many owners publish KeyPackages at a set arrival rate.
 * Invariant: every valid KeyPackage gets `OK true` (kp-pub-accept).
 * Each iteration is one connection publishing BATCH KeyPackages from the
 * pre-made pool (genuine, made in Node), one after another.
 */
import { FixtureTooSmallError, pick, type Fixture, type FixtureNeeds } from '../core/fixture.js';
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
}

export const PUBLISH_DEFAULTS = { rate: 10, duration: '30s', batch: 5 };

export function publishPlan(s: Settings, fixture: Fixture): Plan<PublishData> {
  const rate = num(s, 'RATE', PUBLISH_DEFAULTS.rate, 0.01, 10_000);
  const d = duration(s, 'DURATION', PUBLISH_DEFAULTS.duration);
  const batch = int(s, 'BATCH', PUBLISH_DEFAULTS.batch, 1, 100);
  const timeoutMs = replyTimeout(s);
  const pool = fixture.keyPackages;
  const run = guarded<PublishData>(async (rt, data, it) => {
    await withSocket(rt, data.url, timeoutMs, async (sock) => {
      for (let j = 0; j < batch; j++) {
        // Past the pool it wraps: a relay answers "duplicate:", counted apart.
        const event = pick(pool, it.iteration * batch + j);
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
    setup: () => (pool.length > 0 ? Promise.resolve({ url: s.url }) : Promise.reject(new FixtureTooSmallError('the fixture holds no KeyPackages to publish'))),
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

/** The pool as owners of PER_OWNER KeyPackages, at least publishPoolSize (at most `max`). */
export function publishNeeds(s: Settings, max: number): FixtureNeeds {
  return { owners: Math.ceil(Math.min(max, publishPoolSize(s)) / PER_OWNER), keyPackagesPerOwner: PER_OWNER, requests: [], notes: 0 };
}
