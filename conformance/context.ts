/**
 * What a conformance test gets: the relay's URL and limits, the shared client
 * choreography bound to one wire log, and assertions that record what was
 * expected and what was observed.
 */
import { setMaxListeners } from 'node:events';
import { connectAs as connectAsOn, inventory as inventoryOn, publishKeyPackages as publishOn } from '../client/choreography.js';
import { RelayClient, type ClientOptions, type WireEntry } from '../client/relay-client.js';
import { newKeys, type Keys } from '../protocol/crypto.js';
import type { NostrEvent, RelayInformation } from '../protocol/messages.js';
import { prefixOf, type KeyPackageLimits } from '../protocol/profile.js';
import type { KeyPackageOptions } from '../fixtures/events.js';

/** The relay broke the rule under test. */
export class RuleBroken extends Error {
  constructor(
    message: string,
    readonly expected?: string,
    readonly observed?: string,
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
    return publishOn(this.url, owner, count, { ...this.clientOptions('owner'), ...(keyPackage ? { keyPackage } : {}) });
  }

  /** The owner's stored KeyPackages, read as the owner. */
  inventory(owner: Keys): Promise<NostrEvent[]> {
    return inventoryOn(this.url, owner, this.clientOptions('owner'));
  }

  /** Waits the quiet period on `client` and returns what arrived meanwhile. */
  async quiet(client: RelayClient): ReturnType<RelayClient['quietFor']> {
    this.waitedMs += this.options.quietMs;
    return client.quietFor(this.options.quietMs);
  }

  note(text: string): void {
    this.log.push({ t: Date.now() - this.epochMs, dir: 'note', frame: text });
  }

  // ---- assertions: each failure carries what the rule expects and what the relay did

  fail(message: string, expected?: string, observed?: string): never {
    throw new RuleBroken(message, expected, observed);
  }

  check(condition: boolean, message: string, expected: string, observed: string): void {
    if (!condition) this.fail(message, expected, observed);
  }

  equal<T>(observed: T, expected: T, message: string): void {
    if (JSON.stringify(observed) !== JSON.stringify(expected)) this.fail(message, JSON.stringify(expected), JSON.stringify(observed));
  }

  /**
   * Events compared field by field: NIP-01 fixes no key order, so two relays'
   * JSON of the same event may differ (strfry sorts keys).
   */
  sameEvents(observed: readonly NostrEvent[], expected: readonly NostrEvent[], message: string): void {
    const fields = (e: NostrEvent): unknown[] => [e.id, e.pubkey, e.created_at, e.kind, e.tags, e.content, e.sig];
    this.equal(observed.map(fields), expected.map(fields), message);
  }

  /** An OK or CLOSED message must start with `prefix:`. */
  hasPrefix(message: string | undefined, prefix: string, what: string): void {
    this.check(
      message !== undefined && prefixOf(message) === prefix,
      `${what} must start with "${prefix}:"`,
      `"${prefix}: ..."`,
      message === undefined ? '(no message)' : JSON.stringify(message),
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

  private clientOptions(label: string): ClientOptions {
    return {
      log: this.log,
      label,
      timeoutMs: this.options.timeoutMs,
      challengeTimeoutMs: this.options.sendsChallenge ? this.options.timeoutMs : 0,
      epochMs: this.epochMs,
      signal: this.ended.signal,
      onDrop: () => (this.sawDrop = true),
    };
  }
}

/** Ids of events, in order, for short expected/observed lines. */
export function ids(events: readonly NostrEvent[]): string[] {
  return events.map((e) => e.id.slice(0, 12));
}
