/**
 * Commands of the Marmot slot property (marmot-relay/1, PROFILE-MARMOT.md §1)
 * and its runner: a fresh reference relay per sequence (or any factory that
 * gives a relay URL with empty state), two connections, a couple of owners
 * with two slots each, versions from a small range of created_at so ties and
 * deletions up to a version's created_at happen. After every command each
 * owner's slots are fetched (by `authors`, twice, on both connections, and by
 * `#d`) and judged against MarmotModel.
 */
import fc from 'fast-check';
import { RelayClient } from '../client/relay-client.js';
import { newKeys, type Keys } from '../protocol/crypto.js';
import type { Filter, NostrEvent } from '../protocol/messages.js';
import { KIND, TAG } from '../protocol/profile.js';
import { marmotKeyPackage, newSlot, slotDeletion } from '../fixtures/marmot.js';
import { MarmotModel, MarmotViolation, type MarmotAnchor } from './marmot-model.js';

export const MARMOT_OWNERS = 2;
export const MARMOT_SLOTS = 2;
/** created_at offsets 0…TIMES-1 from the pool's base: small, so ties and deletions at a version's created_at happen. */
export const MARMOT_TIMES = 4;
/** Two distinct versions per (slot, created_at): a tie decided by id. */
const VARIANTS = 2;

/** Genuine kind 30443 KeyPackages of each owner, made once before a run. */
export class MarmotPool {
  readonly base: number;
  private constructor(
    readonly keys: readonly Keys[],
    /** owner → slot → d */
    readonly ds: readonly (readonly string[])[],
    private readonly events: Map<string, NostrEvent>,
    base: number,
  ) {
    this.base = base;
  }

  static async create(): Promise<MarmotPool> {
    // In the recent past: a relay may refuse events dated in the future.
    const base = Math.floor(Date.now() / 1000) - 3600;
    const keys = Array.from({ length: MARMOT_OWNERS }, () => newKeys());
    const ds = keys.map(() => Array.from({ length: MARMOT_SLOTS }, () => newSlot()));
    const events = new Map<string, NostrEvent>();
    const jobs: Promise<void>[] = [];
    for (let o = 0; o < MARMOT_OWNERS; o++)
      for (let s = 0; s < MARMOT_SLOTS; s++)
        for (let t = 0; t < MARMOT_TIMES; t++)
          for (let v = 0; v < VARIANTS; v++)
            jobs.push(marmotKeyPackage(keys[o]!, { d: ds[o]![s]!, createdAt: base + t }).then((e) => void events.set(`${o}/${s}/${t}/${v}`, e)));
    await Promise.all(jobs);
    return new MarmotPool(keys, ds, events, base);
  }

  version(o: number, s: number, t: number, v: number): NostrEvent {
    return this.events.get(`${o}/${s}/${t}/${v}`)!;
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

export interface MarmotWorld {
  pool: MarmotPool;
  conns: [RelayClient, RelayClient];
  /** What ran, for the report. */
  executed: string[];
}

type MCmd = fc.AsyncCommand<MarmotModel, MarmotWorld>;

async function fetch(w: MarmotWorld, conn: number, filter: Filter, what: string): Promise<NostrEvent[]> {
  const res = await w.conns[conn]!.req([filter]);
  w.conns[conn]!.closeSub(res.subId);
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

function begin(m: MarmotModel, w: MarmotWorld, cmd: MCmd): void {
  m.step += 1;
  w.executed.push(String(cmd));
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
    begin(m, w, this);
    const event = w.pool.version(this.o, this.s, this.t, this.v);
    const reply = await w.conns[this.conn]!.publish(event);
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
    begin(m, w, this);
    const ea = w.pool.version(this.o, this.s, ...this.a);
    const eb = w.pool.version(this.o, this.s, ...this.b);
    const [ra, rb] = await Promise.all([w.conns[0].publish(ea), w.conns[1].publish(eb)]);
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
    begin(m, w, this);
    const reply = await w.conns[this.conn]!.publish(slotDeletion(w.pool.keys[this.o]!, { ids: [id] }, w.pool.base + MARMOT_TIMES));
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
    begin(m, w, this);
    const keys = w.pool.keys[this.o]!;
    const address = `${KIND.marmotKeyPackage}:${keys.pubkey}:${w.pool.ds[this.o]![this.s]!}`;
    const reply = await w.conns[this.conn]!.publish(slotDeletion(keys, { addresses: [address] }, w.pool.base + this.t));
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
    begin(m, w, this);
    const reply = await w.conns[this.conn]!.publish(v.event);
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
    begin(m, w, this);
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

/** A relay with empty state for one sequence. */
export interface MarmotRelay {
  url: string;
  close(): Promise<void>;
}

export interface MarmotPropertyOptions {
  /** A fresh relay per sequence (state must start empty: the pool's keys repeat across sequences). */
  relay: () => Promise<MarmotRelay>;
  runs: number;
  seed?: number;
  maxCommands?: number;
  pool?: MarmotPool;
}

export interface MarmotFailure {
  anchor: MarmotAnchor;
  detail: string;
  commands: string[];
  seed: number;
  path: string;
}

export interface MarmotOutcome {
  failed: boolean;
  numRuns: number;
  durationMs: number;
  failure: MarmotFailure | undefined;
  /** Not a violation: the relay could not be used. */
  error: Error | undefined;
}

export async function runMarmotProperty(opts: MarmotPropertyOptions): Promise<MarmotOutcome> {
  const pool = opts.pool ?? (await MarmotPool.create());
  let last: { violation: MarmotViolation; commands: string[] } | undefined;
  let error: Error | undefined;
  const property = fc.asyncProperty(fc.commands(marmotCommands(), { maxCommands: opts.maxCommands ?? 12, size: 'max' }), async (cmds) => {
    if (error) return;
    const relay = await opts.relay();
    const conns: RelayClient[] = [];
    const world: MarmotWorld = { pool, conns: undefined as unknown as [RelayClient, RelayClient], executed: [] };
    try {
      for (let i = 0; i < 2; i++) conns.push(await RelayClient.connect(relay.url, { timeoutMs: 3000, label: `c${i}` }));
      world.conns = [conns[0]!, conns[1]!];
      const model = new MarmotModel(MARMOT_OWNERS, MARMOT_SLOTS);
      await fc.asyncModelRun(() => ({ model, real: world }), cmds);
    } catch (err) {
      if (!(err instanceof MarmotViolation)) {
        error = err instanceof Error ? err : new Error(String(err));
        return;
      }
      last = { violation: err, commands: [...world.executed] };
      throw err;
    } finally {
      await Promise.all(conns.map((c) => c.close()));
      await relay.close();
    }
  });
  const started = Date.now();
  const details = await fc.check(property, { numRuns: opts.runs, ...(opts.seed === undefined ? {} : { seed: opts.seed }) });
  const durationMs = Date.now() - started;
  const failure =
    details.failed && last
      ? { anchor: last.violation.anchor, detail: last.violation.detail, commands: last.commands, seed: details.seed, path: details.counterexamplePath ?? '' }
      : undefined;
  const own = details.failed && !last && !error ? new Error(`fast-check could not run the property: ${String(details.errorInstance)}`) : undefined;
  return { failed: details.failed, numRuns: details.numRuns, durationMs, failure, error: error ?? own };
}
