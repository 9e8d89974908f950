/**
 * Makes the pre-made events of core/fixture.ts in Node: genuine MLS
 * KeyPackages (fixtures/events.ts, 2–4 ms each here), kind 447 requests
 * and kind 1 notes signed with nostr-wasm. Into the k6 bundles at build time,
 * fresh per run for `kpsuite load` (either driver), or into a file for a
 * plain `k6 run -e FIXTURE=file`:
 *
 *   node dist/load/node/fixture.js <scenario> <file> [NAME=value ...]
 *
 * For a test split into n instances give the run's knobs for the whole test
 * (OWNERS, REQUESTERS, MEMBERS… in multiples of n) and INSTANCES=n, which
 * sizes the publish pool with a batch of slack per instance. SETS=k makes
 * k runs' worth (default 1; publish takes all of it as one pool).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { keyPackage } from '../../fixtures/events.js';
import { newKeys, secretHex, sign, type Keys } from '../../protocol/crypto.js';
import { KIND, TAG } from '../../protocol/profile.js';
import { toFixtureFile, type Fixture, type FixtureActor, type FixtureFile, type FixtureNeeds } from '../core/fixture.js';
import { fetchNip11, settleLimits } from '../core/nip11.js';
import { TEXT_NOTE_KIND } from '../core/nostr.js';
import type { NostrEvent } from '../core/runtime.js';
import { isScenarioName, type ScenarioName } from '../core/scenario.js';
import { int, settingsFrom, type Settings } from '../core/settings.js';
import { fixtureNeeds } from '../scenarios/index.js';
import { MetricStore } from './metrics.js';
import { NodeRuntime } from './runtime.js';

/** Marks the load suite's KeyPackages in relay logs (NIP-EE's optional client tag). */
const CLIENT_TAG = ['client', 'kpsuite-load'];

function actor(keys: Keys, first: number, count: number): FixtureActor {
  return { secret: secretHex(keys), pubkey: keys.pubkey, first, count };
}

/** `needs`, made now; created_at lies a minute or more in the past, oldest first per owner. */
export async function makeFixture(needs: FixtureNeeds, now = Date.now()): Promise<Fixture> {
  const seconds = Math.floor(now / 1000) - 60;
  const sets = needs.sets ?? 1;
  const per = needs.keyPackagesPerOwner;
  const owners: FixtureActor[] = [];
  const keyPackages: NostrEvent[] = [];
  for (let o = 0; o < sets * needs.owners; o++) {
    const keys = newKeys();
    owners.push(actor(keys, keyPackages.length, per));
    for (let i = 0; i < per; i++) keyPackages.push(await keyPackage(keys, { createdAt: seconds - per + i, extraTags: [CLIENT_TAG] }));
  }
  const requesters: FixtureActor[] = [];
  const requests: NostrEvent[] = [];
  for (let set = 0; set < sets; set++) {
    for (const targets of needs.requests) {
      const keys = newKeys();
      requesters.push(actor(keys, requests.length, targets.length));
      // No n tag: the relay's max_per_query (kp-447-form), whatever it advertises. Distinct created_at, distinct events.
      targets.forEach((o, k) => {
        const owner = owners[set * needs.owners + o]?.pubkey ?? '';
        requests.push(sign({ kind: KIND.keyPackageRequest, created_at: seconds - k, tags: [[TAG.pubkey, owner]], content: '' }, keys));
      });
    }
  }
  // A few dozen authors, as a busy feed has.
  const authors = Array.from({ length: Math.min(50, Math.max(1, needs.notes)) }, () => newKeys());
  const notes = Array.from({ length: needs.notes }, (_, i) =>
    sign({ kind: TEXT_NOTE_KIND, created_at: seconds - (i % 600), tags: [], content: `kpsuite load note ${i} ${randomBytes(8).toString('hex')}` }, authors[i % authors.length] as Keys),
  );
  return { createdAt: now, sets, owners, keyPackages, requesters, requests, notes };
}

/**
 * The fixture one run of `name` with these settings uses. `rate` is sized by
 * the limits the relay at RELAY_URL advertises (overridden by the settings;
 * the profile's defaults when it cannot be asked).
 */
export async function fixtureFor(name: ScenarioName, s: Settings): Promise<Fixture> {
  const limits = name === 'rate' ? settleLimits(await fetchNip11(new NodeRuntime(new MetricStore()), s.url, 5000), s) : undefined;
  // SETS: runs' worth (each run claims the first set the relay has not seen); one unless asked.
  return makeFixture({ ...fixtureNeeds(name, s, limits), sets: int(s, 'SETS', 1, 1, 20) });
}

export function writeFixture(path: string, fixture: Fixture): void {
  writeFileSync(path, JSON.stringify(toFixtureFile(fixture)));
}

/** A fixture file (writeFixture's, or this script's) as the Node driver uses it. */
export function readFixture(path: string): Fixture {
  const f = JSON.parse(readFileSync(path, 'utf8')) as Partial<FixtureFile>;
  if (!Array.isArray(f.owners) || !Array.isArray(f.keyPackages) || !Array.isArray(f.requesters) || !Array.isArray(f.requests) || !Array.isArray(f.notes)) {
    throw new Error(`${path} is not a load fixture (node dist/load/node/fixture.js makes one)`);
  }
  return f as FixtureFile;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [name, file, ...knobs] = process.argv.slice(2);
  if (name === undefined || !isScenarioName(name) || file === undefined) {
    process.stderr.write('usage: node dist/load/node/fixture.js <scenario> <file> [NAME=value ...]\n');
    process.exit(2);
  }
  const env = Object.fromEntries(knobs.map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
  const fixture = await fixtureFor(name, settingsFrom(env));
  writeFixture(file, fixture);
  process.stdout.write(`${file}: ${fixture.keyPackages.length} KeyPackages, ${fixture.requests.length} kind 447 requests, ${fixture.notes.length} notes; k6 run -e FIXTURE=${file} …\n`);
}
