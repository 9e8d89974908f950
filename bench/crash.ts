/**
 * kp-robust-durable under SIGKILL (PROFILE.md §8.2): `kpsuite relay` in its own
 * process on a file database, owners publishing and requesters asking (REQ and
 * kind 447) on several connections, a SIGKILL at a random moment of that load,
 * a restart on the same file, more asking, then an audit of every frame every
 * client received, with no tolerance:
 *
 * (a) every KeyPackage that got `OK true` and that no client received is still
 *     stored (read as its owner), or was consumed by an ask the kill cut off:
 *     the profile makes the relay record a consumption before it sends the
 *     KeyPackage, so a kill between the two loses that hand-out by design.
 *     Such a KeyPackage must prove it was consumed (a republish is refused
 *     `duplicate:`), and there may be no more of them per owner than the
 *     asks cut off by the kill could still have been sent;
 * (b) no KeyPackage id reached requesters twice, before or after the restart;
 * (c) nothing a requester received is stored after the restart.
 *
 * A requester asks for an owner's KeyPackages only while the owner keeps at
 * least RESERVE more acknowledged ones than all asks so far could take, so no
 * owner is ever down to a last resort (kp-handout-last-resort): every repeat or
 * survivor is a bug, never a last resort handed out again, and every ask that is
 * answered gets exactly what it asked for (kp-handout-max).
 *
 * What a SIGKILL cannot tell: the process dies, the kernel does not, so its
 * page cache still reaches the file. A relay with synchronous=OFF passes this
 * audit as well as one with synchronous=FULL; only a power cut (or a VM kill)
 * tells them apart. test/robustness/pragmas.test.ts pins the pragmas instead.
 *
 * `node dist/bench/crash.js [--trials 20] [--no-write]` writes bench/results/crash.json.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { connectAs, inventory } from '../client/choreography.js';
import { newSubId, type RelayClient } from '../client/relay-client.js';
import { keyPackages } from '../fixtures/events.js';
import { packageRoot } from '../package-info.js';
import { newKeys, type Keys } from '../protocol/crypto.js';
import type { NostrEvent, RelayMessage } from '../protocol/messages.js';
import { KIND, PREFIX, prefixOf } from '../protocol/profile.js';
import { machine, writeResult } from './machine.js';

/** A relay in a child process: what test/support/spawn-relay.ts gives the tests, and spawnBuiltRelay the benches. */
export interface RelayProcess {
  url: string;
  child: ChildProcess;
  /** SIGTERM, then SIGKILL if it lingers. */
  stop(): Promise<void>;
  /** SIGKILL at once: a crash. */
  kill(): Promise<void>;
}

export type SpawnRelay = (args: string[]) => Promise<RelayProcess>;

/** `kpsuite relay --port 0 ...args` from this clone's build (dist/cli/kpsuite.js), for the benches. */
export const spawnBuiltRelay: SpawnRelay = async (args) => {
  const cli = join(packageRoot(), 'dist', 'cli', 'kpsuite.js');
  const child = spawn(process.execPath, [cli, 'relay', '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const lines = createInterface({ input: child.stdout! });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('kpsuite relay did not say where it listens within 10 s')), 10_000);
    void exited.then(() => reject(new Error(`kpsuite relay exited before listening (code ${child.exitCode}, signal ${child.signalCode})`)));
    lines.on('line', (line) => {
      const m = /listening on (ws:\/\/\S+)/.exec(line);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
  });
  const end = async (sig: NodeJS.Signals): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill(sig);
    const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
    await exited;
    clearTimeout(timer);
    lines.close();
  };
  return { url, child, stop: () => end('SIGTERM'), kill: () => end('SIGKILL') };
};

/** Seeded, so a trial's choices (owner, cap, path, kill delay) can be replayed; the relay's timing cannot. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** EVENT frames carrying a KeyPackage among `messages`. */
export function keyPackageFrames(messages: readonly RelayMessage[]): { subId: string; event: NostrEvent }[] {
  return messages.flatMap((m) => (m[0] === 'EVENT' && m[2].kind === KIND.keyPackage ? [{ subId: m[1], event: m[2] }] : []));
}

/** Who may be handed an owner's KeyPackages beyond these: the last RESERVE stay, so none is ever a last resort. */
const RESERVE = 2;

export interface CrashFixtures {
  owners: { keys: Keys; kps: NostrEvent[] }[];
  /** Half ask by REQ, half by kind 447 into a `limit: 0` subscription. */
  requesters: Keys[];
}

/** Genuine MLS KeyPackages (about 5 ms each), made once and published anew to each trial's fresh database. */
export async function crashFixtures(owners: number, kpsPerOwner: number, requesters: number): Promise<CrashFixtures> {
  const made: CrashFixtures['owners'] = [];
  for (let i = 0; i < owners; i++) {
    const keys = newKeys();
    made.push({ keys, kps: await keyPackages(keys, kpsPerOwner) });
  }
  return { owners: made, requesters: Array.from({ length: requesters }, () => newKeys()) };
}

export interface CrashTrialOptions {
  seed: number;
  /** The kill comes after a delay drawn uniformly from this range (ms from the start of the load). */
  killAfterMs: readonly [number, number];
  /** KeyPackages each owner publishes before the load starts. */
  seedPerOwner: number;
  /** KeyPackages each owner keeps back from the load and publishes after the restart, so requesters can ask again. */
  publishAfterRestart: number;
  /** Asks each requester makes after the restart (as far as the owners' acknowledged KeyPackages allow). */
  asksAfterRestart: number;
  timeoutMs: number;
}

export interface CrashTrialReport {
  seed: number;
  killAfterMs: number;
  /** The load was still going when the kill came: publishes or asks were in flight, KeyPackages left to publish. */
  loadRunningAtKill: boolean;
  acknowledged: number;
  publishesInFlightAtKill: number;
  asksAnsweredBeforeKill: number;
  asksCutByKill: number;
  handedOutBeforeKill: number;
  handedOutAfterRestart: number;
  /** KeyPackages consumed by an ask the kill cut off before they were sent (proven by their tombstone). */
  consumedUnsent: number;
  storedAfterRestart: number;
  /** Every breach of (a), (b), (c) and of the hand-out the load planned, with the frames that show it. */
  violations: string[];
}

interface Ask {
  owner: string;
  cap: number;
  path: 'req' | '447';
  client: RelayClient;
  /** The subscription its KeyPackages arrive on: the REQ's own, or the connection's `limit: 0` one. */
  subId: string;
  /** client.received.length when it was sent, and when its answer came: its frames lie between. */
  from: number;
  to?: number;
  refusal?: string;
  phase: 'before-kill' | 'after-restart';
}

/** Wakes waiters when an owner's credit grows (an OK'd publish) or the kill comes; every wait is bounded. */
class Credit {
  private waiters: (() => void)[] = [];

  notify(): void {
    for (const wake of this.waiters.splice(0)) wake();
  }

  /**
   * Waits at most `ms` until `take()` succeeds. `take` checks and takes in one
   * synchronous step: a check before an await and a take after it would let two
   * requesters spend the same credit.
   */
  async take(take: () => boolean, ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!take()) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return true;
  }
}

const short = (id: string): string => id.slice(0, 12);

/** One trial: fresh database, load, SIGKILL, restart, more asks, audit. Stops its relays and closes its connections. */
export async function crashTrial(spawnRelay: SpawnRelay, fx: CrashFixtures, opts: CrashTrialOptions): Promise<CrashTrialReport> {
  const rand = mulberry32(opts.seed);
  const dir = mkdtempSync(join(tmpdir(), 'kp-crash-'));
  // Rate limits out of the way: this is about durability, and every ask should consume.
  const args = ['--db', join(dir, 'relay.sqlite'), '--queries-per-window', '1000000', '--served-per-window', '1000000'];
  const clients: RelayClient[] = [];
  /** Every requester connection of the trial, before the kill and after the restart: the frames the audit reads. */
  const requesterClients: { client: RelayClient; phase: Ask['phase'] }[] = [];
  const relays: RelayProcess[] = [];
  const violations: string[] = [];
  const copt = { timeoutMs: opts.timeoutMs };
  const connect = async (url: string, keys: Keys, requester?: Ask['phase']): Promise<RelayClient> => {
    const { client } = await connectAs(url, keys, copt);
    clients.push(client);
    if (requester) requesterClients.push({ client, phase: requester });
    return client;
  };
  try {
    const first = await spawnRelay(args);
    relays.push(first);
    const acked = new Map(fx.owners.map((o) => [o.keys.pubkey, new Set<string>()]));
    const asked = new Map(fx.owners.map((o) => [o.keys.pubkey, 0]));
    const credit = new Credit();
    const asks: Ask[] = [];
    let killed = false;

    // Seeds, then the load: owners keep publishing while requesters ask.
    const owners = await Promise.all(
      fx.owners.map(async (o) => ({ ...o, client: await connect(first.url, o.keys), next: 0, end: o.kps.length - opts.publishAfterRestart, inFlight: 0 })),
    );
    await Promise.all(
      owners.map(async (o) => {
        const seeds = o.kps.slice(0, opts.seedPerOwner);
        o.next = seeds.length;
        const replies = await Promise.all(seeds.map((kp) => o.client.publish(kp)));
        for (const [i, r] of replies.entries()) {
          if (r.ok) acked.get(o.keys.pubkey)!.add(seeds[i]!.id);
          else violations.push(`setup: a seed KeyPackage was refused: ${r.message}`);
        }
      }),
    );
    const requesters = await Promise.all(
      fx.requesters.map(async (keys, i) => {
        const client = await connect(first.url, keys, 'before-kill');
        const path: Ask['path'] = i % 2 === 0 ? 'req' : '447';
        const live = path === '447' ? await openLiveSub(client) : '';
        return { keys, client, path, live };
      }),
    );

    const publishLoop = async (o: (typeof owners)[number]): Promise<void> => {
      while (!killed && o.next < o.end) {
        const kp = o.kps[o.next++]!;
        o.inFlight++;
        const reply = await o.client.publish(kp);
        o.inFlight--;
        if (reply.ok) acked.get(o.keys.pubkey)!.add(kp.id);
        else violations.push(`a genuine KeyPackage ${short(kp.id)} was refused during the load: ${reply.message}`);
        credit.notify();
      }
    };
    const askOnce = async (r: (typeof requesters)[number], phase: Ask['phase'], waitMs: number): Promise<boolean> => {
      const owner = fx.owners[Math.floor(rand() * fx.owners.length)]!.keys.pubkey;
      const cap = 1 + Math.floor(rand() * 2);
      const afford = (): boolean => {
        if (killed) return true; // stops the wait; nothing is asked below
        if (asked.get(owner)! + cap > acked.get(owner)!.size - RESERVE) return false;
        asked.set(owner, asked.get(owner)! + cap);
        return true;
      };
      if (!(await credit.take(afford, waitMs)) || killed) return false;
      const ask: Ask = { owner, cap, path: r.path, client: r.client, subId: r.path === 'req' ? newSubId('kp') : r.live, from: r.client.received.length, phase };
      asks.push(ask);
      if (r.path === 'req') {
        const res = await r.client.req([{ kinds: [KIND.keyPackage], authors: [owner], limit: cap }], ask.subId);
        if (res.closed !== undefined) ask.refusal = `CLOSED ${res.closed}`;
        r.client.closeSub(ask.subId);
      } else {
        const res = await r.client.requestKeyPackages(r.keys, owner, cap);
        if (!res.ok) ask.refusal = `OK false ${res.message}`;
      }
      ask.to = r.client.received.length;
      return true;
    };
    const askLoop = async (r: (typeof requesters)[number]): Promise<void> => {
      while (await askOnce(r, 'before-kill', opts.timeoutMs));
    };

    const delay = opts.killAfterMs[0] + rand() * (opts.killAfterMs[1] - opts.killAfterMs[0]);
    let atKill = { publishesInFlight: 0, asksInFlight: 0, leftToPublish: 0 };
    const kill = new Promise<void>((resolve) =>
      setTimeout(() => {
        killed = true;
        atKill = {
          publishesInFlight: owners.reduce((n, o) => n + o.inFlight, 0),
          asksInFlight: asks.filter((a) => a.to === undefined).length,
          leftToPublish: owners.reduce((n, o) => n + o.end - o.next, 0),
        };
        credit.notify();
        void first.kill().then(resolve);
      }, delay),
    );
    // Two publishers per owner, so an owner has two KeyPackages in flight at once.
    const load = [...owners.flatMap((o) => [publishLoop(o), publishLoop(o)]), ...requesters.map(askLoop)];
    // Loops end when the relay's death closes their connections (or their bounded waits give up).
    await Promise.allSettled(load);
    await kill;
    await Promise.all(clients.map((c) => c.close()));

    const second = await spawnRelay(args);
    relays.push(second);
    killed = false; // the loops may run again, on the restarted relay
    await Promise.all(
      owners.map(async (o) => {
        o.client = await connect(second.url, o.keys);
        [o.next, o.end] = [o.end, o.kps.length];
        await publishLoop(o);
      }),
    );
    const again = await Promise.all(
      requesters.map(async (r) => {
        const client = await connect(second.url, r.keys, 'after-restart');
        return { ...r, client, live: r.path === '447' ? await openLiveSub(client) : '' };
      }),
    );
    await Promise.all(
      again.map(async (r) => {
        // No one publishes any more: ask at once or not at all.
        for (let i = 0; i < opts.asksAfterRestart && (await askOnce(r, 'after-restart', 0)); i++);
      }),
    );

    // The audit, as each owner (kp-req-owner: reads consume nothing).
    const stored = new Map<string, Set<string>>();
    for (const o of fx.owners) stored.set(o.keys.pubkey, new Set((await inventory(second.url, o.keys, copt)).map((e) => e.id)));
    const received = new Map<string, string[]>();
    requesterClients.forEach(({ client, phase }, i) => {
      for (const { subId, event } of keyPackageFrames(client.received)) {
        received.set(event.id, [...(received.get(event.id) ?? []), `requester connection ${i} (${phase}) on ${subId}`]);
      }
    });
    // (b) no KeyPackage reached requesters twice.
    for (const [id, where] of received) {
      if (where.length > 1) violations.push(`(b) KeyPackage ${short(id)} was handed out ${where.length} times: ${where.join('; ')}`);
    }
    let consumedUnsent = 0;
    for (const o of fx.owners) {
      const owner = o.keys.pubkey;
      const left = stored.get(owner)!;
      // (c) consumed means gone.
      for (const id of left) {
        if (received.has(id)) violations.push(`(c) KeyPackage ${short(id)} was handed out (${received.get(id)!.join('; ')}) and is stored again after the restart`);
      }
      if (left.size < RESERVE) violations.push(`owner ${short(owner)} has ${left.size} KeyPackage(s) stored; the load always left ${RESERVE} unasked for`);
      // (a) acknowledged and never received: stored, or consumed by an ask the kill cut off.
      const unaccounted = [...acked.get(owner)!].filter((id) => !left.has(id) && !received.has(id));
      const cut = asks.filter((a) => a.owner === owner && a.to === undefined);
      const couldStillSend = cut.reduce((n, a) => n + a.cap - keyPackageFrames(a.client.received.slice(a.from)).length, 0);
      if (unaccounted.length > couldStillSend) {
        violations.push(
          `(a) owner ${short(owner)}: ${unaccounted.length} acknowledged KeyPackage(s) were never received and are not stored ` +
            `(${unaccounted.map(short).join(', ')}), but the ${cut.length} ask(s) the kill cut off could have taken only ${couldStillSend} more`,
        );
      }
      const { client } = await connectAs(second.url, o.keys, copt);
      clients.push(client);
      for (const id of unaccounted) {
        const reply = await client.publish(o.kps.find((kp) => kp.id === id)!);
        if (reply.ok || prefixOf(reply.message) !== PREFIX.duplicate) {
          violations.push(`(a) KeyPackage ${short(id)} got OK true, was never received, is not stored, and is not consumed either: a republish got OK ${reply.ok} "${reply.message}"`);
        }
      }
      consumedUnsent += unaccounted.length;
    }
    // What the load planned: an answered ask gets exactly its cap, never a refusal (kp-handout-max; rate limits raised).
    for (const a of asks.filter((x) => x.to !== undefined)) {
      const got = keyPackageFrames(a.client.received.slice(a.from, a.to)).length;
      if (a.refusal !== undefined || got !== a.cap) {
        violations.push(`a ${a.path} ask (${a.phase}) for ${a.cap} of ${short(a.owner)}'s KeyPackages got ${got}${a.refusal ? ` and ${a.refusal}` : ''}`);
      }
    }
    const handed = (phase: Ask['phase']): number =>
      requesterClients.reduce((n, r) => n + (r.phase === phase ? keyPackageFrames(r.client.received).length : 0), 0);
    return {
      seed: opts.seed,
      killAfterMs: Math.round(delay),
      loadRunningAtKill: atKill.publishesInFlight + atKill.asksInFlight > 0 && atKill.leftToPublish > 0,
      acknowledged: [...acked.values()].reduce((n, s) => n + s.size, 0),
      publishesInFlightAtKill: atKill.publishesInFlight,
      asksAnsweredBeforeKill: asks.filter((a) => a.phase === 'before-kill' && a.to !== undefined).length,
      asksCutByKill: asks.filter((a) => a.to === undefined).length,
      handedOutBeforeKill: handed('before-kill'),
      handedOutAfterRestart: handed('after-restart'),
      consumedUnsent,
      storedAfterRestart: [...stored.values()].reduce((n, s) => n + s.size, 0),
      violations,
    };
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    await Promise.all(relays.map((r) => r.stop()));
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A `limit: 0` subscription for every KeyPackage delivery of the connection (kp-447-subscription). */
async function openLiveSub(client: RelayClient): Promise<string> {
  const res = await client.req([{ kinds: [KIND.keyPackage], limit: 0 }]);
  if (!res.eose) throw new Error(`the limit: 0 subscription was refused: ${res.closed ?? ''}`);
  return res.subId;
}

export async function benchCrash(trials: number, write: boolean) {
  const started = Date.now();
  const fx = await crashFixtures(3, 220, 8);
  const reports: CrashTrialReport[] = [];
  for (let t = 0; t < trials; t++) {
    const report = await crashTrial(spawnBuiltRelay, fx, { seed: 1000 + t, killAfterMs: [20, 900], seedPerOwner: 8, publishAfterRestart: 8, asksAfterRestart: 4, timeoutMs: 5000 });
    reports.push(report);
    process.stderr.write(
      `trial ${t + 1}/${trials}: kill at ${report.killAfterMs} ms, ${report.acknowledged} acknowledged, ${report.handedOutBeforeKill}+${report.handedOutAfterRestart} handed out, ` +
        `${report.asksCutByKill} ask(s) cut, ${report.consumedUnsent} consumed unsent, ${report.violations.length} violation(s)\n`,
    );
  }
  const sum = (f: (r: CrashTrialReport) => number): number => reports.reduce((n, r) => n + f(r), 0);
  const result = {
    benchmark: 'kp-robust-durable-sigkill',
    when: new Date().toISOString(),
    machine: machine(),
    trials,
    seconds: Math.round((Date.now() - started) / 1000),
    trialsWithLoadRunningAtKill: reports.filter((r) => r.loadRunningAtKill).length,
    acknowledged: sum((r) => r.acknowledged),
    handedOutBeforeKill: sum((r) => r.handedOutBeforeKill),
    handedOutAfterRestart: sum((r) => r.handedOutAfterRestart),
    publishesInFlightAtKill: sum((r) => r.publishesInFlightAtKill),
    asksCutByKill: sum((r) => r.asksCutByKill),
    consumedUnsent: sum((r) => r.consumedUnsent),
    violations: reports.flatMap((r) => r.violations.map((v) => `seed ${r.seed}: ${v}`)),
    reports,
    note: 'SIGKILL keeps the page cache: this cannot tell synchronous=FULL from OFF (test/robustness/pragmas.test.ts pins the pragmas)',
  };
  if (write) writeResult('crash.json', `${JSON.stringify(result, null, 2)}\n`);
  return result;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const i = process.argv.indexOf('--trials');
  const result = await benchCrash(i >= 0 ? Number(process.argv[i + 1]) : 20, !process.argv.includes('--no-write'));
  process.stdout.write(`${JSON.stringify({ ...result, reports: undefined }, null, 2)}\n`);
  process.exitCode = result.violations.length === 0 && result.trialsWithLoadRunningAtKill === result.trials ? 0 : 1;
}
