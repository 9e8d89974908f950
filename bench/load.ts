/**
 * Load figures for the reference relay on this machine, with the load
 * suite's Node driver, each relay in its own process:
 *   - KeyPackage hand-outs per second at saturation (REQ, 2 per query), p50/p99;
 *   - kind 443 publishes per second (genuine MLS KeyPackages, every signature
 *     checked), with the relay's MLS checks (kp-pub-mls) on and off in
 *     alternate rounds: the difference is what those checks cost per publish;
 *   - a plain NIP-01 mix (kind 1 publish and REQ, alternating), p50/p99,
 *     and the same mix against @nostr-relay/core 0.0.40 as a ratio.
 * A KeyPackage takes a few ms to make, so each KeyPackage pool is made once
 * and replayed on a fresh relay every round: every round does the same work,
 * and ends after SECONDS or when its pool is used up.
 * Each figure is the median of ROUNDS timed rounds; one more round per
 * phase runs under the relay's CPU profiler to say what limits it.
 * Then what the load suite's Node driver itself can generate, with its CPU
 * and the relay's (bench/load/driver.ts).
 * Writes bench/results/load.json and load.md, load-driver.json and .md.
 * `node dist/bench/load.js [--seconds 4] [--rounds 3] [--publishes 4000] [--owners 2000]`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { newKeys, sign, type Keys } from '../protocol/crypto.js';
import { keyPackages } from '../fixtures/events.js';
import type { NostrEvent } from '../protocol/messages.js';
import { authenticate, publish, query, subId, TEXT_NOTE_KIND } from '../load/core/nostr.js';
import { KIND } from '../protocol/profile.js';
import type { Socket } from '../load/core/runtime.js';
import { closedLoop, spawnRelay, type Measured, type RelayChild, type RelayKind, type Step } from './load/drive.js';
import { NOSTR_RELAY_VERSION } from './load/nostr-relay.js';
import { summarizeProfile, type Breakdown } from './load/profile.js';
import { driverMarkdown, measureDriver, measureStub } from './load/driver.js';
import { MetricStore } from '../load/node/metrics.js';
import { NodeRuntime } from '../load/node/runtime.js';
import { packageRoot } from '../package-info.js';
import { machine, median, writeResult } from './machine.js';
import { defaultVerifyThreads } from '../reference-relay/config.js';

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  return Number.isFinite(v) && v > 0 ? v : fallback;
};

const SECONDS = arg('seconds', 4);
const ROUNDS = arg('rounds', 3);
/** KeyPackages a publish round sends at most (about SECONDS at the rate of a relay without MLS checks). */
const PUBLISHES = arg('publishes', 4000);
/** Owners a hand-out round asks once each at most (3 KeyPackages each, 2 handed out). */
const OWNERS = arg('owners', 2000);
/** Connections per phase: enough to keep a one-threaded relay busy. */
const CONNECTIONS = arg('connections', 16);
const TIMEOUT_MS = 10_000;

const rt = new NodeRuntime(new MetricStore());
const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

async function sockets(url: string, n: number, auth: boolean): Promise<Socket[]> {
  return Promise.all(
    Array.from({ length: n }, async () => {
      const sock = await rt.connect(url, TIMEOUT_MS);
      if (auth && !(await authenticate(rt, sock, url, rt.signer.newSecretKey(), TIMEOUT_MS))) throw new Error('AUTH refused');
      return sock;
    }),
  );
}

async function closeAll(socks: Socket[]): Promise<void> {
  await Promise.all(socks.map((s) => s.close()));
}

/** Publishes events from a shared cursor, closed loop; `accepted` collects what got OK true. */
export async function publishPhase(url: string, events: readonly NostrEvent[], seconds: number, accepted: NostrEvent[] = []): Promise<Measured> {
  const socks = await sockets(url, CONNECTIONS, false);
  let next = 0;
  const steps: Step[] = socks.map((sock) => async () => {
    const e = events[next++];
    if (e === undefined) return 'done';
    const r = await publish(rt, sock, e, TIMEOUT_MS);
    if (r?.ok) accepted.push(e);
    return r === undefined || !r.ok ? undefined : { ms: r.ms, items: 1 };
  });
  const m = await closedLoop(steps, seconds);
  await closeAll(socks);
  return m;
}

/** Each owner asked once by REQ (limit 2): 2 of its 3 KeyPackages handed out and consumed. */
async function handoutPhase(url: string, owners: readonly string[], seconds: number): Promise<Measured> {
  const socks = await sockets(url, CONNECTIONS, true);
  let next = 0;
  const steps: Step[] = socks.map((sock) => async () => {
    const owner = owners[next++];
    if (owner === undefined) return 'done';
    const r = await query(rt, sock, subId('bench'), [{ kinds: [KIND.keyPackage], authors: [owner], limit: 2 }], TIMEOUT_MS);
    return r === undefined || r.closed !== undefined ? undefined : { ms: r.ms, items: r.events.length };
  });
  const m = await closedLoop(steps, seconds);
  await closeAll(socks);
  return m;
}

/** Alternating kind 1 publish and REQ (one author's 10 newest): what every Nostr relay does all day. */
export async function mixPhase(url: string, notes: readonly NostrEvent[], authors: readonly string[], seconds: number): Promise<Measured> {
  const socks = await sockets(url, CONNECTIONS, false);
  let next = 0;
  let turn = 0;
  const steps: Step[] = socks.map((sock) => async () => {
    if (turn++ % 2 === 0) {
      const e = notes[next++];
      if (e === undefined) return 'done';
      const r = await publish(rt, sock, e, TIMEOUT_MS);
      return r === undefined || !r.ok ? undefined : { ms: r.ms, items: 1 };
    }
    const author = authors[turn % authors.length] ?? '';
    const r = await query(rt, sock, subId('mix'), [{ kinds: [TEXT_NOTE_KIND], authors: [author], limit: 10 }], TIMEOUT_MS);
    return r === undefined || r.closed !== undefined ? undefined : { ms: r.ms, items: 1 };
  });
  const m = await closedLoop(steps, seconds);
  await closeAll(socks);
  return m;
}

export interface Figure {
  perSecondMedian: number;
  /** Requests per second (hand-outs: REQs; each carries up to 2 KeyPackages). */
  requestsPerSecondMedian: number;
  p50MsMedian: number;
  p99MsMedian: number;
  errors: number;
  rounds: Measured[];
  profile?: Breakdown;
}

export function figure(rounds: Measured[], items = true): Figure {
  const r2 = (x: number): number => Math.round(x * 100) / 100;
  return {
    perSecondMedian: Math.round(median(rounds.map((r) => (items ? r.itemsPerSecond : r.opsPerSecond)))),
    requestsPerSecondMedian: Math.round(median(rounds.map((r) => r.opsPerSecond))),
    p50MsMedian: r2(median(rounds.map((r) => r.p50))),
    p99MsMedian: r2(median(rounds.map((r) => r.p99))),
    errors: rounds.reduce((s, r) => s + r.errors, 0),
    rounds: rounds.map((r) => ({ ...r, opsPerSecond: Math.round(r.opsPerSecond), itemsPerSecond: Math.round(r.itemsPerSecond), p50: r2(r.p50), p99: r2(r.p99), seconds: r2(r.seconds) })),
  };
}

/**
 * Runs `phase` ROUNDS times on each relay kind, alternating, each time on a
 * fresh relay after `prepare` (untimed), then once more per kind under the
 * relay's profiler.
 */
async function measured<K extends RelayKind>(kinds: readonly K[], name: string, work: string, phase: (url: string) => Promise<Measured>, prepare: (url: string) => Promise<void> = async () => undefined): Promise<Record<K, Figure>> {
  const rounds = new Map<K, Measured[]>(kinds.map((k) => [k, []]));
  const profiles = new Map<K, Breakdown>();
  for (let i = 0; i <= ROUNDS; i++) {
    for (const kind of kinds) {
      const child = await spawnRelay(kind, mkdtempSync(join(work, `${name}-`)));
      try {
        await prepare(child.url);
        if (i < ROUNDS) {
          rounds.get(kind)!.push(await phase(child.url));
          log(`  ${name} (${kind}) round ${i + 1}: ${Math.round(rounds.get(kind)!.at(-1)?.itemsPerSecond ?? 0)}/s`);
          continue;
        }
        const file = join(work, `${name}-${kind}.cpuprofile`);
        await child.startProfile();
        await phase(child.url);
        await child.stopProfile(file);
        profiles.set(kind, summarizeProfile(file));
      } finally {
        await child.stop();
      }
    }
  }
  return Object.fromEntries(kinds.map((k) => [k, { ...figure(rounds.get(k)!), profile: profiles.get(k) }])) as Record<K, Figure>;
}

/** Genuine KeyPackages, 3 per owner, oldest first per owner. */
export async function keyPackagePool(owners: number): Promise<{ events: NostrEvent[]; owners: string[] }> {
  const keys = Array.from({ length: owners }, () => newKeys());
  const events: NostrEvent[] = [];
  for (const k of keys) events.push(...(await keyPackages(k, 3)));
  return { events, owners: keys.map((k) => k.pubkey) };
}

export function notePool(n: number, authors: Keys[]): NostrEvent[] {
  const now = Math.floor(Date.now() / 1000);
  return Array.from({ length: n }, (_, i) => sign({ kind: TEXT_NOTE_KIND, created_at: now - (i % 3600), tags: [], content: `bench note ${i} ${Math.random()}` }, authors[i % authors.length] as Keys));
}

/** What the relay's MLS checks cost, from the alternate publish rounds (the relay is the bottleneck in both). */
function mlsCost(on: Figure, off: Figure): { relayMsPerPublish: number; throughputLossPercent: number; p50MsOn: number; p50MsOff: number } {
  const r2 = (x: number): number => Math.round(x * 100) / 100;
  return {
    relayMsPerPublish: r2(1000 / Math.max(1, on.perSecondMedian) - 1000 / Math.max(1, off.perSecondMedian)),
    throughputLossPercent: Math.round(100 * (1 - on.perSecondMedian / Math.max(1, off.perSecondMedian))),
    p50MsOn: on.p50MsMedian,
    p50MsOff: off.p50MsMedian,
  };
}

async function main(): Promise<void> {
  const root = packageRoot();
  const work = mkdtempSync(join(tmpdir(), 'kpsuite-bench-load-'));
  // The machine may be shared: its load before and after says how much to trust the figures.
  const loadBefore = loadavg().map((x) => x.toFixed(2));
  try {
    // 1. KeyPackage publishes (MLS checks on and off) and hand-outs, from pools made once.
    log(`making ${Math.ceil(PUBLISHES / 3) * 3 + OWNERS * 3} genuine KeyPackages…`);
    const made = Date.now();
    const pubPool = (await keyPackagePool(Math.ceil(PUBLISHES / 3))).events;
    const handPool = await keyPackagePool(OWNERS);
    const makingSeconds = (Date.now() - made) / 1000;
    log(`  ${makingSeconds.toFixed(1)} s`);
    log('443 publishes (verification threads; checks on the main thread; MLS checks off):');
    const publishes = await measured(['reference', 'reference-main-thread', 'reference-no-mls'], 'publish-443', work, (url) => publishPhase(url, pubPool, SECONDS));
    log('KeyPackage hand-outs:');
    const stock = async (url: string): Promise<void> => void (await publishPhase(url, handPool.events, 600));
    const handouts = (await measured(['reference'], 'handout', work, (url) => handoutPhase(url, handPool.owners, SECONDS), stock)).reference;

    // 2. The NIP-01 mix on a fresh reference relay and on @nostr-relay, alternating rounds.
    const authors = Array.from({ length: 50 }, () => newKeys());
    const authorKeys = authors.map((a) => a.pubkey);
    const ref2 = await spawnRelay('reference', mkdtempSync(join(work, 'mix-ref-')));
    const mixRate = (await mixPhase(ref2.url, notePool(2000, authors), authorKeys, 1)).opsPerSecond;
    const mixNotes = (): NostrEvent[] => notePool(Math.ceil((mixRate * SECONDS * 1.5) / 2) + 400, authors);
    // @nostr-relay/* are devDependencies: relay-process.js loads them from the clone's node_modules.
    const other = await spawnRelay('nostr-relay', mkdtempSync(join(work, 'mix-nr-')), root).catch((err: Error) => err);
    const mixRef: Measured[] = [];
    const mixOther: Measured[] = [];
    log('NIP-01 mix (reference / @nostr-relay):');
    for (let i = 0; i < ROUNDS; i++) {
      mixRef.push(await mixPhase(ref2.url, mixNotes(), authorKeys, SECONDS));
      if (!(other instanceof Error)) mixOther.push(await mixPhase(other.url, mixNotes(), authorKeys, SECONDS));
      log(`  round ${i + 1}: ${Math.round(mixRef.at(-1)?.opsPerSecond ?? 0)} / ${Math.round(mixOther.at(-1)?.opsPerSecond ?? 0)} ops/s`);
    }
    const profileOf = async (child: RelayChild, name: string): Promise<Breakdown> => {
      const file = join(work, `${name}.cpuprofile`);
      const notes = mixNotes(); // signed before the profiler starts
      await child.startProfile();
      await mixPhase(child.url, notes, authorKeys, SECONDS);
      await child.stopProfile(file);
      return summarizeProfile(file);
    };
    const mixReference: Figure = { ...figure(mixRef, false), profile: await profileOf(ref2, 'mix-reference') };
    await ref2.stop();
    const mixNostrRelay: Figure | { error: string } = other instanceof Error ? { error: other.message } : { ...figure(mixOther, false), profile: await profileOf(other, 'mix-nostr-relay') };
    if (!(other instanceof Error)) await other.stop();

    const mls = mlsCost(publishes.reference, publishes['reference-no-mls']);
    const result = {
      benchmark: 'load',
      when: new Date().toISOString(),
      machine: { ...machine(), loadAverageBefore: loadBefore.join(' '), loadAverageAfter: loadavg().map((x) => x.toFixed(2)).join(' ') },
      method: {
        driver: 'load/node (ws), closed loop: each connection sends its next request when the previous is answered',
        connections: CONNECTIONS,
        secondsPerRound: SECONDS,
        rounds: ROUNDS,
        figures: 'medians over rounds; p50/p99 in ms are medians of the per-round percentiles',
        relays: 'each in its own process (node), fresh SQLite file (WAL); reference relay with synchronous=FULL and rate limits raised out of the way',
        keyPackages: `genuine MLS KeyPackages (ts-mls), ${pubPool.length} for publish rounds and ${handPool.events.length} for hand-out rounds, made once in ${makingSeconds.toFixed(1)} s and replayed on a fresh relay each round (a round ends after ${SECONDS} s or when its pool is used up)`,
      },
      reference: {
        keyPackageHandouts: { ...handouts, note: 'KeyPackages handed out per second (REQ limit 2, each owner asked once: 2 consumed, 1 kept)' },
        keyPackagePublishes: { ...publishes.reference, note: 'kind 443 EVENTs answered OK true per second; every id and signature verified (nostr-wasm), MLS checks on (the default)' },
        keyPackagePublishesOnMainThread: { ...publishes['reference-main-thread'], note: 'the same, signature and MLS checks on the main thread (verifyThreads 0), in alternate rounds' },
        verificationThreads: {
          threads: defaultVerifyThreads(),
          publishesRatio: Math.round((100 * publishes.reference.perSecondMedian) / Math.max(1, publishes['reference-main-thread'].perSecondMedian)) / 100,
          note: 'kind 443 publishes per second with the default verification threads over the same with every check on the main thread',
        },
        keyPackagePublishesWithoutMlsChecks: { ...publishes['reference-no-mls'], note: 'the same, mlsChecks false, in alternate rounds' },
        mlsChecks: { ...mls, note: 'relay time per publish the MLS checks (kp-pub-mls) add: 1000/rate with them minus 1000/rate without, medians of the same run' },
        nip01Mix: { ...mixReference, note: 'requests per second, half kind 1 EVENT, half REQ {kinds:[1],authors:[one],limit:10}' },
      },
      nostrRelay: { package: `@nostr-relay/core@${NOSTR_RELAY_VERSION} + event-repository-sqlite + validator, in a ws server`, nip01Mix: mixNostrRelay },
      ratio: 'error' in mixNostrRelay ? null : { referenceOverNostrRelayMix: Math.round((100 * mixReference.perSecondMedian) / Math.max(1, mixNostrRelay.perSecondMedian)) / 100 },
    };
    const text = markdown(result.machine, handouts, publishes.reference, publishes['reference-main-thread'], publishes['reference-no-mls'], mixReference, mixNostrRelay);
    writeResult('load.json', `${JSON.stringify(result, null, 2)}\n`);
    writeResult('load.md', text);
    process.stdout.write(text);
    log('Node load driver capacity (groups):');
    const driver = await measureDriver(SECONDS, [20, 40, 80, 160], log);
    log('Node load driver capacity against a stub relay (1 and 2 driver processes):');
    driver.stub = await measureStub(SECONDS, [1, 2], 8, log);
    writeResult('load-driver.json', `${JSON.stringify(driver, null, 2)}\n`);
    writeResult('load-driver.md', driverMarkdown(driver));
    process.stdout.write(driverMarkdown(driver));
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function markdown(m: Record<string, string | number>, handouts: Figure, publishes: Figure, mainThread: Figure, noMls: Figure, mixRef: Figure, mixOther: Figure | { error: string }): string {
  const mls = mlsCost(publishes, noMls);
  const row = (what: string, f: Figure, unit: string): string => `| ${what} | ${f.perSecondMedian} ${unit}/s | ${f.p50MsMedian} | ${f.p99MsMedian} | ${f.errors} |`;
  const limits = (name: string, f: Figure | { error: string }): string => {
    if ('error' in f || f.profile === undefined) return '';
    const shares = Object.entries(f.profile.shares)
      .filter(([k, v]) => k !== 'idle' && v > 0)
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `${k} ${v}%`)
      .join(', ');
    return `- ${name}: ${shares} of busy CPU; thread idle ${f.profile.idlePercent}% of the phase`;
  };
  return [
    '# Load bench',
    '',
    `${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.os}, Node ${m.node}; load average ${m.loadAverageBefore} before, ${m.loadAverageAfter} after (1, 5, 15 min).`,
    `Medians of ${ROUNDS} rounds of up to ${SECONDS} s (KeyPackage rounds: on a fresh relay each, until their pool of genuine KeyPackages is used up), ${CONNECTIONS} connections, closed loop; relay and driver in separate processes.`,
    '',
    '| reference relay | rate | p50 ms | p99 ms | errors |',
    '| --- | --- | --- | --- | --- |',
    row('KeyPackage hand-outs (REQ, limit 2)', handouts, 'KeyPackages'),
    row(`kind 443 publishes (signatures and MLS checked on ${defaultVerifyThreads()} verification thread(s))`, publishes, 'events'),
    row('kind 443 publishes, checks on the main thread', mainThread, 'events'),
    row('kind 443 publishes, MLS checks off', noMls, 'events'),
    row('NIP-01 mix (kind 1 EVENT / REQ)', mixRef, 'requests'),
    '',
    `MLS checks (kp-pub-mls) cost ${mls.relayMsPerPublish} ms of relay time per publish: ${mls.throughputLossPercent}% fewer publishes per second, p50 ${mls.p50MsOn} ms against ${mls.p50MsOff} ms (alternate rounds, fresh relay each, the same genuine KeyPackages).`,
    '',
    'error' in mixOther
      ? `@nostr-relay/core ${NOSTR_RELAY_VERSION}: not measured (${mixOther.error})`
      : [
          `| @nostr-relay/core ${NOSTR_RELAY_VERSION} | rate | p50 ms | p99 ms | errors |`,
          '| --- | --- | --- | --- | --- |',
          row('NIP-01 mix (kind 1 EVENT / REQ)', mixOther, 'requests'),
          '',
          `Reference ÷ @nostr-relay on the NIP-01 mix: ${Math.round((100 * mixRef.perSecondMedian) / Math.max(1, mixOther.perSecondMedian)) / 100}`,
        ].join('\n'),
    '',
    'Where the relay thread spent its time (V8 CPU profile of one extra round):',
    '',
    limits('hand-outs', handouts),
    limits('443 publishes', publishes),
    limits('443 publishes, checks on the main thread', mainThread),
    limits('443 publishes, MLS checks off', noMls),
    limits('NIP-01 mix, reference', mixRef),
    limits('NIP-01 mix, @nostr-relay', mixOther),
    '',
  ].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`bench/load: ${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
