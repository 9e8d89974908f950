/**
 * kp-handout-exactly-once, kp-handout-last-resort and the rate limits
 * (PROFILE.md §5, §6) under a thousand racing requesters: one owner publishes
 * N KeyPackages to `kpsuite relay` (its own process, a file database), then
 * every requester, each on its own authenticated connection, fires its asks
 * in the same instant — half by REQ, half by kind 447 into a `limit: 0`
 * subscription — and every frame every connection received is audited:
 *
 * - no KeyPackage but the last resort reaches two requesters, and each of the
 *   N−1 others is handed out (with N−1 ≤ requesters, every requester's first
 *   ask consumes at least one while more than one is stored);
 * - the last one is what is left (read as the owner) and several requesters
 *   got it: handed out, never consumed (kp-handout-last-resort);
 * - per requester: at most served_per_window KeyPackages, at most
 *   queries_per_window asks served, every other ask refused `rate-limited:`,
 *   every served ask between 1 and its cap (the last resort is always there),
 *   and a 447's deliveries before its OK.
 *
 * Each requester fires more asks than the limits allow (limits lowered with
 * `kpsuite relay` flags), so the limits are exercised, not just respected.
 * Mind file descriptors: each side holds one per connection (`ulimit -n`).
 *
 * `node dist/bench/racers.js [--racers 1000] [--no-write]` writes bench/results/racers.json.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectAs, inventory } from '../client/choreography.js';
import { newSubId, type RelayClient } from '../client/relay-client.js';
import { keyPackages } from '../fixtures/events.js';
import { newKeys, sign, type Keys } from '../protocol/crypto.js';
import type { NostrEvent } from '../protocol/messages.js';
import { KIND, PREFIX, prefixOf, TAG } from '../protocol/profile.js';
import { spawnBuiltRelay, type SpawnRelay } from './crash.js';
import { machine, writeResult } from './machine.js';

export interface RacerLimits {
  maxPerQuery: number;
  queriesPerWindow: number;
  servedPerWindow: number;
}

/** Limits low enough that a requester's asks run into them; each requester fires queriesPerWindow + 1 asks. */
export const RACER_LIMITS: RacerLimits = { maxPerQuery: 2, queriesPerWindow: 2, servedPerWindow: 3 };

export interface RacersOptions {
  racers: number;
  /** N: the owner's KeyPackages, at most racers + 1 so that all but the last are handed out. */
  keyPackages: number;
  limits: RacerLimits;
  /** Connections opened (and authenticated) at once while setting up. */
  connectBatch: number;
  timeoutMs: number;
}

export interface RacersReport {
  racers: number;
  keyPackages: number;
  asks: number;
  /** From the first ask sent to the last answer received. */
  raceMs: number;
  setupMs: number;
  handedOut: number;
  distinctHandedOut: number;
  lastResortServes: number;
  refusals: Record<string, number>;
  storedAfter: number;
  relayOpenFiles: number;
  openFilesLimit: number;
  violations: string[];
}

/** The soft limit on open files of this process (a child inherits it). */
export function openFilesLimit(): number {
  const line = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
  return line?.[1] === 'unlimited' ? Infinity : Number(line?.[1] ?? NaN);
}

interface Racer {
  keys: Keys;
  client: RelayClient;
  path: 'req' | '447';
  /** The `limit: 0` subscription 447 deliveries go to. */
  live?: string;
  /** Sub ids (REQ) or request ids (447), in the order sent. */
  asks: string[];
  answers: ({ served: true } | { refusal: string })[];
}

const short = (id: string): string => id.slice(0, 12);

/** Sets the race up on `url`, runs it, audits every frame; closes its connections, leaves the relay running. */
export async function runRacers(url: string, relayPid: number, owner: Keys, kps: readonly NostrEvent[], opts: RacersOptions): Promise<RacersReport> {
  const { limits } = opts;
  const violations: string[] = [];
  const racers: Racer[] = [];
  const copt = { timeoutMs: opts.timeoutMs };
  const t0 = Date.now();
  try {
    const { client: own } = await connectAs(url, owner, copt);
    const published = await Promise.all(kps.map((kp) => own.publish(kp)));
    await own.close();
    for (const [i, r] of published.entries()) {
      if (!r.ok) violations.push(`setup: KeyPackage ${i} was refused: ${r.message}`);
    }
    for (let i = 0; i < opts.racers; i += opts.connectBatch) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(opts.connectBatch, opts.racers - i) }, async (_, j): Promise<Racer> => {
          const { client, keys } = await connectAs(url, newKeys(), copt);
          const path = (i + j) % 2 === 0 ? 'req' : '447';
          const racer: Racer = { keys, client, path, asks: [], answers: [] };
          if (path === '447') {
            const res = await client.req([{ kinds: [KIND.keyPackage], authors: [owner.pubkey], limit: 0 }]);
            if (!res.eose) throw new Error(`a limit: 0 subscription was refused: ${res.closed ?? ''}`);
            racer.live = res.subId;
          }
          return racer;
        }),
      );
      racers.push(...batch);
    }
    const relayOpenFiles = readdirSync(`/proc/${relayPid}/fd`).length;

    // Every frame built and signed first, then all sent in one synchronous sweep: the race.
    const asksEach = limits.queriesPerWindow + 1;
    const now = Math.floor(Date.now() / 1000);
    const frames = racers.map((r) =>
      Array.from({ length: asksEach }, (_, k): unknown[] => {
        if (r.path === 'req') {
          const sub = newSubId('race');
          r.asks.push(sub);
          return ['REQ', sub, { kinds: [KIND.keyPackage], authors: [owner.pubkey], limit: limits.maxPerQuery }];
        }
        // created_at apart, so each request is its own event.
        const tags = [[TAG.pubkey, owner.pubkey], [TAG.count, String(limits.maxPerQuery)]];
        const request = sign({ kind: KIND.keyPackageRequest, created_at: now - k, tags, content: '' }, r.keys);
        r.asks.push(request.id);
        return ['EVENT', request];
      }),
    );
    const setupMs = Date.now() - t0;
    const fired = Date.now();
    racers.forEach((r, i) => frames[i]!.forEach((f) => r.client.send(f)));
    await Promise.all(
      racers.map(async (r) => {
        for (const id of r.asks) {
          if (r.path === 'req') {
            const res = await r.client.collect(id);
            r.answers.push(res.eose ? { served: true } : { refusal: res.closed ?? '' });
          } else {
            const ok = await r.client.next((m) => m[0] === 'OK' && m[1] === id, `OK for request ${short(id)}`);
            r.answers.push(ok[2] === true ? { served: true } : { refusal: String(ok[3]) });
          }
        }
      }),
    );
    const raceMs = Date.now() - fired;

    // The audit, over every frame each requester's connection received.
    const last = kps.at(-1)!.id;
    const times = new Map<string, number>();
    const refusals: Record<string, number> = {};
    for (const [i, r] of racers.entries()) {
      const who = `requester ${i} (${r.path})`;
      // Per ask, in order: a REQ's frames carry its sub; a 447's deliveries come before its OK.
      const perAsk: NostrEvent[][] = r.asks.map(() => []);
      let current = 0;
      for (const m of r.client.received) {
        if (m[0] === 'EVENT' && m[2].kind === KIND.keyPackage) {
          const k = r.path === 'req' ? r.asks.indexOf(m[1]) : m[1] === r.live ? current : -1;
          if (k < 0 || k >= r.asks.length) violations.push(`${who}: a KeyPackage ${short(m[2].id)} on ${m[1]}, after its last answer or on no ask's subscription`);
          else perAsk[k]!.push(m[2]);
          times.set(m[2].id, (times.get(m[2].id) ?? 0) + 1);
        }
        if (r.path === '447' && m[0] === 'OK' && r.asks.includes(m[1])) current = r.asks.indexOf(m[1]) + 1;
      }
      const got = perAsk.flat();
      if (got.length > limits.servedPerWindow) violations.push(`${who} was handed ${got.length} KeyPackages; served_per_window is ${limits.servedPerWindow}`);
      if (got.length === 0) violations.push(`${who} was handed nothing, though the last resort is always there for its first ask`);
      const served = r.answers.filter((a) => 'served' in a).length;
      if (served > limits.queriesPerWindow) violations.push(`${who} had ${served} asks served; queries_per_window is ${limits.queriesPerWindow}`);
      for (const [k, a] of r.answers.entries()) {
        const n = perAsk[k]!.length;
        if ('refusal' in a) {
          const prefix = prefixOf(a.refusal) ?? '(no prefix)';
          refusals[prefix] = (refusals[prefix] ?? 0) + 1;
          if (prefix !== PREFIX.rateLimited) violations.push(`${who}: ask ${k + 1} was refused "${a.refusal}", not rate-limited:`);
          if (n > 0) violations.push(`${who}: ask ${k + 1} was refused yet ${n} KeyPackage(s) came with it`);
        } else if (n < 1 || n > limits.maxPerQuery) violations.push(`${who}: ask ${k + 1} was served ${n} KeyPackage(s); 1 to ${limits.maxPerQuery} were due`);
      }
    }
    for (const [id, n] of times) {
      if (id !== last && n > 1) violations.push(`KeyPackage ${short(id)} was handed out ${n} times; only the last resort may be`);
    }
    const missed = kps.slice(0, -1).filter((kp) => !times.has(kp.id));
    if (missed.length > 0) violations.push(`${missed.length} of the first N−1 KeyPackages were never handed out (${missed.slice(0, 5).map((kp) => short(kp.id)).join(', ')} …)`);
    const lastResortServes = times.get(last) ?? 0;
    if (lastResortServes < 2) violations.push(`the last resort was handed out ${lastResortServes} time(s); several requesters should have got it`);
    const left = (await inventory(url, owner, copt)).map((e) => e.id);
    if (left.length !== 1 || left[0] !== last) violations.push(`the owner has [${left.map(short).join(', ')}] stored; only the last, ${short(last)}, should be`);

    return {
      racers: opts.racers,
      keyPackages: kps.length,
      asks: racers.length * asksEach,
      raceMs,
      setupMs,
      handedOut: [...times.values()].reduce((a, b) => a + b, 0),
      distinctHandedOut: times.size,
      lastResortServes,
      refusals,
      storedAfter: left.length,
      relayOpenFiles,
      openFilesLimit: openFilesLimit(),
      violations,
    };
  } finally {
    await Promise.all(racers.map((r) => r.client.close()));
  }
}

/** `kpsuite relay` flags for the race: the lowered limits on a file database in `dir`. */
export function racerRelayArgs(dir: string, limits: RacerLimits): string[] {
  return [
    '--db', join(dir, 'relay.sqlite'),
    '--max-per-query', String(limits.maxPerQuery),
    '--queries-per-window', String(limits.queriesPerWindow),
    '--served-per-window', String(limits.servedPerWindow),
  ];
}

/** One race against a fresh `kpsuite relay`, stopped afterwards. */
export async function race(spawnRelay: SpawnRelay, owner: Keys, kps: readonly NostrEvent[], opts: Omit<RacersOptions, 'keyPackages'>): Promise<RacersReport> {
  // Each connection is a file descriptor on both sides; the relay child inherits this limit.
  const need = opts.racers + 256;
  if (openFilesLimit() < need) throw new Error(`ulimit -n is ${openFilesLimit()}; ${opts.racers} racers need at least ${need}: raise it (ulimit -n ${need * 2})`);
  const dir = mkdtempSync(join(tmpdir(), 'kp-racers-'));
  const relay = await spawnRelay(racerRelayArgs(dir, opts.limits));
  try {
    return await runRacers(relay.url, relay.child.pid!, owner, kps, { ...opts, keyPackages: kps.length });
  } finally {
    await relay.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function benchRacers(racers: number, write: boolean) {
  const owner = newKeys();
  const kps = await keyPackages(owner, Math.floor((3 * racers) / 4) + 1);
  const report = await race(spawnBuiltRelay, owner, kps, { racers, limits: RACER_LIMITS, connectBatch: 50, timeoutMs: 60_000 });
  const result = {
    benchmark: 'kp-handout-racers',
    when: new Date().toISOString(),
    machine: machine(),
    relay: `kpsuite relay on a file database, --max-per-query ${RACER_LIMITS.maxPerQuery} --queries-per-window ${RACER_LIMITS.queriesPerWindow} --served-per-window ${RACER_LIMITS.servedPerWindow}`,
    ...report,
    asksPerSecond: Math.round(report.asks / (report.raceMs / 1000)),
  };
  if (write) writeResult('racers.json', `${JSON.stringify(result, null, 2)}\n`);
  return result;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const i = process.argv.indexOf('--racers');
  const result = await benchRacers(i >= 0 ? Number(process.argv[i + 1]) : 1000, !process.argv.includes('--no-write'));
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  process.exitCode = result.violations.length === 0 ? 0 : 1;
}
