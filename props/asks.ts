/**
 * Queries as the commands send them, in two steps so racing queries can be
 * prepared (connection, AUTH, subscription) one by one and then sent at once.
 * What a conforming relay answers comes from the model (Model.req,
 * Model.request); this file only sends and collects.
 */
import type { Filter } from '../protocol/messages.js';
import { audit } from './audit.js';
import { checkInventory, InvariantViolation, settle, type AskRun, type AskSpec, type Observed } from './invariants.js';
import type { Expected, Model } from './model.js';
import type { Conn } from './target.js';
import type { World } from './world.js';

export interface PreparedAsk {
  spec: AskSpec;
  /** The connection it is sent on. */
  conn: Conn;
  /** Owners whose stored KeyPackages the command audits afterwards. */
  owners: readonly number[];
  /** Sends the query and collects the answer. */
  perform(): Promise<Observed>;
  apply(model: Model): Expected;
}

/**
 * A REQ with `filters` on connection `key`, where `actors` are authenticated
 * (none: nobody). `keepOpen` leaves the subscription open and records it in
 * the model (a live subscription for 447 deliveries).
 */
export async function prepareReq(
  model: Model,
  world: World,
  key: string,
  actors: readonly number[],
  filters: Filter[],
  label: string,
  owners: readonly number[],
  keepOpen = false,
): Promise<PreparedAsk> {
  const conn = await world.connection(key, actors);
  model.conn(key, actors);
  let subId: string | undefined;
  return {
    spec: { path: 'req', label },
    conn,
    owners,
    async perform() {
      const res = await conn.req(filters);
      if (res.closed !== undefined) return { kind: 'refused', message: res.closed };
      if (keepOpen) subId = res.subId;
      else await conn.closeSub(res.subId);
      return { kind: 'served', events: res.events, late: [] };
    },
    apply(m) {
      const expected = m.req(key, filters);
      // NIP-01: the subscription stays open after EOSE (kp-req-eose); a CLOSED one does not.
      if (keepOpen && expected.kind === 'served' && subId !== undefined) m.conn(key).subs.set(subId, filters);
      return expected;
    },
  };
}

/** Opens a subscription with `filter` (limit 0: hands out nothing, kp-req-scope) that stays open; returns its id. */
export async function openSub(model: Model, world: World, key: string, actors: readonly number[], filter: Filter, label: string): Promise<string | undefined> {
  const ask = await prepareReq(model, world, key, actors, [filter], label, [], true);
  const observed = await ask.perform();
  const run: AskRun = { spec: ask.spec, observed, apply: ask.apply };
  settle(model, [run]);
  return [...model.conn(key).subs].find(([, fs]) => fs[0] === filter)?.[0];
}

/** Closes a subscription opened by openSub. */
export async function closeSub(model: Model, world: World, key: string, subId: string): Promise<void> {
  const conn = await world.connection(key, model.conn(key).authed);
  await conn.closeSub(subId);
  model.conn(key).subs.delete(subId);
}

/** A kind 447 signed by `signer` for `owner`, sent on connection `key` where `actors` are authenticated. */
export async function prepare447(
  model: Model,
  world: World,
  key: string,
  actors: readonly number[],
  signer: number,
  owner: number,
  n: number | undefined,
  label: string,
): Promise<PreparedAsk> {
  const conn = await world.connection(key, actors);
  model.conn(key, actors);
  const event = world.events.request(signer, owner, n, model.step);
  return {
    spec: { path: '447', label },
    conn,
    owners: [owner],
    async perform() {
      const res = await conn.sendRequest(event);
      if (!res.ok) return { kind: 'refused', message: res.message };
      // One KeyPackage may come on several subscriptions (kp-447-delivery): count it once (kp-rate-served).
      const events = [...new Map(res.deliveries.map((d) => [d.event.id, d.event])).values()];
      return { kind: 'served', events, late: res.late.map((d) => d.event), subs: res.deliveries };
    },
    apply: (m) => m.request(key, signer, owner, n),
  };
}

/** Runs prepared queries (one, or racing) and checks them together. */
export async function checkAsks(m: Model, w: World, asks: readonly PreparedAsk[], observed: readonly Observed[]): Promise<void> {
  const owners = [...new Set(asks.flatMap((a) => a.owners))];
  let outcomes: Expected[];
  try {
    outcomes = settle(
      m,
      asks.map((a, i) => ({ spec: a.spec, observed: observed[i]!, apply: a.apply })),
    );
  } catch (err) {
    if (err instanceof InvariantViolation && err.state && err.weak) await explainShortfall(err.state, w, asks, owners);
    throw err;
  }
  outcomes.forEach((o, i) => {
    const kind = o.kind === 'refused' ? `refused ${o.prefix}${o.limit ? ` (${o.limit})` : ''}` : `served ${o.parts.reduce((n, p) => n + p.send.length, 0)}`;
    w.count(`${asks[i]!.spec.path} ${kind}`);
  });
  await audit(m, w, owners, refusedOnly(outcomes, asks));
}

/**
 * Less was handed out than due. Was the owner's last resort consumed by an
 * earlier hand-out, so there was nothing left to give (the owners' stored
 * KeyPackages, read against the model just before the short answer, say so)?
 * Did a 447's KeyPackages come after its OK (over a socket they look like
 * strays)? Throws that more specific violation; else the shortfall stands
 * (kp-handout-max "never fewer"), also when the missing ones were consumed
 * without being sent: that is the same short answer, not a conservation slip.
 */
async function explainShortfall(before: Model, w: World, asks: readonly PreparedAsk[], owners: readonly number[]): Promise<void> {
  // Also a round trip on each owner's connection, so frames sent after an OK have arrived.
  for (const owner of owners) {
    if (before.published(owner).length === 0) continue;
    const violation = checkInventory(before, owner, await w.ownQuery(owner), new Set());
    if (violation && violation.anchor === 'kp-handout-last-resort') throw violation;
  }
  for (const ask of asks) {
    if (ask.spec.path !== '447') continue;
    const late = ask.conn.strays().find((d) => ask.owners.some((o) => d.event.pubkey === w.pubkey(o)));
    if (late) {
      const name = before.kps.get(late.event.id)?.name ?? late.event.id.slice(0, 8);
      throw new InvariantViolation('kp-447-ok-after-delivery', `${ask.spec.label}: ${name} arrived after its OK`);
    }
  }
}

/** Owners a command asked for only in refused queries: a refused query consumes nothing (kp-rate-refusal). */
function refusedOnly(outcomes: readonly Expected[], asks: readonly PreparedAsk[]): Set<number> {
  const refusedOwners = new Set<number>();
  const servedOwners = new Set<number>();
  outcomes.forEach((o, i) => {
    for (const owner of asks[i]?.owners ?? []) (o.kind === 'refused' ? refusedOwners : servedOwners).add(owner);
  });
  return new Set([...refusedOwners].filter((o) => !servedOwners.has(o)));
}
