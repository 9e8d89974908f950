/**
 * What a conformance test gets: the relay's URL and limits, the shared client
 * choreography bound to one wire log, and assertions that record what was
 * expected and what was observed.
 */
import { setMaxListeners } from 'node:events';
import { connectAs as connectAsOn, inventory as inventoryOn, publishKeyPackages as publishOn } from '../client/choreography.js';
import { RelayClient, wireEntryOf, type ClientOptions, type WireEntry } from '../client/relay-client.js';
import { newKeys, type Keys } from '../protocol/crypto.js';
import type { NostrEvent, RelayInformation, RelayMessage } from '../protocol/messages.js';
import { prefixOf, type KeyPackageLimits } from '../protocol/profile.js';
import type { KeyPackageOptions } from '../fixtures/events.js';

/** The frame a verdict rests on; `quietMs` when the verdict is that nothing more arrived after it. */
export interface Decisive {
  entry: WireEntry;
  quietMs?: number;
}

/** What a test may name as the frame it judged: a received message, an event it carried, or a wire-log entry. */
export type Judged = RelayMessage | NostrEvent | WireEntry | Decisive;

/** The relay broke the rule under test. */
export class RuleBroken extends Error {
  constructor(
    message: string,
    readonly expected?: string,
    readonly observed?: string,
    readonly decisive?: Decisive,
  ) {
    super(message);
  }
}

/** A precondition is missing; the test cannot say pass or fail. */
export class Untested extends Error {}

/** Behaviour the profile leaves open, recorded rather than judged. */
export class Informational extends Error {}

export interface RunOptions {
  url: string;
  /** Limits from NIP-11 `keypackages` or flags; undefined when neither gave them. */
  limits: KeyPackageLimits | undefined;
  nip11: RelayInformation | undefined;
  /** How long to wait for any one reply. */
  timeoutMs: number;
  /** How long to wait when checking that nothing more arrives. */
  quietMs: number;
  /**
   * Whether the relay sent a NIP-42 challenge on connect when probed. When it
   * did not, clients do not wait for one on connect: they provoke it with a
   * request that needs AUTH (lazy AUTH), and tests that must authenticate are
   * untested only when no challenge comes with the refusal either.
   */
  sendsChallenge: boolean;
  /** The whole run's deadline: tests unfinished by then are errors. */
  deadline?: RunDeadline;
}

export interface RunDeadline {
  /** Epoch ms. */
  at: number;
  /** As given (--deadline), for messages. */
  seconds: number;
}

export class TestContext {
  readonly log: WireEntry[] = [];
  readonly epochMs = Date.now();
  waitedMs = 0;
  private readonly clients: RelayClient[] = [];
  /** Ends every connection of this test, also those the choreography opens on its own, and any opened late. */
  private readonly ended = new AbortController();
  /** A connection of this test dropped without a close frame: the relay may have gone down. */
  sawDrop = false;
  /** The last relay answer a test's wait was handed (or the frame before a quiet wait that saw nothing): a failure's default decisive frame. */
  private judged: Decisive | undefined;

  constructor(readonly options: RunOptions) {
    // One abort listener per connection: race tests open more than Node's default of 10, by design.
    setMaxListeners(0, this.ended.signal);
  }

  get url(): string {
    return this.options.url;
  }

  /** The relay's KeyPackage limits; tests that declare needsLimits always get them. */
  get limits(): KeyPackageLimits {
    const limits = this.options.limits;
    if (!limits) throw new Untested('the relay advertises no keypackages limits in NIP-11 and none were given as flags');
    return limits;
  }

  newKeys(): Keys {
    return newKeys();
  }

  /** A connection with nobody authenticated. */
  async connect(label = 'anon'): Promise<RelayClient> {
    const client = await RelayClient.connect(this.url, this.clientOptions(label));
    this.clients.push(client);
    return client;
  }

  /** A connection authenticated as `keys` (fresh keys when omitted). */
  async connectAs(label: string, keys: Keys = newKeys()): Promise<{ client: RelayClient; keys: Keys }> {
    const res = await connectAsOn(this.url, keys, this.clientOptions(label));
    this.clients.push(res.client);
    return res;
  }

  /** Publishes `count` KeyPackages as `owner` on a connection of their own; returns them oldest first. */
  publishKeyPackages(owner: Keys, count: number, keyPackage?: Omit<KeyPackageOptions, 'createdAt'>): Promise<NostrEvent[]> {
    return publishOn(this.url, owner, count, { ...this.clientOptions('owner', false), ...(keyPackage ? { keyPackage } : {}) });
  }

  /** The owner's stored KeyPackages, read as the owner. */
  inventory(owner: Keys): Promise<NostrEvent[]> {
    return inventoryOn(this.url, owner, this.clientOptions('owner'));
  }

  /** The frame a failure now would rest on by default: keep it to judge an answer after reading more (e.g. an inventory). */
  get lastAnswer(): Decisive | undefined {
    return this.judged;
  }

  /** Waits the quiet period on `client` and returns what arrived meanwhile. */
  async quiet(client: RelayClient): ReturnType<RelayClient['quietFor']> {
    this.waitedMs += this.options.quietMs;
    const before = client.lastTakenEntry;
    const waiting = client.quietFor(this.options.quietMs);
    // quietFor notes the wait synchronously: the fallback when nothing was taken on this connection yet.
    const waitNote = this.log[this.log.length - 1];
    const arrived = await waiting;
    // A challenge left over from connect (the client keeps it, nobody takes it) is not what arrived for the test.
    const answer = arrived.find((m) => m[0] !== 'AUTH');
    const first = answer && wireEntryOf(answer);
    const last = before ?? waitNote;
    if (first) this.judged = { entry: first };
    else if (last) this.judged = { entry: last, quietMs: this.options.quietMs };
    return arrived;
  }

  /** `entry` (a frame, or an event or message received in one) followed by `ms` of silence: for "nothing arrived" verdicts. */
  quietAfter(entry: Judged | undefined, ms = this.options.quietMs): Decisive | undefined {
    const found = entry && this.decisive(entry);
    return found && { entry: found.entry, quietMs: ms };
  }

  note(text: string): void {
    this.log.push({ t: Date.now() - this.epochMs, dir: 'note', frame: text });
  }

  // ---- assertions: each failure carries what the rule expects and what the relay did

  // `at` names the frame the verdict rests on; without it, the last relay answer the test was handed.

  fail(message: string, expected?: string, observed?: string, at?: Judged): never {
    throw new RuleBroken(message, expected, observed, (at && this.decisive(at)) ?? this.judged);
  }

  check(condition: boolean, message: string, expected: string, observed: string, at?: Judged): void {
    if (!condition) this.fail(message, expected, observed, at);
  }

  equal<T>(observed: T, expected: T, message: string, at?: Judged): void {
    if (JSON.stringify(observed) !== JSON.stringify(expected)) this.fail(message, JSON.stringify(expected), JSON.stringify(observed), at);
  }

  /**
   * Events compared field by field: NIP-01 fixes no key order, so two relays'
   * JSON of the same event may differ (strfry sorts keys).
   */
  sameEvents(observed: readonly NostrEvent[], expected: readonly NostrEvent[], message: string, at?: Judged): void {
    const fields = (e: NostrEvent): unknown[] => [e.id, e.pubkey, e.created_at, e.kind, e.tags, e.content, e.sig];
    this.equal(observed.map(fields), expected.map(fields), message, at);
  }

  /** An OK or CLOSED message must start with `prefix:`; `what` names it ("bob's OK for the 447"). */
  hasPrefix(message: string | undefined, prefix: string, what: string, at?: Judged): void {
    this.check(
      message !== undefined && prefixOf(message) === prefix,
      message === undefined ? `${what} carried no message, so no "${prefix}:" prefix` : `${what} said ${JSON.stringify(message)}, without the "${prefix}:" prefix`,
      `"${prefix}: ..."`,
      message === undefined ? '(no message)' : JSON.stringify(message),
      at,
    );
  }

  untested(reason: string): never {
    throw new Untested(reason);
  }

  info(observation: string): never {
    throw new Informational(observation);
  }

  async closeAll(): Promise<void> {
    await Promise.all(this.clients.map((c) => c.close()));
    this.ended.abort(new Error('the test is over'));
  }

  /** The log entry `at` names, when it is one of this test's frames. */
  private decisive(at: Judged): Decisive | undefined {
    if ('entry' in at) return at;
    const entry = 'dir' in at && this.log.includes(at) ? at : wireEntryOf(at);
    return entry && { entry };
  }

  /** `judges`: whether the frames this connection is handed are what the test judges (not setup steps). */
  private clientOptions(label: string, judges = true): ClientOptions {
    return {
      log: this.log,
      label,
      timeoutMs: this.options.timeoutMs,
      challengeTimeoutMs: this.options.sendsChallenge ? this.options.timeoutMs : 0,
      epochMs: this.epochMs,
      signal: this.ended.signal,
      onDrop: () => (this.sawDrop = true),
      ...(judges ? { onTake: (entry: WireEntry) => (this.judged = { entry }) } : {}),
    };
  }
}

/** Ids of events, in order, for short expected/observed lines. */
export function ids(events: readonly NostrEvent[]): string[] {
  return events.map((e) => e.id.slice(0, 12));
}
