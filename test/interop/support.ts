/**
 * Shared code of the interop tests: real client libraries against the
 * reference relay, each set up the way its own documentation says, each
 * scenario sent as the library's first message on a fresh connection.
 *
 * - A `Setup` is one library configuration: three operations (publish a
 *   protected KeyPackage as its owner, fetch an owner's KeyPackages by REQ,
 *   ask by kind 447 into a `limit: 0` subscription), each on a new library
 *   instance that it closes again (at once when the test stops waiting).
 * - `WireTap` is a `ws` WebSocket subclass handed to the library (as its
 *   WebSocket implementation, or as the global one: Node 20 has none). It
 *   records every frame, each with the operation that opened its socket (so
 *   operations can run side by side), and delivers received frames late, as a
 *   network does. A run can then tell what went over the wire: whether the
 *   request left before the AUTH, whether the relay refused it first, how many
 *   KeyPackages the library was handed.
 * - `runPublish`, `runFetch`, `runAsk447` and `runChain` run scenarios 1-4
 *   once, with fresh keys, and return what they observed; `interopSuite`
 *   registers a setup's scenarios as tests against a relay of its own, each
 *   looped (20 runs, or fewer when a 12 s budget runs out), and checks every
 *   run against what the setup is expected to do: work (`FirstAnswer`), or a
 *   pinned incompatibility (`Pin`).
 *
 * The owner's KeyPackages a scenario needs beforehand are published, and the
 * owner's inventory is read, with the repository's own client (`client/`),
 * never through the library under test.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inventory, publishKeyPackages } from '../../client/choreography.js';
import { nowSeconds } from '../../client/relay-client.js';
import { keyPackage } from '../../fixtures/events.js';
import { newKeys, sign, type Keys } from '../../protocol/crypto.js';
import type { Filter, NostrEvent } from '../../protocol/messages.js';
import { KIND, TAG } from '../../protocol/profile.js';
import type { RelayOptions } from '../../reference-relay/config.js';
import { startTestRelay, waitUntil, within, type RunningRelay } from '../../reference-relay/test/harness.js';

// ---------------------------------------------------------------- relay, waits

/** A reference relay on 127.0.0.1, on a free port, in memory. */
export function startInteropRelay(opts: RelayOptions = {}): Promise<RunningRelay> {
  return startTestRelay(opts);
}

export { within } from '../../reference-relay/test/harness.js';

/** Settles `promise` into a value or the error's message (a timeout included), for observations. */
export async function settle<T>(promise: Promise<T>, ms: number, what: string): Promise<Outcome<T>> {
  try {
    return { ok: true, value: await within(promise, ms, what) };
  } catch (err) {
    return { ok: false, error: err instanceof Error ? err.message : String(err) };
  }
}

// ---------------------------------------------------------------- wire tap

/** The library operation running in this async context: frames of the sockets it opens are its own. */
const currentOp = new AsyncLocalStorage<number>();
let lastOp = 0;

/** Runs `fn` as a new operation; returns its id with its result. Operations may run side by side. */
async function traced<T>(fn: () => Promise<T>): Promise<{ op: number; result: T }> {
  const op = ++lastOp;
  return { op, result: await currentOp.run(op, fn) };
}

export interface WireFrame {
  /** ms since the tap was created */
  t: number;
  /** which socket of the tap (1, 2, …) */
  socket: number;
  /** the operation (see `traced`) during which the library opened the socket */
  op: number | undefined;
  dir: 'sent' | 'received';
  text: string;
  message: unknown[] | undefined;
}

/**
 * A `ws` WebSocket class that records every text frame its instances send and
 * receive, and can deliver received frames late (`latencyMs`), as a network
 * does: the relay's challenge then reaches the library after the library sent
 * its first request, as in a browser or over any real link. (On loopback,
 * Node and `ws` often hand the library the challenge in the same turn as the
 * open, so an eager library authenticates before its first request and the
 * case the relay's grace is for never happens.)
 */
export class WireTap {
  readonly frames: WireFrame[] = [];
  /** The class to hand the libraries: `ws`'s, recording and (with latencyMs) delaying. */
  readonly WebSocket: new (address: string | URL, protocols?: string | string[]) => WebSocket;
  /** Received frames (and the close) reach the library this many ms late, in order. */
  readonly latencyMs: number;
  private sockets = 0;
  private readonly open = new Set<number>();
  private readonly started = Date.now();

  constructor(opts: { latencyMs?: number } = {}) {
    this.latencyMs = opts.latencyMs ?? 0;
    const record = (socket: number, op: number | undefined, dir: WireFrame['dir'], text: string): void => {
      let message: unknown[] | undefined;
      try {
        const parsed: unknown = JSON.parse(text);
        if (Array.isArray(parsed)) message = parsed;
      } catch {
        message = undefined;
      }
      this.frames.push({ t: Date.now() - this.started, socket, op, dir, text, message });
    };
    const nextSocket = (): number => {
      this.open.add(++this.sockets);
      return this.sockets;
    };
    const closed = (socket: number): void => void this.open.delete(socket);
    const latency = (): number => this.latencyMs;
    this.WebSocket = class TappedWebSocket extends WebSocket {
      constructor(address: string | URL, protocols?: string | string[]) {
        super(address, protocols);
        const socket = nextSocket();
        const op = currentOp.getStore();
        this.on('close', () => closed(socket));
        this.on('message', (data: WebSocket.RawData, isBinary: boolean) => {
          if (!isBinary) record(socket, op, 'received', data.toString());
        });
        const send = this.send.bind(this) as (...a: unknown[]) => void;
        this.send = ((data: unknown, ...rest: unknown[]) => {
          if (typeof data === 'string') record(socket, op, 'sent', data);
          send(data, ...rest);
        }) as WebSocket['send'];
        const emit = this.emit.bind(this) as (event: string | symbol, ...a: unknown[]) => boolean;
        this.emit = ((event: string | symbol, ...rest: unknown[]) => {
          const ms = latency();
          if (ms <= 0 || (event !== 'message' && event !== 'close')) return emit(event, ...rest);
          setTimeout(() => emit(event, ...rest), ms);
          return true;
        }) as WebSocket['emit'];
      }
    };
  }

  /**
   * Waits (at most `ms`) until every AUTH the current operation's sockets sent
   * has its OK: for the end of an operation, so a library is not closed with
   * its AUTH in flight (nostr-tools then rethrows "relay connection closed by
   * us" from a promise nobody awaits). Resolves whether or not they came.
   */
  async authsAnswered(ms = 1000): Promise<void> {
    const op = currentOp.getStore();
    const pending = (): boolean => {
      const frames = this.frames.filter((f) => f.op === op);
      const answered = new Set(frames.filter((f) => f.dir === 'received' && f.message?.[0] === 'OK').map((f) => f.message![1]));
      return frames.some((f) => f.dir === 'sent' && f.message?.[0] === 'AUTH' && !answered.has((f.message[1] as { id?: unknown } | null)?.id));
    };
    await waitUntil(() => !pending(), ms, 'the OK of every AUTH sent').catch(() => undefined);
  }

  /** For afterAll: every socket a library opened is closed again (waits up to `ms` for the last closes). */
  async expectAllClosed(ms = 3000): Promise<void> {
    await waitUntil(() => this.open.size === 0, ms, `the libraries to close their sockets (${this.open.size} of ${this.sockets} still open)`);
  }

  /** The frames of the sockets operation `op` opened. */
  ofOp(op: number): WireFrame[] {
    return this.frames.filter((f) => f.op === op);
  }

  /** Installs the tapped class as `globalThis.WebSocket` (NDK and nostrify use the global; Node 20 has none). Returns the undo. */
  installGlobally(): () => void {
    const g = globalThis as { WebSocket?: unknown };
    const before = g.WebSocket;
    g.WebSocket = this.WebSocket;
    return () => {
      g.WebSocket = before;
    };
  }
}

/** What the frames of one operation say about it. */
export interface WireSummary {
  /** The library sent the request (the EVENT, the asking REQ, the 447) before any AUTH, or sent no AUTH at all. */
  requestBeforeAuth: boolean;
  /** AUTH frames the library sent, and how the relay answered them. */
  authsSent: number;
  authVerdicts: (true | string)[];
  /** The relay's answers to the request, in order: `true`, or the refusal's message (OK false, CLOSED). */
  verdicts: (true | string)[];
  /**
   * ms between the relay's OK to the library's AUTH and its first answer to
   * the request, on the library's side (received frames are equally late):
   * small when the AUTH released a held request, the rest of the grace when not.
   */
  answeredAfterAuthMs: number | undefined;
  /** How many times the library sent the request (a retry after a refusal makes 2). */
  requestsSent: number;
  /** The messages the library sent, in order (for pins that depend on their order). */
  sent: unknown[][];
  /** Ids of the kind 443 events the relay sent the library's sockets (with repeats). */
  keyPackagesReceived: string[];
  /** Every frame, as text, for failure messages. */
  log: string[];
}

function isAskingReq(m: unknown[]): boolean {
  return m[0] === 'REQ' && m.slice(2).some((f) => {
    const filter = f as Filter | null;
    return filter !== null && Array.isArray(filter.kinds) && filter.kinds.includes(KIND.keyPackage) && filter.limit !== 0 && filter.authors !== undefined;
  });
}

/**
 * Summarises frames around one request: an EVENT with `eventId` (a publish,
 * a 447), or else the asking REQs (kind 443 with `authors`, not `limit: 0`).
 */
export function summarise(frames: readonly WireFrame[], eventId?: string): WireSummary {
  const isRequest = (m: unknown[]): boolean =>
    eventId !== undefined ? m[0] === 'EVENT' && (m[1] as { id?: unknown } | null)?.id === eventId : isAskingReq(m);
  const sent = frames.filter((f) => f.dir === 'sent' && f.message !== undefined);
  const received = frames.filter((f) => f.dir === 'received' && f.message !== undefined);
  const firstAuth = sent.findIndex((f) => f.message![0] === 'AUTH');
  const firstRequest = sent.findIndex((f) => isRequest(f.message!));
  const authIds = new Set(sent.filter((f) => f.message![0] === 'AUTH').map((f) => (f.message![1] as { id?: string } | null)?.id));
  const requestSubIds = new Set(sent.filter((f) => eventId === undefined && isRequest(f.message!)).map((f) => f.message![1]));
  const okAnswer = (m: unknown[]): true | string => (m[2] === true ? true : String(m[3] ?? ''));
  const verdicts: (true | string)[] = [];
  let firstVerdictAt: number | undefined;
  for (const f of received) {
    const m = f.message!;
    const before = verdicts.length;
    if (eventId !== undefined && m[0] === 'OK' && m[1] === eventId) verdicts.push(okAnswer(m));
    if (eventId === undefined && requestSubIds.has(m[1])) {
      if (m[0] === 'CLOSED') verdicts.push(String(m[2]));
      if (m[0] === 'EOSE') verdicts.push(true);
      // A hand-out's first KeyPackage is its answer's first frame.
      if (m[0] === 'EVENT' && firstVerdictAt === undefined) firstVerdictAt = f.t;
    }
    if (verdicts.length > before && firstVerdictAt === undefined) firstVerdictAt = f.t;
  }
  const authOkAt = received.find((f) => f.message![0] === 'OK' && f.message![2] === true && authIds.has(f.message![1] as string))?.t;
  return {
    requestBeforeAuth: firstRequest >= 0 && (firstAuth < 0 || firstRequest < firstAuth),
    authsSent: authIds.size,
    authVerdicts: received.filter((f) => f.message![0] === 'OK' && authIds.has(f.message![1] as string)).map((f) => okAnswer(f.message!)),
    verdicts,
    answeredAfterAuthMs: authOkAt === undefined || firstVerdictAt === undefined ? undefined : firstVerdictAt - authOkAt,
    requestsSent: sent.filter((f) => isRequest(f.message!)).length,
    sent: sent.map((f) => f.message!),
    keyPackagesReceived: received
      .filter((f) => f.message![0] === 'EVENT' && (f.message![2] as NostrEvent | null)?.kind === KIND.keyPackage)
      .map((f) => (f.message![2] as NostrEvent).id),
    log: frames.map((f) => `${String(f.t).padStart(6)} s${f.socket} ${f.dir === 'sent' ? '>>' : '<<'} ${f.text.length > 200 ? `${f.text.slice(0, 200)}…` : f.text}`),
  };
}

// ---------------------------------------------------------------- setups

/**
 * One library configuration. Every operation opens its own library instance
 * (a fresh connection) and closes it before it returns. When the test stops
 * waiting for it, `signal` aborts: the operation must then close its library
 * instance at once (`closeOnAbort`), since the library may never settle.
 */
export interface Setup {
  /** e.g. "nostr-tools SimplePool, per-call onauth" */
  name: string;
  /**
   * Publishes `event` as its owner `keys` (who answers AUTH). Resolves when the
   * library reports it accepted; rejects with the library's error otherwise.
   */
  publish(url: string, keys: Keys, event: NostrEvent, signal: AbortSignal): Promise<void>;
  /** Sends `filter` as `keys`, closes the subscription at EOSE and resolves with the events the library delivered. */
  fetch(url: string, keys: Keys, filter: Filter, signal: AbortSignal): Promise<NostrEvent[]>;
  /**
   * Opens a `{kinds:[443], limit:0}` subscription as `keys`, then sends the
   * signed kind 447 `request` through the library. Resolves once the library
   * reports the 447 accepted, with the events the subscription received;
   * rejects with the library's error otherwise.
   */
  ask447(url: string, keys: Keys, request: NostrEvent, signal: AbortSignal): Promise<NostrEvent[]>;
}

/** Calls `close` (once) when `signal` aborts: a library instance the test stopped waiting for. */
export function closeOnAbort(signal: AbortSignal, close: () => unknown): void {
  signal.addEventListener('abort', () => void Promise.resolve().then(close).catch(() => undefined), { once: true });
}

/**
 * Runs one library operation as a traced operation, bounded by `ms`: its
 * outcome, and the frames of the sockets it opened. When the bound passes, the
 * operation's library instance is closed (its signal aborts).
 */
async function operate<T>(ctx: Context, what: string, operation: (signal: AbortSignal) => Promise<T>): Promise<{ outcome: Outcome<T>; ms: number; frames: WireFrame[] }> {
  const stop = new AbortController();
  let settled = false;
  const started = Date.now();
  const { op, result: outcome } = await traced(() =>
    settle(
      operation(stop.signal).finally(() => (settled = true)),
      ctx.operationMs ?? OPERATION_MS,
      what,
    ),
  );
  const ms = Date.now() - started;
  if (!settled) stop.abort();
  return { outcome, ms, frames: ctx.tap.ofOp(op) };
}

/** A kind 443 event template signer for the libraries' AUTH hooks. */
export function signerFor(keys: Keys): (template: { kind: number; created_at: number; tags: string[][]; content: string }) => NostrEvent {
  return (template) => sign(template, keys);
}

/** A NIP-42 AUTH event for `challenge` (for libraries whose hook gets only the challenge). */
export function authEventFor(keys: Keys, url: string, challenge: string): NostrEvent {
  return sign({ kind: KIND.auth, created_at: nowSeconds(), tags: [[TAG.relay, url], [TAG.challenge, challenge]], content: '' }, keys);
}

/** A signed kind 447 asking for `owner`'s KeyPackages (no `n`: max_per_query). */
export function keyPackageRequest(requester: Keys, owner: string): NostrEvent {
  return sign({ kind: KIND.keyPackageRequest, created_at: nowSeconds(), tags: [[TAG.pubkey, owner]], content: '' }, requester);
}

// ---------------------------------------------------------------- scenarios

/** How long one library operation may take (its own timeouts are about 4.4 s in nostr-tools; the grace is 2 s). */
export const OPERATION_MS = 8000;

export type Outcome<T> = { ok: true; value: T } | { ok: false; error: string };

export interface Observed<T> {
  /** What the library reported: its value, or its error (a timeout included). */
  outcome: Outcome<T>;
  ms: number;
  wire: WireSummary;
  /** The owner's stored KeyPackages afterwards, read as the owner. */
  stored: string[];
}

export interface PublishRun extends Observed<void> {
  event: NostrEvent;
}

export interface FetchRun extends Observed<string[]> {
  /** The owner's KeyPackages, oldest first, as published beforehand. */
  published: NostrEvent[];
}

export type AskRun = FetchRun;

export interface Context {
  url: string;
  tap: WireTap;
  /** ms the library gets for one operation */
  operationMs?: number;
}

/** Scenario 1: the owner publishes a protected KeyPackage through the library, first message on its connection. */
export async function runPublish(ctx: Context, setup: Setup, owner: Keys = newKeys()): Promise<PublishRun> {
  const event = await keyPackage(owner, { extraTags: [[TAG.protected]] });
  const { outcome, ms, frames } = await operate(ctx, `${setup.name} to publish a protected KeyPackage`, (signal) => setup.publish(ctx.url, owner, event, signal));
  const wire = summarise(frames, event.id);
  const stored = (await inventory(ctx.url, owner)).map((e) => e.id);
  return { event, outcome, ms, wire, stored };
}

/** Scenario 2: 3 KeyPackages published beforehand; a requester asks for `limit: 2` by REQ, first message on its connection. */
export async function runFetch(ctx: Context, setup: Setup, owner: Keys = newKeys(), published?: NostrEvent[]): Promise<FetchRun> {
  published ??= await publishKeyPackages(ctx.url, owner, 3);
  const requester = newKeys();
  const filter: Filter = { kinds: [KIND.keyPackage], authors: [owner.pubkey], limit: 2 };
  const { outcome: fetched, ms, frames } = await operate(ctx, `${setup.name} to fetch KeyPackages by REQ`, (signal) => setup.fetch(ctx.url, requester, filter, signal));
  const wire = summarise(frames);
  const stored = (await inventory(ctx.url, owner)).map((e) => e.id);
  const outcome = fetched.ok ? { ok: true as const, value: fetched.value.map((e) => e.id) } : fetched;
  return { published, outcome, ms, wire, stored };
}

/** Scenario 3: 3 KeyPackages published beforehand; a requester sends a kind 447 into an open `limit: 0` subscription. */
export async function runAsk447(ctx: Context, setup: Setup, owner: Keys = newKeys(), published?: NostrEvent[]): Promise<AskRun> {
  published ??= await publishKeyPackages(ctx.url, owner, 3);
  const requester = newKeys();
  const request = keyPackageRequest(requester, owner.pubkey);
  const { outcome: asked, ms, frames } = await operate(ctx, `${setup.name} to ask by kind 447`, (signal) => setup.ask447(ctx.url, requester, request, signal));
  const wire = summarise(frames, request.id);
  const stored = (await inventory(ctx.url, owner)).map((e) => e.id);
  const outcome = asked.ok ? { ok: true as const, value: asked.value.map((e) => e.id) } : asked;
  return { published, outcome, ms, wire, stored };
}

/**
 * Scenario 4, one owner through all three: the owner publishes a protected
 * KeyPackage through the library (P), then 3 older ones with the plain client
 * (A, B, C); requester 1 fetches 2 by REQ (A, B), requester 2 asks by 447 for
 * 2 (C, then P, the last resort, handed out and kept).
 */
export async function runChain(ctx: Context, setup: Setup): Promise<{ publish: PublishRun; fetch: FetchRun; ask: AskRun; stored: string[]; all: NostrEvent[] }> {
  const owner = newKeys();
  const publish = await runPublish(ctx, setup, owner);
  const older = await publishKeyPackages(ctx.url, owner, 3);
  const all = [...older, publish.event];
  const fetch = await runFetch(ctx, setup, owner, all);
  const ask = await runAsk447(ctx, setup, owner, all);
  const stored = (await inventory(ctx.url, owner)).map((e) => e.id);
  return { publish, fetch, ask, stored, all };
}

// ---------------------------------------------------------------- checks

/** How the relay's answers to the request look in a run where the setup works. */
export type FirstAnswer =
  /** the library's AUTH reached the relay before the request, which was answered at once */
  | 'at-once'
  /**
   * the request left before the library's AUTH (it answers the challenge when
   * it arrives); the relay held it (kp-auth-grace) and answered it once the
   * AUTH came, well within the grace, with no refusal
   */
  | 'held-until-auth'
  /** refused `auth-required:` first, then the library authenticated and sent it again */
  | 'after-retry';

function sorted(ids: readonly string[]): string[] {
  return [...ids].sort();
}

/** A request held for the AUTH is answered right after it; without the release it would wait out the rest of the 2000 ms grace (over 1900 ms here). */
const RELEASED_BY_AUTH_MS = 1000;

function expectAnswers(wire: WireSummary, first: FirstAnswer): void {
  expect(wire.authsSent, 'the library answered the challenge with an AUTH').toBeGreaterThan(0);
  expect(wire.authVerdicts, 'the relay accepted the AUTH').toContain(true);
  if (first === 'after-retry') {
    expect(wire.verdicts.length, 'a refusal, then an answer').toBe(2);
    expect(wire.verdicts[0], 'the first answer was a refusal').toMatch(/^auth-required: /);
    expect(wire.verdicts[1], 'the second answer').toBe(true);
    expect(wire.requestsSent, 'the library sent the request again after authenticating').toBe(2);
    return;
  }
  expect(wire.verdicts, 'the relay answered the first request, without a refusal').toEqual([true]);
  expect(wire.requestsSent, 'the request was sent once').toBe(1);
  if (first === 'held-until-auth') {
    expect(wire.requestBeforeAuth, 'the request left before the AUTH (the case the grace is for)').toBe(true);
    expect(wire.answeredAfterAuthMs, `the AUTH released the held request (answered within ${RELEASED_BY_AUTH_MS} ms of the AUTH's OK)`).toBeLessThan(RELEASED_BY_AUTH_MS);
  } else {
    expect(wire.requestBeforeAuth, 'the AUTH left before the request').toBe(false);
  }
}

/** Scenario 1 worked: the publish resolved, the KeyPackage is stored (it is the owner's only one). */
export function expectPublished(run: PublishRun, first: FirstAnswer): void {
  expect(run.outcome, 'the library reported the publish accepted').toEqual({ ok: true, value: undefined });
  expectAnswers(run.wire, first);
  expect(run.stored, "the owner's inventory is the protected KeyPackage").toEqual([run.event.id]);
}

/**
 * Scenarios 2 and 3 worked: the library delivered the owner's 2 oldest
 * KeyPackages, the sockets were handed nothing else, and the inventory is the
 * third (published 3, handed out 2).
 */
export function expectHandedOut(run: FetchRun | AskRun, first: FirstAnswer): void {
  const [a, b, c] = run.published;
  expect(run.outcome, 'the library delivered the 2 oldest KeyPackages').toEqual({ ok: true, value: expect.any(Array) });
  if (!run.outcome.ok) return;
  expect(sorted(run.outcome.value), 'the library delivered the 2 oldest KeyPackages').toEqual(sorted([a!.id, b!.id]));
  expectAnswers(run.wire, first);
  expect(sorted(run.wire.keyPackagesReceived), 'the relay handed the sockets exactly those 2 (nothing hidden from the app)').toEqual(sorted([a!.id, b!.id]));
  expect(run.stored, "the owner's inventory: published 3 minus handed out 2").toEqual([c!.id]);
}

/** Scenario 4 worked: 4 published, A B then C P handed out, each once; P, the last resort, is still stored. */
export function expectChain(chain: Awaited<ReturnType<typeof runChain>>, first: { publish: FirstAnswer; fetch: FirstAnswer; ask: FirstAnswer }): void {
  const [a, b, c, p] = chain.all;
  expectAnswers(chain.publish.wire, first.publish);
  expectAnswers(chain.fetch.wire, first.fetch);
  expectAnswers(chain.ask.wire, first.ask);
  expect(chain.publish.outcome.ok, 'the protected publish was accepted').toBe(true);
  expect(chain.fetch.outcome, 'the REQ got A and B').toEqual({ ok: true, value: expect.arrayContaining([a!.id, b!.id]) });
  expect(chain.ask.outcome, 'the 447 got C and P').toEqual({ ok: true, value: expect.arrayContaining([c!.id, p!.id]) });
  const handed = [...chain.fetch.wire.keyPackagesReceived, ...chain.ask.wire.keyPackagesReceived];
  expect(sorted(handed), 'every KeyPackage handed out once, across the scenarios').toEqual(sorted([a!.id, b!.id, c!.id, p!.id]));
  expect(chain.stored, 'published 4, consumed 3: the last resort stays').toEqual([p!.id]);
}

// ---------------------------------------------------------------- loops and suites

export interface LoopOptions {
  /** runs to make (default 20) */
  runs?: number;
  /** stop starting runs after this many ms (default 12 000); the runs made are reported */
  budgetMs?: number;
  /** stop after this many failed runs (default 3), so a broken setup does not take runs × timeouts */
  maxFailures?: number;
}

export interface LoopResult {
  runs: number;
  failures: { run: number; error: string }[];
  msPerRun: number[];
}

/** Runs `body` (fresh keys and connections each time) until `runs` are made or the budget is spent; a string `body` returns names the branch the run took. */
export async function loop(label: string, body: (run: number) => Promise<unknown>, opts: LoopOptions = {}): Promise<LoopResult> {
  const runs = opts.runs ?? 20;
  const budgetMs = opts.budgetMs ?? 12_000;
  const maxFailures = opts.maxFailures ?? 3;
  const started = Date.now();
  const result: LoopResult = { runs: 0, failures: [], msPerRun: [] };
  const branches = new Map<string, number>();
  while (result.runs < runs && result.failures.length < maxFailures && (result.runs === 0 || Date.now() - started < budgetMs)) {
    const run = result.runs + 1;
    const t0 = Date.now();
    try {
      const branch = await body(run);
      if (typeof branch === 'string') branches.set(branch, (branches.get(branch) ?? 0) + 1);
    } catch (err) {
      result.failures.push({ run, error: err instanceof Error ? err.message : String(err) });
    }
    result.msPerRun.push(Date.now() - t0);
    result.runs = run;
  }
  if (process.env.KPSUITE_INTEROP_SUMMARY) {
    const ms = [...result.msPerRun].sort((x, y) => x - y);
    const median = ms[Math.floor(ms.length / 2)] ?? 0;
    const taken = branches.size === 0 ? '' : ` (${[...branches].map(([b, n]) => `${n}x ${b}`).join(', ')})`;
    console.log(`[interop] ${label}: ${result.runs - result.failures.length}/${result.runs} runs passed${taken}, median ${median} ms, max ${ms.at(-1) ?? 0} ms`);
  }
  return result;
}

/** Fails with the first failure's details (the check's message and the wire log it printed) and how many runs failed. */
export function expectAllPassed(result: LoopResult): void {
  if (result.failures.length === 0) return;
  const first = result.failures[0]!;
  throw new Error(`${result.failures.length} of ${result.runs} runs failed (stopped after ${result.failures.length}); run ${first.run}:\n${first.error}`);
}

/** Runs `check(run)`; on failure, adds the wire log of the run to the message. */
export function withWire<R extends { wire: WireSummary; extra?: WireSummary[] }>(run: R, check: (run: R) => unknown): unknown {
  try {
    return check(run);
  } catch (err) {
    const wires = [run.wire, ...(run.extra ?? [])];
    const logs = wires.map((w) => w.log.join('\n')).join('\n--\n');
    const observed = JSON.stringify(run, (key, value: unknown) => (['log', 'extra', 'sent', 'published', 'event'].includes(key) ? undefined : value));
    throw new Error(`${err instanceof Error ? err.message : String(err)}\nobserved: ${observed}\nwire:\n${logs}`);
  }
}

export interface Expectations {
  /** How the relay answers each scenario's request when the setup works; or a `Pin` when it does not, with why. */
  publish: FirstAnswer | Pin<PublishRun>;
  fetch: FirstAnswer | Pin<FetchRun>;
  ask447: FirstAnswer | Pin<AskRun>;
}

export interface Pin<R> {
  /** What the library does instead, and why (shown in the test name). */
  why: string;
  /** Asserts the observed behaviour, so the test fails when the library (or the relay) changes; may name the branch a run took. */
  check: (run: R) => unknown;
}

export interface SuiteOptions {
  /** The relay's options (one relay per suite, stopped after it). */
  relay?: RelayOptions;
  tap: WireTap;
  loop?: LoopOptions;
  operationMs?: number;
  /** Register scenario 4 (default: when 1-3 all work). */
  chain?: boolean;
}

const ANSWER_TEXT: Record<FirstAnswer, string> = {
  'at-once': 'works, AUTH first',
  'held-until-auth': 'works: request before AUTH, held by the grace until it came',
  'after-retry': 'works after a retry: refused auth-required first, the library authenticates and resends',
};

/**
 * Registers the scenarios of `setup` as looped tests (each run: fresh keys, a
 * fresh library instance, so each request is its first message) and checks
 * every run against `expected`.
 */
export function interopSuite(title: string, setup: Setup, expected: Expectations, opts: SuiteOptions): void {
  describe(title, () => {
    let relay: RunningRelay | undefined;
    beforeAll(async () => {
      relay = await startInteropRelay(opts.relay);
    });
    afterAll(async () => {
      await relay?.close();
    });
    const ctx = (): Context => {
      if (!relay) throw new Error('the relay did not start');
      return { url: relay.url, tap: opts.tap, ...(opts.operationMs === undefined ? {} : { operationMs: opts.operationMs }) };
    };
    const name = (scenario: string, e: FirstAnswer | Pin<never>): string => `${scenario}: ${typeof e === 'string' ? ANSWER_TEXT[e] : `PINNED: ${e.why}`}`;
    const timeout = 90_000;
    const looped = async <R extends { wire: WireSummary }>(label: string, run: () => Promise<R>, check: (r: R) => unknown): Promise<void> => {
      expectAllPassed(await loop(`${title} / ${label}`, async () => withWire(await run(), check), opts.loop));
    };

    const { publish, fetch, ask447 } = expected;
    it(name('1 owner publishes a protected KeyPackage, first message', publish), async () => {
      await looped('1 publish', () => runPublish(ctx(), setup), (r) => (typeof publish === 'string' ? expectPublished(r, publish) : publish.check(r)));
    }, timeout);

    it(name('2 REQ {kinds:[443], authors:[owner], limit:2}, first message', fetch), async () => {
      await looped('2 REQ', () => runFetch(ctx(), setup), (r) => (typeof fetch === 'string' ? expectHandedOut(r, fetch) : fetch.check(r)));
    }, timeout);

    it(name('3 kind 447 into an open {kinds:[443], limit:0}', ask447), async () => {
      await looped('3 447', () => runAsk447(ctx(), setup), (r) => (typeof ask447 === 'string' ? expectHandedOut(r, ask447) : ask447.check(r)));
    }, timeout);

    if (typeof publish === 'string' && typeof fetch === 'string' && typeof ask447 === 'string' && opts.chain !== false) {
      it('4 one owner through 1-3: inventory = published - handed out, last resort kept, nothing handed out twice', async () => {
        await looped(
          '4 chain',
          async () => {
            const chain = await runChain(ctx(), setup);
            return { ...chain, wire: chain.publish.wire, extra: [chain.fetch.wire, chain.ask.wire] };
          },
          (chain) => expectChain(chain, { publish, fetch, ask: ask447 }),
        );
      }, timeout);
    }
  });
}

// ---------------------------------------------------------------- pins shared by several libraries

/** The library reports the refusal of its first protected publish and never sends it again (it authenticates just after). */
export const refusedPublishNoRetry: Pin<PublishRun> = {
  why: 'the protected EVENT leaves before the AUTH; refused auth-required:, never resent',
  check(run) {
    expect(run.outcome, 'the library reports the refusal').toEqual({ ok: false, error: expect.stringMatching(/^auth-required: /) });
    expect(run.wire.requestBeforeAuth, 'the EVENT left before the AUTH').toBe(true);
    expect(run.wire.verdicts, 'one refusal').toEqual([expect.stringMatching(/^auth-required: /)]);
    expect(run.wire.requestsSent, 'never resent').toBe(1);
    expect(run.wire.authVerdicts, 'the library did authenticate, too late').toContain(true);
    expect(run.stored, 'nothing stored').toEqual([]);
  },
};

/** The library's REQ is refused, and the app gets an empty result as if the owner had no KeyPackages. */
export const silentlyEmptyFetch: Pin<FetchRun> = {
  why: 'the REQ leaves before the AUTH; CLOSED auth-required: ends it and the app gets [] as if there were none',
  check(run) {
    expect(run.outcome, 'the app gets an empty result, no error').toEqual({ ok: true, value: [] });
    expect(run.wire.requestBeforeAuth, 'the REQ left before the AUTH').toBe(true);
    expect(run.wire.verdicts, 'one refusal').toEqual([expect.stringMatching(/^auth-required: /)]);
    expect(run.wire.requestsSent, 'never resent').toBe(1);
    expect(run.wire.authVerdicts, 'the library did authenticate, too late').toContain(true);
    expect(run.stored.length, 'nothing consumed').toBe(3);
  },
};
