/**
 * Load figures for the reference relay on this machine, with the load
 * suite's Node driver, each relay in its own process:
 *   - KeyPackage hand-outs per second at saturation (REQ, 2 per query), p50/p99;
 *   - kind 443 publishes per second (every signature checked), p50/p99;
 *   - a plain NIP-01 mix (kind 1 publish and REQ, alternating), p50/p99,
 *     and the same mix against @nostr-relay/core 0.0.40 as a ratio.
 * Each figure is the median of ROUNDS timed rounds; one more round per
 * phase runs under the relay's CPU profiler to say what limits it.
 * Writes bench/results/load.json and load.md. `node dist/bench/load.js [--seconds 4] [--rounds 3]`.
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
import { closedLoop, spawnRelay, type Measured, type RelayChild, type Step } from './load/drive.js';
import { ensureNostrRelay, NOSTR_RELAY_VERSION } from './load/nostr-relay.js';
import { summarizeProfile, type Breakdown } from './load/profile.js';
import { MetricStore } from '../load/node/metrics.js';
import { NodeRuntime } from '../load/node/runtime.js';
import { packageRoot } from '../package-info.js';
import { machine, median, writeResult } from './machine.js';

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  return Number.isFinite(v) && v > 0 ? v : fallback;
};

const SECONDS = arg('seconds', 4);
const ROUNDS = arg('rounds', 3);
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
async function publishPhase(url: string, events: readonly NostrEvent[], seconds: number, accepted: NostrEvent[] = []): Promise<Measured> {
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
async function mixPhase(url: string, notes: readonly NostrEvent[], authors: readonly string[], seconds: number): Promise<Measured> {
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

interface Figure {
  perSecondMedian: number;
  /** Requests per second (hand-outs: REQs; each carries up to 2 KeyPackages). */
  requestsPerSecondMedian: number;
  p50MsMedian: number;
  p99MsMedian: number;
  errors: number;
  rounds: Measured[];
  profile?: Breakdown;
}

function figure(rounds: Measured[], items = true): Figure {
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

/** Runs `phase` ROUNDS times, then once more under the child's profiler; `prepare` (untimed, unprofiled) before each. */
async function measured(child: RelayChild, name: string, profileDir: string, phase: () => Promise<Measured>, prepare: () => Promise<void> = async () => undefined): Promise<Figure> {
  const rounds: Measured[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    await prepare();
    rounds.push(await phase());
    log(`  ${name} round ${i + 1}: ${Math.round(rounds.at(-1)?.itemsPerSecond ?? 0)}/s`);
  }
  const file = join(profileDir, `${name}.cpuprofile`);
  await prepare();
  await child.startProfile();
  await phase();
  await child.stopProfile(file);
  return { ...figure(rounds), profile: summarizeProfile(file) };
}

/** Pre-signed KeyPackages, 3 per owner, oldest first per owner. */
function keyPackagePool(owners: number): { events: NostrEvent[]; owners: string[] } {
  const keys = Array.from({ length: owners }, () => newKeys());
  return { events: keys.flatMap((k) => keyPackages(k, 3)), owners: keys.map((k) => k.pubkey) };
}

function notePool(n: number, authors: Keys[]): NostrEvent[] {
  const now = Math.floor(Date.now() / 1000);
  return Array.from({ length: n }, (_, i) => sign({ kind: TEXT_NOTE_KIND, created_at: now - (i % 3600), tags: [], content: `bench note ${i} ${Math.random()}` }, authors[i % authors.length] as Keys));
}

/** A quick 1-second run to size the pre-signed pools of the timed rounds. */
async function calibrate(url: string): Promise<{ publish: number; handout: number; mix: number }> {
  const pool = keyPackagePool(800);
  const accepted: NostrEvent[] = [];
  const pub = await publishPhase(url, pool.events, 1, accepted);
  const full = pool.owners.filter((pk) => accepted.filter((e) => e.pubkey === pk).length === 3);
  const hand = await handoutPhase(url, full, 1);
  const authors = Array.from({ length: 20 }, () => newKeys());
  const mix = await mixPhase(url, notePool(2000, authors), authors.map((a) => a.pubkey), 1);
  return { publish: pub.itemsPerSecond, handout: hand.opsPerSecond, mix: mix.opsPerSecond };
}

async function main(): Promise<void> {
  const root = packageRoot();
  const work = mkdtempSync(join(tmpdir(), 'kpsuite-bench-load-'));
  const vendorDir = join(root, 'bench', '.vendor');
  log(`installing @nostr-relay ${NOSTR_RELAY_VERSION} into ${vendorDir} (once)…`);
  const installing = ensureNostrRelay(vendorDir);
  // The machine may be shared: its load before and after says how much to trust the figures.
  const loadBefore = loadavg().map((x) => x.toFixed(2));
  try {
    // 1. KeyPackage publishes and hand-outs, on one fresh reference relay.
    const ref = await spawnRelay('reference', mkdtempSync(join(work, 'ref-')));
    const cal = await calibrate(ref.url);
    log(`calibration: ~${Math.round(cal.publish)} publishes/s, ~${Math.round(cal.handout)} hand-out REQs/s, ~${Math.round(cal.mix)} mix ops/s`);
    const perRound = (rate: number): number => Math.ceil(rate * SECONDS * 1.5) + 200;
    log('signing pools…');
    const pubPools = Array.from({ length: ROUNDS + 1 }, () => keyPackagePool(Math.ceil(perRound(cal.publish) / 3)).events);
    // Hand-outs consume what publishing makes: generous stock, so a round rarely runs dry (its seconds show it if it does).
    const handPools = Array.from({ length: ROUNDS + 1 }, () => keyPackagePool(Math.ceil(Math.max(cal.handout, 800) * SECONDS * 1.6) + 200));
    log('443 publishes:');
    let p = 0;
    const publishes = await measured(ref, 'publish-443', work, () => publishPhase(ref.url, pubPools[p++] ?? [], SECONDS));
    log('KeyPackage hand-outs:');
    let h = 0;
    let owners: string[] = [];
    const stock = async (): Promise<void> => {
      const pool = handPools[h++] ?? { events: [], owners: [] };
      await publishPhase(ref.url, pool.events, 600);
      owners = pool.owners;
    };
    const handouts = await measured(ref, 'handout', work, () => handoutPhase(ref.url, owners, SECONDS), stock);
    await ref.stop();

    // 2. The NIP-01 mix on a fresh reference relay and on @nostr-relay, alternating rounds.
    const install = await installing;
    const authors = Array.from({ length: 50 }, () => newKeys());
    const authorKeys = authors.map((a) => a.pubkey);
    const mixNotes = (): NostrEvent[] => notePool(Math.ceil(perRound(cal.mix) / 2) + 200, authors);
    const ref2 = await spawnRelay('reference', mkdtempSync(join(work, 'mix-ref-')));
    const other = install === undefined ? await spawnRelay('nostr-relay', mkdtempSync(join(work, 'mix-nr-')), vendorDir).catch((err: Error) => err) : new Error(install);
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
      },
      reference: {
        keyPackageHandouts: { ...handouts, note: 'KeyPackages handed out per second (REQ limit 2, each owner asked once: 2 consumed, 1 kept)' },
        keyPackagePublishes: { ...publishes, note: 'kind 443 EVENTs answered OK true per second; every id and signature verified (nostr-wasm)' },
        nip01Mix: { ...mixReference, note: 'requests per second, half kind 1 EVENT, half REQ {kinds:[1],authors:[one],limit:10}' },
      },
      nostrRelay: { package: `@nostr-relay/core@${NOSTR_RELAY_VERSION} + event-repository-sqlite + validator, in a ws server`, nip01Mix: mixNostrRelay },
      ratio: 'error' in mixNostrRelay ? null : { referenceOverNostrRelayMix: Math.round((100 * mixReference.perSecondMedian) / Math.max(1, mixNostrRelay.perSecondMedian)) / 100 },
    };
    writeResult('load.json', `${JSON.stringify(result, null, 2)}\n`);
    writeResult('load.md', markdown(result.machine, handouts, publishes, mixReference, mixNostrRelay));
    process.stdout.write(markdown(result.machine, handouts, publishes, mixReference, mixNostrRelay));
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function markdown(m: Record<string, string | number>, handouts: Figure, publishes: Figure, mixRef: Figure, mixOther: Figure | { error: string }): string {
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
    `Medians of ${ROUNDS} rounds of ${SECONDS} s, ${CONNECTIONS} connections, closed loop; relay and driver in separate processes.`,
    '',
    '| reference relay | rate | p50 ms | p99 ms | errors |',
    '| --- | --- | --- | --- | --- |',
    row('KeyPackage hand-outs (REQ, limit 2)', handouts, 'KeyPackages'),
    row('kind 443 publishes (signatures checked)', publishes, 'events'),
    row('NIP-01 mix (kind 1 EVENT / REQ)', mixRef, 'requests'),
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
