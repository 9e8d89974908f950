/**
 * Test-only helpers for the reference relay's own tests: start a relay on
 * loopback, keep track of the connections a test opens (and print their wire
 * log when it fails), and a few frame builders the client helper does not
 * have.
 */
import { afterAll, afterEach, beforeAll, it } from 'vitest';
import { sign, type Keys } from '../../protocol/crypto.js';
import type { Filter, NostrEvent, RelayInformation, RelayMessage } from '../../protocol/messages.js';
import { KIND, TAG } from '../../protocol/profile.js';
import { nowSeconds, RelayClient, type ClientOptions, type OkReply, type WireEntry } from '../../client/relay-client.js';
import { connectAs } from '../../client/choreography.js';
import type { RelayOptions } from '../config.js';
import { FAULTS, type FaultName } from '../faults.js';
import { parseMetrics, type MetricSample } from '../metrics-text.js';
import { startRelay, type RunningRelay } from '../server.js';

export type { RunningRelay };

/** A relay on 127.0.0.1, on a free port, in memory unless told otherwise. */
export function startTestRelay(opts: RelayOptions = {}): Promise<RunningRelay> {
  return startRelay({ host: '127.0.0.1', port: 0, db: ':memory:', ...opts });
}

export interface SharedRelay {
  /** ws:// URL of the file's relay (valid inside tests, once beforeAll ran). */
  readonly url: string;
  readonly pool: ClientPool;
}

/**
 * One relay for a whole test file: started before all tests, its connections
 * closed after each (printing the wire log when the test failed), stopped after all.
 */
export function sharedRelay(opts: RelayOptions = {}): SharedRelay {
  let relay: RunningRelay | undefined;
  const pool = new ClientPool();
  beforeAll(async () => {
    relay = await startTestRelay(opts);
  });
  afterEach(async ({ task }) => {
    await pool.closeAll(task.result?.state === 'fail');
  });
  afterAll(async () => {
    await relay?.close();
  });
  return {
    pool,
    get url(): string {
      if (!relay) throw new Error('sharedRelay: the relay is not started yet (use it inside a test)');
      return relay.url;
    },
  };
}

export interface FaultRelays {
  readonly pool: ClientPool;
  /** A relay with `fault` switched on (and `opts` over the file's defaults), closed after the test. */
  relayWith(fault: FaultName, opts?: RelayOptions): Promise<RunningRelay>;
  /** A test that shows `fault` breaking its rule, named after both; recorded in `covered`. */
  faultIt(fault: FaultName, rule: string, fn: () => Promise<void>): void;
  /** The faults faultIt was given, so a file can check its list of fault tests is complete. */
  readonly covered: ReadonlySet<FaultName>;
}

/** For a file of fault-switch tests: a relay per test, its connections and the relay closed after each (the wire log printed when it failed). */
export function faultRelays(defaults: RelayOptions = {}): FaultRelays {
  const pool = new ClientPool();
  const relays: RunningRelay[] = [];
  const covered = new Set<FaultName>();
  afterEach(async ({ task }) => {
    await pool.closeAll(task.result?.state === 'fail');
    await Promise.all(relays.splice(0).map((r) => r.close()));
  });
  return {
    pool,
    covered,
    async relayWith(fault, opts = {}) {
      const relay = await startTestRelay({ ...defaults, ...opts, faults: [fault] });
      relays.push(relay);
      return relay;
    },
    faultIt(fault, rule, fn) {
      covered.add(fault);
      it(`fault ${fault}: ${rule} (breaks ${FAULTS[fault].breaks.join(', ')})`, fn);
    },
  };
}

/**
 * The connections one test opens. `closeAll` in afterEach closes them; when
 * the test failed it prints their shared wire log first.
 */
export class ClientPool {
  readonly log: WireEntry[] = [];
  private readonly clients: RelayClient[] = [];
  private counter = 0;

  /** Client options that write into this pool's log (for the choreography helpers). */
  get opts(): ClientOptions {
    return { log: this.log };
  }

  /** A connection as it opens: nothing awaited, nothing sent. */
  async connectRaw(url: string, label = this.nextLabel()): Promise<RelayClient> {
    const client = await RelayClient.connect(url, { log: this.log, label });
    this.clients.push(client);
    return client;
  }

  /** An unauthenticated connection (the challenge is awaited, not answered). */
  async connect(url: string, label = this.nextLabel()): Promise<RelayClient> {
    const client = await RelayClient.connect(url, { log: this.log, label });
    this.clients.push(client);
    await client.waitForChallenge();
    return client;
  }

  /** A connection authenticated as every one of `keys`, in order (kp-auth-multi). */
  async connectAs(url: string, ...keys: Keys[]): Promise<RelayClient> {
    const [first, ...rest] = keys;
    if (first === undefined) throw new Error('connectAs needs at least one key');
    const { client } = await connectAs(url, first, { log: this.log, label: this.nextLabel() });
    this.clients.push(client);
    for (const k of rest) {
      const reply = await client.auth(k);
      if (!reply.ok) throw new Error(`second AUTH refused: ${reply.message}`);
    }
    return client;
  }

  /** Closes every connection opened so far; the log is kept. */
  async closeClients(): Promise<void> {
    const clients = this.clients.splice(0);
    await Promise.all(clients.map((c) => c.close()));
  }

  /** For afterEach: prints the log when the test failed, closes everything, starts a fresh log. */
  async closeAll(failed = false): Promise<void> {
    if (failed) printLog(this.log);
    await this.closeClients();
    this.log.length = 0;
  }

  private nextLabel(): string {
    this.counter += 1;
    return `c${this.counter}`;
  }
}

export function printLog(log: readonly WireEntry[], last = 80): void {
  const lines = log.slice(-last).map((e) => {
    const arrow = e.dir === 'sent' ? '>>' : e.dir === 'received' ? '<<' : '--';
    const frame = e.frame.length > 300 ? `${e.frame.slice(0, 300)}...` : e.frame;
    return `${String(e.t).padStart(6)} ${arrow} ${frame}`;
  });
  console.log(`wire log (last ${lines.length} frames):\n${lines.join('\n')}`);
}

/**
 * Opens a live subscription that hands out nothing (`limit: 0`, kp-req-scope)
 * and returns its id once EOSE arrived. Throws when the relay closed it.
 */
export async function liveSub(client: RelayClient, filter: Filter = { kinds: [KIND.keyPackage] }): Promise<string> {
  const res = await client.req([{ ...filter, limit: 0 }]);
  if (res.closed !== undefined) throw new Error(`live subscription refused: ${res.closed}`);
  if (res.events.length > 0) throw new Error(`a limit:0 subscription returned ${res.events.length} events`);
  return res.subId;
}

/** `promise`, or a rejection saying what was awaited and for how long; the timer goes with it. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves once `condition()` holds (checked every 5 ms), or rejects after `ms` saying what it waited for. */
export async function waitUntil(condition: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() >= deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export function idsOf(events: readonly NostrEvent[]): string[] {
  return events.map((e) => e.id);
}

export function sortedIds(events: readonly NostrEvent[]): string[] {
  return idsOf(events).sort();
}

/** Flips the last hex digit of a string (a signature or an id). */
function flipLastHex(hex: string): string {
  const last = hex.slice(-1);
  return hex.slice(0, -1) + (last === '0' ? '1' : '0');
}

/** The same event with a signature that does not verify (its id still matches). */
export function withBadSig(event: NostrEvent): NostrEvent {
  return { ...event, sig: flipLastHex(event.sig) };
}

/** The same event whose id is no longer the hash of its serialization. */
export function withBadId(event: NostrEvent): NostrEvent {
  return { ...event, id: flipLastHex(event.id) };
}

/** A signed kind 447 with exactly the given tags (for breaking its form). */
export function keyPackageRequest(keys: Keys, tags: string[][], createdAt = nowSeconds()): NostrEvent {
  return sign({ kind: KIND.keyPackageRequest, created_at: createdAt, tags, content: '' }, keys);
}

/** A signed event of any kind. */
export function signedEvent(keys: Keys, kind: number, tags: string[][] = [], content = '', createdAt = nowSeconds()): NostrEvent {
  return sign({ kind, created_at: createdAt, tags, content }, keys);
}

/** A NIP-42 AUTH event for the connection's challenge, unless the test overrides parts of it. */
export function authEvent(
  client: RelayClient,
  keys: Keys,
  over: { kind?: number; createdAt?: number; tags?: string[][] } = {},
): NostrEvent {
  if (client.challenge === undefined) throw new Error('no challenge received yet');
  return sign(
    {
      kind: over.kind ?? KIND.auth,
      created_at: over.createdAt ?? nowSeconds(),
      tags: over.tags ?? [
        [TAG.relay, client.url],
        [TAG.challenge, client.challenge],
      ],
      content: '',
    },
    keys,
  );
}

/** Sends an already-built AUTH event and waits for its OK. */
export async function sendAuth(client: RelayClient, event: NostrEvent): Promise<OkReply> {
  client.send(['AUTH', event]);
  const m = await client.next((x) => x[0] === 'OK' && x[1] === event.id, 'OK for AUTH');
  return { ok: m[2] === true, message: typeof m[3] === 'string' ? m[3] : '' };
}

/** The next CLOSED for `subId`. */
export async function closedFor(client: RelayClient, subId: string, timeoutMs?: number): Promise<string> {
  const m = await client.next((x) => x[0] === 'CLOSED' && x[1] === subId, `CLOSED for ${subId}`, timeoutMs);
  return m[2] as string;
}

/** The EVENT frames of kind 443 among `frames`, as [subId, event] pairs. */
export function keyPackageFrames(frames: readonly RelayMessage[]): { subId: string; event: NostrEvent }[] {
  const out: { subId: string; event: NostrEvent }[] = [];
  for (const m of frames) {
    if (m[0] === 'EVENT' && m[2].kind === KIND.keyPackage) out.push({ subId: m[1], event: m[2] });
  }
  return out;
}

/** How many times each value occurs. */
export function countBy(values: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return counts;
}

/** GET the NIP-11 document from the relay's HTTP URL. */
export async function fetchRelayInfo(relay: RunningRelay): Promise<{ status: number; headers: Headers; info: RelayInformation }> {
  const res = await fetch(relay.httpUrl, { headers: { Accept: 'application/nostr+json' } });
  const info = (await res.json()) as RelayInformation;
  return { status: res.status, headers: res.headers, info };
}

/** GET /metrics: status, content type and the parsed samples. */
export async function fetchMetrics(relay: RunningRelay): Promise<{ status: number; contentType: string; text: string; samples: MetricSample[] }> {
  const res = await fetch(`${relay.httpUrl}/metrics`);
  const text = await res.text();
  return { status: res.status, contentType: res.headers.get('content-type') ?? '', text, samples: parseMetrics(text) };
}

/**
 * The sum of every sample whose name and labels (`name{labels}`) match
 * `pattern`. Metric names are not fixed by the profile, so tests match loosely.
 */
export function metricSum(samples: readonly MetricSample[], pattern: RegExp): number {
  return samples.filter((s) => pattern.test(s.name + s.labels)).reduce((sum, s) => sum + s.value, 0);
}

/** Whether any sample's name and labels match `pattern`. */
export function hasMetric(samples: readonly MetricSample[], pattern: RegExp): boolean {
  return samples.some((s) => pattern.test(s.name + s.labels));
}
