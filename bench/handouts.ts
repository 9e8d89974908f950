/**
 * KeyPackage hand-outs at 4k, 40k and 400k stored KeyPackages (issue: the
 * reference relay at the machine's limit): KeyPackages handed out per second
 * (REQ, limit 2) at saturation and p50/p99, the relay's RSS at each size, how
 * many hand-outs shared a commit (its /metrics), and the same with group
 * commit off (one commit and fsync per hand-out) in alternate rounds of the
 * same run.
 *
 * The store is filled before the relay starts, straight through SqliteStore
 * (what a relay with that many stored has on disk): per owner one genuine MLS
 * KeyPackage (ts-mls) carried by all of that owner's events, each event signed
 * on its own (a distinct id and created_at). Owners: stored/20, at most 2,000,
 * so at 400k each owner has 200 and the curve also shows that a hand-out's
 * cost does not grow with the owner's pool. Each round runs on a fresh copy of
 * the filled file and asks every owner in shuffled order until each has had
 * its non-last KeyPackages but two handed out, or SECONDS pass. Three relays
 * alternate: as `kpsuite relay` runs by default, with group commit off, and
 * with checkpoints inside commits (no checkpoint thread). Then the first and
 * the last are asked at half their median rate, open loop (drive.ts
 * pacedLoop), for the latency at half load, beside where it goes: the
 * relay's commits, its answers and its event loop's delay (its /metrics), and
 * the driver's event loop's delay.
 *
 * `node dist/bench/handouts.js [--stored 4000,40000,400000] [--seconds 4] [--rounds 3] [--connections 16]`
 * Writes bench/results/handouts.json and handouts.md.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { join } from 'node:path';
import { keyPackage } from '../fixtures/events.js';
import { authenticate, query, subId } from '../load/core/nostr.js';
import type { Socket } from '../load/core/runtime.js';
import { MetricStore } from '../load/node/metrics.js';
import { NodeRuntime } from '../load/node/runtime.js';
import { newKeys, sign } from '../protocol/crypto.js';
import type { NostrEvent } from '../protocol/messages.js';
import { KIND } from '../protocol/profile.js';
import { storagePolicy } from '../reference-relay/core/event.js';
import { parseMetrics } from '../reference-relay/metrics-text.js';
import { RULES } from '../reference-relay/rules/index.js';
import { SqliteStore } from '../reference-relay/store/sqlite-store.js';
import { closedLoop, pacedLoop, spawnRelay, type Measured, type RelayKind, type Step } from './load/drive.js';
import { machine, median, runBench, writeResult } from './machine.js';

const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const num = (name: string, fallback: number): number => {
  const v = Number(arg(name));
  return Number.isFinite(v) && v > 0 ? v : fallback;
};

const STORED = (arg('stored') ?? '4000,40000,400000').split(',').map(Number).filter((n) => Number.isInteger(n) && n > 0);
const SECONDS = num('seconds', 4);
const ROUNDS = num('rounds', 3);
const CONNECTIONS = num('connections', 16);
const TIMEOUT_MS = 10_000;
const WARM_UP_SECONDS = 1;
/** The timer an event loop's delay is measured with, in the relay (prom-client's default) and in the driver. */
const LOOP_DELAY_RESOLUTION_MS = 10;
/** What a hand-out asks for: as the load suite and the hand-out figures of bench/load.ts. */
const PER_ASK = 2;
const MAX_OWNERS = 2000;
const KINDS: readonly RelayKind[] = ['reference', 'reference-single-commit', 'reference-checkpoint-in-commits'];
/** The relays asked at half their rate: with the checkpoint thread (the default) and without. */
const HALF_RATE_KINDS = ['reference', 'reference-checkpoint-in-commits'] as const;

const rt = new NodeRuntime(new MetricStore());
const log = (line: string): void => void process.stderr.write(`${line}\n`);

interface Filled {
  stored: number;
  owners: string[];
  perOwner: number;
  file: string;
  fillSeconds: number;
}

/** A database file holding `stored` KeyPackages of stored/perOwner owners. */
async function fill(stored: number, dir: string): Promise<Filled> {
  const started = Date.now();
  const owners = Math.min(MAX_OWNERS, Math.max(1, Math.floor(stored / 20)));
  const perOwner = Math.ceil(stored / owners);
  const file = join(dir, 'reference.sqlite');
  const store = new SqliteStore(file);
  const base = Math.floor(Date.now() / 1000) - 30 * 86_400;
  const pubkeys: string[] = [];
  try {
    for (let o = 0; o < owners; o++) {
      const keys = newKeys();
      pubkeys.push(keys.pubkey);
      const genuine = await keyPackage(keys, { createdAt: base });
      const events: NostrEvent[] = [genuine];
      for (let i = 1; i < perOwner; i++) events.push(sign({ kind: genuine.kind, created_at: base + i, tags: genuine.tags, content: genuine.content }, keys));
      store.transaction(() => events.forEach((e) => store.insert(e, storagePolicy(RULES, e))));
      if (o % 200 === 199) log(`  ${((o + 1) * perOwner).toLocaleString('en')} of ${stored.toLocaleString('en')} stored`);
    }
  } finally {
    store.close(); // checkpoints the WAL into the file, so a plain copy is the whole database
  }
  return { stored: owners * perOwner, owners: pubkeys, perOwner, file, fillSeconds: (Date.now() - started) / 1000 };
}

/** Every owner `askEach` times, shuffled (seeded by the round, so both kinds of relay get the same order). */
function askOrder(owners: readonly string[], askEach: number, round: number): string[] {
  const order = owners.flatMap((o) => Array.from({ length: askEach }, () => o));
  let seed = round + 1;
  for (let i = order.length - 1; i > 0; i--) {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    const j = seed % (i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}

/** One round of asks in `order` on CONNECTIONS connections: at saturation (closed loop), or at `perSecond` asks (open loop). */
async function handoutRound(url: string, order: readonly string[], perSecond?: number, seconds = SECONDS): Promise<Measured> {
  const socks: Socket[] = await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      const sock = await rt.connect(url, TIMEOUT_MS);
      if (!(await authenticate(rt, sock, url, rt.signer.newSecretKey(), TIMEOUT_MS))) throw new Error('AUTH refused');
      return sock;
    }),
  );
  let next = 0;
  const steps: Step[] = socks.map((sock) => async () => {
    const owner = order[next++];
    if (owner === undefined) return 'done';
    const r = await query(rt, sock, subId('handout'), [{ kinds: [KIND.keyPackage], authors: [owner], limit: PER_ASK }], TIMEOUT_MS);
    return r === undefined || r.closed !== undefined ? undefined : { ms: r.ms, items: r.events.length };
  });
  try {
    return await (perSecond === undefined ? closedLoop(steps, seconds) : pacedLoop(steps, seconds, perSecond));
  } finally {
    await Promise.all(socks.map((s) => s.close()));
  }
}

/** Resident set of a process in MiB (Linux /proc), or undefined elsewhere. */
function rssMiB(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb === undefined ? undefined : Math.round(Number(kb) / 1024);
  } catch {
    return undefined;
  }
}

/** How late an event loop's timer fired, past its interval: p99 and max, ms. */
interface LoopDelay {
  p99Ms: number;
  maxMs: number;
}

/** What the relay's /metrics says so far. */
interface RelayReading {
  commits: number;
  transactions: number;
  /** relay_store_commit_seconds, cumulative: upper bound in seconds → commits that took at most that long. */
  commitBuckets: Map<number, number>;
  /** keypackage_delivery_latency_seconds{path="req"}, cumulative: from receiving an ask to writing its last KeyPackage, after its commit. */
  answerBuckets: Map<number, number>;
  /** The relay's event-loop delay since the previous reading (prom-client starts it over at each scrape), ms. */
  loopDelay: LoopDelay;
}

/**
 * An event loop's delay from monitorEventLoopDelay's figures (prom-client passes them on as they are),
 * which time the whole interval of a LOOP_DELAY_RESOLUTION_MS timer: an idle loop reads about 10.1 ms.
 */
function pastTimer(p99Ms: number, maxMs: number): LoopDelay {
  return { p99Ms: Math.max(0, p99Ms - LOOP_DELAY_RESOLUTION_MS), maxMs: Math.max(0, maxMs - LOOP_DELAY_RESOLUTION_MS) };
}

async function readRelay(url: string): Promise<RelayReading> {
  const text = await (await fetch(`${url.replace(/^ws/, 'http')}/metrics`, { signal: AbortSignal.timeout(TIMEOUT_MS) })).text();
  const samples = parseMetrics(text);
  const gauge = (name: string): number => samples.find((s) => s.name === name && s.labels === '')?.value ?? Number.NaN;
  /** A histogram's cumulative buckets whose labels also hold `labels` (`path="req"`). */
  const buckets = (name: string, labels = ''): Map<number, number> => {
    const found = new Map<number, number>();
    for (const s of samples) {
      const le = /\ble="([^"]+)"/.exec(s.labels)?.[1];
      if (s.name !== `${name}_bucket` || le === undefined || !s.labels.includes(labels)) continue;
      found.set(le === '+Inf' ? Infinity : Number(le), s.value);
    }
    return found;
  };
  return {
    commits: gauge('relay_store_commits'),
    transactions: gauge('relay_store_transactions'),
    commitBuckets: buckets('relay_store_commit_seconds'),
    answerBuckets: buckets('keypackage_delivery_latency_seconds', 'path="req"'),
    loopDelay: pastTimer(1000 * gauge('nodejs_eventloop_lag_p99_seconds'), 1000 * gauge('nodejs_eventloop_lag_max_seconds')),
  };
}

/** What a histogram counted between two readings: how many, how many over 10 ms, and the bucket that holds their 99th percentile. */
interface Tail {
  count: number;
  over10Ms: number;
  /** The upper bound, in ms, of the bucket the 99th percentile falls in (Infinity past the last). */
  p99AtMostMs: number;
}

function tailBetween(before: Map<number, number>, after: Map<number, number>): Tail {
  const between = (le: number): number => (after.get(le) ?? 0) - (before.get(le) ?? 0);
  const count = between(Infinity);
  const p99 = [...after.keys()].sort((x, y) => x - y).find((le) => between(le) >= 0.99 * count) ?? Infinity;
  return { count, over10Ms: count - between(0.01), p99AtMostMs: p99 * 1000 };
}

interface Point {
  stored: number;
  owners: number;
  perOwner: number;
  fillSeconds: number;
  byKind: Record<
    string,
    {
      perSecondMedian: number;
      p50MsMedian: number;
      p99MsMedian: number;
      errors: number;
      rssMiBAfter: (number | undefined)[];
      /** Store transactions (one a hand-out) per commit in each round: how many hand-outs shared an fsync. */
      transactionsPerCommit: number[];
      rounds: Measured[];
    }
  >;
  /** Each of HALF_RATE_KINDS at half its median saturated rate of asks, open loop: the latency a relay at half load gives. */
  halfRate: Partial<Record<(typeof HALF_RATE_KINDS)[number], HalfRate>>;
}

async function measurePoint(stored: number, work: string): Promise<Point> {
  const dir = mkdtempSync(join(work, `fill-${stored}-`));
  log(`filling ${stored.toLocaleString('en')} KeyPackages…`);
  const filled = await fill(stored, dir);
  log(`  ${filled.fillSeconds.toFixed(1)} s`);
  const askEach = Math.max(1, Math.floor((filled.perOwner - 1) / PER_ASK) - 1);
  const byKind: Point['byKind'] = {};
  for (let round = 0; round < ROUNDS; round++) {
    const order = askOrder(filled.owners, askEach, round);
    for (const kind of KINDS) {
      const roundDir = join(work, `round-${stored}-${kind}-${round}`);
      mkdirSync(roundDir);
      copyFileSync(filled.file, join(roundDir, 'reference.sqlite'));
      const child = await spawnRelay(kind, roundDir);
      try {
        const before = await readRelay(child.url);
        const m = await handoutRound(child.url, order);
        const after = await readRelay(child.url);
        const row = (byKind[kind] ??= { perSecondMedian: 0, p50MsMedian: 0, p99MsMedian: 0, errors: 0, rssMiBAfter: [], transactionsPerCommit: [], rounds: [] });
        row.rounds.push(m);
        row.rssMiBAfter.push(rssMiB(child.pid));
        row.transactionsPerCommit.push(Math.round((100 * (after.transactions - before.transactions)) / (after.commits - before.commits)) / 100);
        log(`  ${stored} ${kind} round ${round + 1}: ${Math.round(m.itemsPerSecond)}/s, p99 ${m.p99.toFixed(1)} ms, RSS ${row.rssMiBAfter.at(-1) ?? '?'} MiB`);
      } finally {
        await child.stop();
        rmSync(roundDir, { recursive: true, force: true });
      }
    }
  }
  const r2 = (x: number): number => Math.round(x * 100) / 100;
  for (const row of Object.values(byKind)) {
    row.perSecondMedian = Math.round(median(row.rounds.map((r) => r.itemsPerSecond)));
    row.p50MsMedian = r2(median(row.rounds.map((r) => r.p50)));
    row.p99MsMedian = r2(median(row.rounds.map((r) => r.p99)));
    row.errors = row.rounds.reduce((s, r) => s + r.errors, 0);
  }
  const halfRate: Point['halfRate'] = {};
  for (const kind of HALF_RATE_KINDS) {
    const saturated = byKind[kind]?.rounds;
    if (saturated) halfRate[kind] = await halfRateRound(kind, filled, askOrder(filled.owners, askEach, ROUNDS), median(saturated.map((r) => r.opsPerSecond)) / 2, work);
  }
  rmSync(dir, { recursive: true, force: true });
  return { stored: filled.stored, owners: filled.owners.length, perOwner: filled.perOwner, fillSeconds: r2(filled.fillSeconds), byKind, halfRate };
}

interface HalfRate {
  asksPerSecondOffered: number;
  measured: Measured;
  /**
   * Where an ask's time goes, from the relay's /metrics over the measured round: its commits (an answer
   * waits for its commit), its answers from receiving an ask to writing its last KeyPackage, and its event
   * loop's delay (a frame waits in the socket until the loop reads it); and the driver's own event-loop
   * delay, which an open loop counts.
   */
  commits: Tail;
  answers: Tail;
  relayLoopDelay: LoopDelay;
  driverLoopDelay: LoopDelay;
}

/** One kind of relay on a fresh copy, asked at `asksPerSecond` (open loop). */
async function halfRateRound(kind: RelayKind, filled: Filled, order: readonly string[], asksPerSecond: number, work: string): Promise<HalfRate> {
  const roundDir = join(work, `half-rate-${filled.stored}-${kind}`);
  mkdirSync(roundDir);
  copyFileSync(filled.file, join(roundDir, 'reference.sqlite'));
  const child = await spawnRelay(kind, roundDir);
  try {
    // A second at the same rate first, not measured: a fresh process's first asks run cold code, and in an
    // open loop every ask due meanwhile would count that wait.
    const warm = Math.round(asksPerSecond * WARM_UP_SECONDS);
    await handoutRound(child.url, order.slice(0, warm), asksPerSecond, WARM_UP_SECONDS);
    const driverLoop = monitorEventLoopDelay({ resolution: LOOP_DELAY_RESOLUTION_MS });
    const before = await readRelay(child.url);
    driverLoop.enable();
    const measured = await handoutRound(child.url, order.slice(warm), asksPerSecond);
    driverLoop.disable();
    const after = await readRelay(child.url);
    const half: HalfRate = {
      asksPerSecondOffered: Math.round(asksPerSecond),
      measured,
      commits: tailBetween(before.commitBuckets, after.commitBuckets),
      answers: tailBetween(before.answerBuckets, after.answerBuckets),
      relayLoopDelay: after.loopDelay,
      driverLoopDelay: pastTimer(driverLoop.percentile(99) / 1e6, driverLoop.max / 1e6),
    };
    log(
      `  ${filled.stored} ${kind} at ${Math.round(asksPerSecond)} asks/s: p50 ${measured.p50.toFixed(1)} ms, p99 ${measured.p99.toFixed(1)} ms; ` +
        `${half.commits.over10Ms} of ${half.commits.count} commits over 10 ms; relay loop delay max ${half.relayLoopDelay.maxMs.toFixed(1)} ms`,
    );
    return half;
  } finally {
    await child.stop();
    rmSync(roundDir, { recursive: true, force: true });
  }
}

function markdown(m: Record<string, string | number>, points: readonly Point[]): string {
  const cell = (p: Point, kind: RelayKind): string => {
    const k = p.byKind[kind];
    if (!k) return '| — | — | — | — | — |';
    const rss = k.rssMiBAfter.filter((x): x is number => x !== undefined);
    return `| ${k.perSecondMedian} | ${k.p50MsMedian} | ${k.p99MsMedian} | ${rss.length > 0 ? Math.max(...rss) : '?'} | ${median(k.transactionsPerCommit).toFixed(1)} |`;
  };
  const ratio = (p: Point): string => {
    const on = p.byKind.reference?.perSecondMedian ?? 0;
    const off = p.byKind['reference-single-commit']?.perSecondMedian ?? 0;
    return off > 0 ? (on / off).toFixed(2) : '—';
  };
  return [
    '# KeyPackage hand-outs by stored KeyPackages',
    '',
    `${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.os}, Node ${m.node}; load average ${m.loadAverageBefore} before, ${m.loadAverageAfter} after.`,
    `Medians of ${ROUNDS} rounds of up to ${SECONDS} s, ${CONNECTIONS} connections, closed loop, REQ {kinds:[443],authors:[owner],limit:${PER_ASK}}; relay and driver in separate processes; each round on a fresh copy of the filled database. Group commit on (the default) and off in alternate rounds.`,
    '',
    '| stored | owners × each | group commit: KeyPackages/s | p50 ms | p99 ms | max RSS MiB | hand-outs per commit | one commit each: KeyPackages/s | p50 ms | p99 ms | max RSS MiB | hand-outs per commit | ratio |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...points.map((p) => `| ${p.stored.toLocaleString('en')} | ${p.owners} × ${p.perOwner} ${cell(p, 'reference')} ${cell(p, 'reference-single-commit').slice(2)} ${ratio(p)} |`),
    '',
    `The checkpoint thread (the default) against SQLite's own checkpoints inside commits (\`--no-checkpoint-thread\`), both with group commit: at saturation as above, then at half each one's median rate, open loop (each connection asks on a fixed schedule; a latency counts from when its ask was due), one round of ${SECONDS} s on a fresh copy after ${WARM_UP_SECONDS} s at that rate not measured:`,
    '',
    '| stored | thread: KeyPackages/s | p99 ms | at half: asks/s | p50 ms | p99 ms | in commits: KeyPackages/s | p99 ms | at half: asks/s | p50 ms | p99 ms |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...points.map((p) => {
      const side = (kind: (typeof HALF_RATE_KINDS)[number]): string => {
        const k = p.byKind[kind];
        const h = p.halfRate[kind];
        const sat = k ? `${k.perSecondMedian} | ${k.p99MsMedian}` : '— | —';
        return h ? `${sat} | ${h.asksPerSecondOffered} | ${h.measured.p50.toFixed(2)} | ${h.measured.p99.toFixed(2)}` : `${sat} | — | — | —`;
      };
      return `| ${p.stored.toLocaleString('en')} | ${side('reference')} | ${side('reference-checkpoint-in-commits')} |`;
    }),
    '',
    `Where the half-rate p99 goes, over the same measured rounds: the relay's commits, and its answers from receiving an ask (its wait behind its connection's earlier messages included) to writing its last KeyPackage after the commit it waits for, from its /metrics (relay_store_commit_seconds, keypackage_delivery_latency_seconds; p99 as the histogram bucket that holds it); the event-loop delay of the relay (nodejs_eventloop_lag_*) and of the driver, each how late a ${LOOP_DELAY_RESOLUTION_MS} ms timer fired. An ask that arrives while the relay's loop is held waits in its socket, unseen by the relay's metrics; the open loop counts the driver's delays too.`,
    '',
    '| stored | relay | asks p99 ms | commits over 10 ms | commit p99 ≤ ms | answers over 10 ms | answer p99 ≤ ms | relay loop delay p99 / max ms | driver loop delay p99 / max ms |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...points.flatMap((p) =>
      HALF_RATE_KINDS.flatMap((kind) => {
        const h = p.halfRate[kind];
        if (!h) return [];
        const delay = (d: LoopDelay): string => `${d.p99Ms.toFixed(1)} / ${d.maxMs.toFixed(1)}`;
        return [
          `| ${p.stored.toLocaleString('en')} | ${kind} | ${h.measured.p99.toFixed(2)} | ${h.commits.over10Ms} of ${h.commits.count} | ${h.commits.p99AtMostMs} | ` +
            `${h.answers.over10Ms} of ${h.answers.count} | ${h.answers.p99AtMostMs} | ${delay(h.relayLoopDelay)} | ${delay(h.driverLoopDelay)} |`,
        ];
      }),
    ),
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'kpsuite-bench-handouts-'));
  const loadBefore = loadavg().map((x) => x.toFixed(2)).join(' ');
  try {
    const points: Point[] = [];
    for (const stored of STORED) points.push(await measurePoint(stored, work));
    const m = { ...machine(), loadAverageBefore: loadBefore, loadAverageAfter: loadavg().map((x) => x.toFixed(2)).join(' ') };
    const text = markdown(m, points);
    writeResult('handouts.json', `${JSON.stringify({ benchmark: 'handouts', when: new Date().toISOString(), machine: m, seconds: SECONDS, rounds: ROUNDS, connections: CONNECTIONS, points }, null, 2)}\n`);
    writeResult('handouts.md', text);
    process.stdout.write(text);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

runBench('handouts', import.meta.url, main);
