/**
 * Commands of the Marmot slot property (marmot-relay/1, PROFILE-MARMOT.md §1)
 * and its runner: two connections to a relay, a couple of owners with two
 * slots each, versions from a small range of created_at so ties and deletions
 * up to a version's created_at happen. After every command each owner's slots
 * are fetched (by `authors`, twice, on both connections, and by `#d`) and
 * judged against MarmotModel. Either every sequence gets a relay with empty
 * state and the run shares one pool of keys, or the relay keeps its state and
 * every sequence gets fresh keys (a relay URL).
 */
import fc from 'fast-check';
import { RelayClient, type OkReply } from '../client/relay-client.js';
import { newKeys, type Keys } from '../protocol/crypto.js';
import type { Filter, NostrEvent } from '../protocol/messages.js';
import { KIND, TAG, prefixOf } from '../protocol/profile.js';
import { marmotKeyPackage, newSlot, slotDeletion } from '../fixtures/marmot.js';
import { MarmotModel, MarmotViolation, type MarmotAnchor } from './marmot-model.js';
import { checkOrReplay, splitPath } from './property.js';

export const MARMOT_OWNERS = 2;
export const MARMOT_SLOTS = 2;
/** created_at offsets 0…TIMES-1 from the pool's base: small, so ties and deletions at a version's created_at happen. */
export const MARMOT_TIMES = 4;
/** Two distinct versions per (slot, created_at): a tie decided by id. */
const VARIANTS = 2;
/** Longest command sequence generated. */
export const MARMOT_MAX_COMMANDS = 12;

/**
 * The owners' keys and slots, and their genuine kind 30443 KeyPackages, made
 * on first use (a few ms each) and kept for the pool's life. Of the two
 * versions of a (slot, created_at), variant `a` is always the one with the
 * lower id: MLS content is random, so without this a tie would be decided
 * differently in a replay with fresh keys.
 */
export class MarmotPool {
  private readonly pairs = new Map<string, Promise<readonly [NostrEvent, NostrEvent]>>();

  private constructor(
    readonly keys: readonly Keys[],
    /** owner → slot → d */
    readonly ds: readonly (readonly string[])[],
    readonly base: number,
  ) {}

  /** New owners (keys) and slots; the KeyPackages are made as the commands use them. */
  static fresh(): MarmotPool {
    // In the recent past: a relay may refuse events dated in the future.
    const base = Math.floor(Date.now() / 1000) - 3600;
    const keys = Array.from({ length: MARMOT_OWNERS }, () => newKeys());
    return new MarmotPool(keys, keys.map(() => Array.from({ length: MARMOT_SLOTS }, () => newSlot())), base);
  }

  async version(o: number, s: number, t: number, v: number): Promise<NostrEvent> {
    const key = `${o}/${s}/${t}`;
    let pair = this.pairs.get(key);
    if (!pair) {
      const make = (): Promise<NostrEvent> => marmotKeyPackage(this.keys[o]!, { d: this.ds[o]![s]!, createdAt: this.base + t });
      pair = Promise.all([make(), make()]).then(([x, y]): readonly [NostrEvent, NostrEvent] => (x.id < y.id ? [x, y] : [y, x]));
      this.pairs.set(key, pair);
    }
    return (await pair)[v]!;
  }

  static versionName(o: number, s: number, t: number, v: number): string {
    return `O${o}/s${s}@${t}${v === 0 ? 'a' : 'b'}`;
  }

  slotIndex(owner: number, e: NostrEvent): number | undefined {
    const d = e.tags.find((t) => t[0] === TAG.identifier)?.[1];
    const i = this.ds[owner]!.indexOf(d ?? '');
    return e.kind === KIND.marmotKeyPackage && e.pubkey === this.keys[owner]!.pubkey && i >= 0 ? i : undefined;
  }
}

/** The relay could not be used (an AUTH refused): no verdict on the profile. */
export class MarmotSetupError extends Error {}

/** What one sequence learnt about the relay, shared by its connections. */
interface Session {
  /** The relay answered a write auth-required:, so every write authenticates its signer first. */
  authForWrites: boolean;
  auths: number;
}

/**
 * One connection of a sequence. A relay that takes writes only from
 * authenticated authors answers auth-required:; then the signer authenticates
 * (NIP-42 with RelayClient.auth: the challenge sent on connect, or provoked
 * from a relay with lazy AUTH) and the event is sent again. Once the relay
 * has asked, writes authenticate first, so a race is not serialised by an
 * AUTH round trip.
 */
export class MarmotConn {
  constructor(
    readonly client: RelayClient,
    private readonly session: Session,
  ) {}

  private async authAs(keys: Keys): Promise<void> {
    if (this.client.authenticated.has(keys.pubkey)) return;
    const reply = await this.client.auth(keys);
    this.session.auths += 1;
    if (!reply.ok) throw new MarmotSetupError(`the relay asked for AUTH before a write, and refused AUTH as ${keys.pubkey.slice(0, 8)}: ${reply.message}`);
  }

  /** Authenticates as `signer` before a write, once the relay is known to want it. */
  async ready(signer: Keys): Promise<void> {
    if (this.session.authForWrites) await this.authAs(signer);
  }

  async publish(event: NostrEvent, signer: Keys): Promise<OkReply> {
    await this.ready(signer);
    const reply = await this.client.publish(event);
    if (reply.ok || prefixOf(reply.message) !== 'auth-required' || this.client.authenticated.has(signer.pubkey)) return reply;
    this.session.authForWrites = true;
    await this.authAs(signer);
    return this.client.publish(event);
  }
}

export interface MarmotWorld {
  pool: MarmotPool;
  conns: [MarmotConn, MarmotConn];
  /** What ran, for the report. */
  executed: string[];
  stats: Map<string, number>;
}

const bump = (w: MarmotWorld, key: string): void => void w.stats.set(key, (w.stats.get(key) ?? 0) + 1);

type MCmd = fc.AsyncCommand<MarmotModel, MarmotWorld>;

async function fetch(w: MarmotWorld, conn: number, filter: Filter, what: string): Promise<NostrEvent[]> {
  const client = w.conns[conn]!.client;
  const res = await client.req([filter]);
  client.closeSub(res.subId);
  bump(w, 'marmot fetches');
  if (!res.eose) throw new MarmotViolation('mr-kp-store', `${what} was closed: ${res.closed ?? ''} (KeyPackages are served without AUTH)`);
  return res.events;
}

const ids = (events: readonly NostrEvent[]): string => events.map((e) => e.id).sort().join(',');

/** After every command: every owner's slots, by `authors` (twice, both connections) and by `#d`. */
async function checkAll(m: MarmotModel, w: MarmotWorld): Promise<void> {
  for (let o = 0; o < MARMOT_OWNERS; o++) {
    const filter: Filter = { kinds: [KIND.marmotKeyPackage], authors: [w.pool.keys[o]!.pubkey] };
    const first = await fetch(w, m.step % 2, filter, `O${o}'s slots`);
    m.judge(o, first, (e) => w.pool.slotIndex(o, e), `{kinds:[30443], authors:[O${o}]}`);
    // mr-kp-no-consume: "every fetch of a slot returns its current version, for any number of fetchers".
    const again = await fetch(w, (m.step + 1) % 2, filter, `O${o}'s slots`);
    if (ids(again) !== ids(first)) throw new MarmotViolation('mr-kp-no-consume', `fetching O${o}'s slots again on the other connection returned ${again.length} events, not the same ${first.length}`);
    for (let s = 0; s < MARMOT_SLOTS; s++) {
      const byD = await fetch(w, 0, { kinds: [KIND.marmotKeyPackage], '#d': [w.pool.ds[o]![s]!] }, `O${o}/s${s} by #d`);
      m.judge(o, byD, (e) => w.pool.slotIndex(o, e), `{kinds:[30443], #d:[O${o}/s${s}]}`, s);
    }
  }
}

function begin(m: MarmotModel, w: MarmotWorld, cmd: MCmd, name: MarmotCommandName): void {
  m.step += 1;
  w.executed.push(String(cmd));
  bump(w, `marmot command ${name}`);
}

/** An owner publishes a version of one of its slots. */
class PublishCmd implements MCmd {
  constructor(
    readonly o: number,
    readonly s: number,
    readonly t: number,
    readonly v: number,
    readonly conn: number,
  ) {}
  check(): boolean {
    return true;
  }
  async run(m: MarmotModel, w: MarmotWorld): Promise<void> {
    begin(m, w, this, 'publish');
    const event = await w.pool.version(this.o, this.s, this.t, this.v);
    const reply = await w.conns[this.conn]!.publish(event, w.pool.keys[this.o]!);
    const current = m.publish(event, this.o, this.s, MarmotPool.versionName(this.o, this.s, this.t, this.v));
    // mr-kp-store: "MUST be answered ["OK", <id>, true, ""] when it is the slot's current version".
    if (current && !reply.ok) throw new MarmotViolation(m.slots[this.o]![this.s]!.deletedUntil !== undefined ? 'mr-kp-delete' : 'mr-kp-store', `${MarmotPool.versionName(this.o, this.s, this.t, this.v)}, now the current version, was refused: ${reply.message}`);
    await checkAll(m, w);
  }
  toString(): string {
    return `publish(${MarmotPool.versionName(this.o, this.s, this.t, this.v)} on c${this.conn})`;
  }
}

/** Two versions of one slot (maybe the same one) sent on both connections before either OK is awaited. */
class RaceCmd implements MCmd {
  constructor(
    readonly o: number,
    readonly s: number,
    readonly a: readonly [number, number],
    readonly b: readonly [number, number],
  ) {}
  check(): boolean {
    return true;
  }
  async run(m: MarmotModel, w: MarmotWorld): Promise<void> {
    begin(m, w, this, 'race');
    const ea = await w.pool.version(this.o, this.s, ...this.a);
    const eb = await w.pool.version(this.o, this.s, ...this.b);
    const signer = w.pool.keys[this.o]!;
    await Promise.all(w.conns.map((c) => c.ready(signer)));
    const [ra, rb] = await Promise.all([w.conns[0].publish(ea, signer), w.conns[1].publish(eb, signer)]);
    m.publish(ea, this.o, this.s, MarmotPool.versionName(this.o, this.s, ...this.a));
    m.publish(eb, this.o, this.s, MarmotPool.versionName(this.o, this.s, ...this.b));
    // Either order may be the relay's; only the winner's OK must be true.
    const winner = m.slots[this.o]![this.s]!.current?.event.id;
    for (const [e, r] of [[ea, ra], [eb, rb]] as const) {
      if (e.id === winner && !r.ok) throw new MarmotViolation('mr-kp-store', `the racing version ${e.id.slice(0, 8)}, the current one whatever the order, was refused: ${r.message}`);
    }
    await checkAll(m, w);
  }
  toString(): string {
    return `race(${MarmotPool.versionName(this.o, this.s, ...this.a)} on c0 ∥ ${MarmotPool.versionName(this.o, this.s, ...this.b)} on c1)`;
  }
}

/** The owner deletes one version it published, by `e`. */
class DeleteByIdCmd implements MCmd {
  private name = '';
  constructor(
    readonly o: number,
    readonly pick: number,
    readonly conn: number,
  ) {}
  private candidates(m: Readonly<MarmotModel>): string[] {
    return [...m.versions.values()].filter((v) => v.owner === this.o).map((v) => v.event.id);
  }
  check(m: Readonly<MarmotModel>): boolean {
    return this.candidates(m).length > 0;
  }
  async run(m: MarmotModel, w: MarmotWorld): Promise<void> {
    const cands = this.candidates(m);
    const id = cands[this.pick % cands.length]!;
    this.name = m.versions.get(id)!.name;
    begin(m, w, this, 'delete-e');
    const keys = w.pool.keys[this.o]!;
    const reply = await w.conns[this.conn]!.publish(slotDeletion(keys, { ids: [id] }, w.pool.base + MARMOT_TIMES), keys);
    if (!reply.ok) throw new MarmotViolation('mr-kp-delete', `O${this.o}'s kind 5 naming ${this.name} by e was refused: ${reply.message}`);
    m.deleteById(id);
    await checkAll(m, w);
  }
  toString(): string {
    return `delete-e(${this.name || `O${this.o} #${this.pick}`} on c${this.conn})`;
  }
}

/** The owner deletes a slot by `a`, its kind 5 dated within the versions' range. */
class DeleteSlotCmd implements MCmd {
  constructor(
    readonly o: number,
    readonly s: number,
    readonly t: number,
    readonly conn: number,
  ) {}
  check(): boolean {
    return true;
  }
  async run(m: MarmotModel, w: MarmotWorld): Promise<void> {
    begin(m, w, this, 'delete-a');
    const keys = w.pool.keys[this.o]!;
    const address = `${KIND.marmotKeyPackage}:${keys.pubkey}:${w.pool.ds[this.o]![this.s]!}`;
    const reply = await w.conns[this.conn]!.publish(slotDeletion(keys, { addresses: [address] }, w.pool.base + this.t), keys);
    if (!reply.ok) throw new MarmotViolation('mr-kp-delete', `O${this.o}'s kind 5 naming slot s${this.s} by a was refused: ${reply.message}`);
    m.deleteSlot(this.o, this.s, w.pool.base + this.t);
    await checkAll(m, w);
  }
  toString(): string {
    return `delete-a(O${this.o}/s${this.s} up to @${this.t} on c${this.conn})`;
  }
}

/** A version that is not current (superseded or deleted) is sent again. */
class RepublishCmd implements MCmd {
  private name = '';
  constructor(
    readonly pick: number,
    readonly conn: number,
  ) {}
  private static candidates(m: Readonly<MarmotModel>): string[] {
    return [...m.versions.values()].filter((v) => v.fate !== 'current').map((v) => v.event.id);
  }
  check(m: Readonly<MarmotModel>): boolean {
    return RepublishCmd.candidates(m).length > 0;
  }
  async run(m: MarmotModel, w: MarmotWorld): Promise<void> {
    const cands = RepublishCmd.candidates(m);
    const v = m.versions.get(cands[this.pick % cands.length]!)!;
    this.name = `${v.name}, ${v.fate}`;
    begin(m, w, this, 'republish');
    const reply = await w.conns[this.conn]!.publish(v.event, w.pool.keys[v.owner]!);
    if (m.publish(v.event, v.owner, v.slot, v.name) && !reply.ok) throw new MarmotViolation('mr-kp-store', `${v.name}, current again, was refused: ${reply.message}`);
    await checkAll(m, w);
  }
  toString(): string {
    return `republish(${this.name || `#${this.pick}`} on c${this.conn})`;
  }
}

/** Fetches only (mr-kp-no-consume): a slot fetched by anyone, any number of times, is unchanged. */
class FetchCmd implements MCmd {
  constructor(
    readonly o: number,
    readonly times: number,
  ) {}
  check(): boolean {
    return true;
  }
  async run(m: MarmotModel, w: MarmotWorld): Promise<void> {
    begin(m, w, this, 'fetch');
    for (let i = 0; i < this.times; i++) await fetch(w, i % 2, { kinds: [KIND.marmotKeyPackage], authors: [w.pool.keys[this.o]!.pubkey] }, `O${this.o}'s slots`);
    await checkAll(m, w);
  }
  toString(): string {
    return `fetch(O${this.o} ×${this.times})`;
  }
}

export type MarmotCommandName = 'publish' | 'race' | 'delete-e' | 'delete-a' | 'republish' | 'fetch';

export function marmotCommands(): fc.Arbitrary<MCmd>[] {
  const o = fc.nat(MARMOT_OWNERS - 1);
  const s = fc.nat(MARMOT_SLOTS - 1);
  const t = fc.nat(MARMOT_TIMES - 1);
  const v = fc.nat(VARIANTS - 1);
  const c = fc.nat(1);
  return [
    fc.tuple(o, s, t, v, c).map(([o_, s_, t_, v_, c_]) => new PublishCmd(o_, s_, t_, v_, c_)),
    fc.tuple(o, s, fc.tuple(t, v), fc.tuple(t, v)).map(([o_, s_, a, b]) => new RaceCmd(o_, s_, a, b)),
    fc.tuple(o, fc.nat(20), c).map(([o_, p, c_]) => new DeleteByIdCmd(o_, p, c_)),
    fc.tuple(o, s, t, c).map(([o_, s_, t_, c_]) => new DeleteSlotCmd(o_, s_, t_, c_)),
    fc.tuple(fc.nat(20), c).map(([p, c_]) => new RepublishCmd(p, c_)),
    fc.tuple(o, fc.integer({ min: 1, max: 3 })).map(([o_, n]) => new FetchCmd(o_, n)),
  ];
}

/** The relay one sequence runs against. */
export interface MarmotRelay {
  url: string;
  close(): Promise<void>;
}

export interface MarmotPropertyOptions {
  /** The relay of one sequence: a fresh one (empty state), or the same one again when every sequence gets fresh keys. */
  relay: () => Promise<MarmotRelay>;
  runs: number;
  seed?: number;
  /** A failure's replay path (fast-check path `@` commands replay path), with its seed. */
  path?: string;
  maxCommands?: number;
  /**
   * Keys shared by every sequence: only for relays that start each sequence empty (the keys repeat). Without
   * it each sequence gets fresh keys, so a relay that keeps its state (a URL) starts each one with empty slots.
   */
  pool?: MarmotPool;
  /** How long to wait for any one reply. */
  timeoutMs?: number;
}

export interface MarmotFailure {
  anchor: MarmotAnchor;
  detail: string;
  /** The shrunk sequence, as run. */
  commands: string[];
  seed: number;
  path: string;
  /** Runs until the first failure, and shrink steps after it. */
  numRuns: number;
  numShrinks: number;
}

export interface MarmotOutcome {
  failed: boolean;
  seed: number;
  numRuns: number;
  durationMs: number;
  failure: MarmotFailure | undefined;
  /** Not a violation: the relay could not be used. */
  error: Error | undefined;
  /** What the sequences exercised, summed over every run (shrinking included). */
  stats: Record<string, number>;
}

export async function runMarmotProperty(opts: MarmotPropertyOptions): Promise<MarmotOutcome> {
  const { fcPath, replayPath } = splitPath(opts.path);
  const timeoutMs = opts.timeoutMs ?? 5000;
  let last: { violation: MarmotViolation; commands: string[] } | undefined;
  let error: Error | undefined;
  const stats = new Map<string, number>();
  const commands = fc.commands(marmotCommands(), {
    maxCommands: opts.maxCommands ?? MARMOT_MAX_COMMANDS,
    size: 'max',
    ...(replayPath === undefined ? {} : { replayPath }),
  });
  const property = fc.asyncProperty(commands, async (cmds) => {
    // A relay that stopped answering is not shrunk against: every later run passes at once.
    if (error) return;
    const clients: RelayClient[] = [];
    let relay: MarmotRelay | undefined;
    const session: Session = { authForWrites: false, auths: 0 };
    const executed: string[] = [];
    const seqStats = new Map<string, number>();
    try {
      relay = await opts.relay();
      for (let i = 0; i < 2; i++) clients.push(await RelayClient.connect(relay.url, { timeoutMs, label: `c${i}` }));
      const world: MarmotWorld = {
        pool: opts.pool ?? MarmotPool.fresh(),
        conns: [new MarmotConn(clients[0]!, session), new MarmotConn(clients[1]!, session)],
        executed,
        stats: seqStats,
      };
      const model = new MarmotModel(MARMOT_OWNERS, MARMOT_SLOTS);
      await fc.asyncModelRun(() => ({ model, real: world }), cmds);
    } catch (err) {
      if (!(err instanceof MarmotViolation)) {
        error = err instanceof Error ? err : new Error(String(err));
        return;
      }
      last = { violation: err, commands: [...executed] };
      throw err;
    } finally {
      if (session.auths > 0) seqStats.set('marmot AUTH', session.auths);
      for (const [k, v] of seqStats) stats.set(k, (stats.get(k) ?? 0) + v);
      await Promise.all(clients.map((c) => c.close()));
      await relay?.close();
    }
  });
  const started = Date.now();
  const details = await checkOrReplay(property, opts, fcPath);
  const durationMs = Date.now() - started;
  const summary = Object.fromEntries([...stats].sort(([a], [b]) => a.localeCompare(b)));
  let failure: MarmotFailure | undefined;
  if (details.failed && last) {
    const replay = /replayPath="([^"]*)"/.exec(String(details.counterexample?.[0] ?? ''))?.[1];
    const path = `${details.counterexamplePath ?? fcPath ?? '0'}${replay ? `@${replay}` : replayPath ? `@${replayPath}` : ''}`;
    failure = { anchor: last.violation.anchor, detail: last.violation.detail, commands: last.commands, seed: details.seed, path, numRuns: details.numRuns, numShrinks: details.numShrinks };
  }
  // A failure without a violation is fast-check's own (e.g. a replay path that does not fit).
  const own = details.failed && !last && !error ? new Error(`fast-check could not run the property: ${String(details.errorInstance)}`) : undefined;
  return { failed: details.failed, seed: details.seed, numRuns: details.numRuns, durationMs, failure, error: error ?? own, stats: summary };
}
