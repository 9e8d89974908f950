/**
 * Queries as the commands send them, in two steps so racing queries can be
 * prepared (connection, AUTH, subscription) one by one and then sent at once.
 */
import { KIND } from '../protocol/profile.js';
import { audit } from './audit.js';
import { checkInventory, InvariantViolation, LIVENESS, settle, type AskRun, type AskSpec, type Observed } from './invariants.js';
import { actorName, type Expected, type Model } from './model.js';
import type { Conn } from './target.js';
import type { World } from './world.js';

export interface PreparedAsk {
  spec: AskSpec;
  /** The connection it is sent on. */
  conn: Conn;
  /** Sends the query and collects the answer. */
  perform(): Promise<Observed>;
  apply(model: Model): Expected;
}

const refused = (prefix: 'auth-required' | 'invalid', detail: string): Expected => ({ kind: 'refused', prefix, detail });

/**
 * A REQ for owners' KeyPackages (kp-req-handout) by `requester`, or on an
 * unauthenticated connection when undefined. `keepOpen` leaves the
 * subscription open as the live subscription a 447 needs (limit 0 only).
 */
export async function prepareReq(
  model: Model,
  world: World,
  requester: number | undefined,
  owners: readonly number[],
  limit: number | undefined,
  keepOpen = false,
): Promise<PreparedAsk> {
  const conn = requester === undefined ? await world.anonymous() : await world.conn(requester);
  const max = Math.min(limit ?? model.limits.max_per_query, model.limits.max_per_query);
  const who = requester === undefined ? 'an unauthenticated REQ' : `${actorName(requester)}'s REQ`;
  const spec: AskSpec = {
    path: 'req',
    requester,
    owners,
    max,
    charged: limit !== 0,
    label: `${who} for ${owners.map(actorName).join('+')}${limit === undefined ? '' : ` (limit ${limit})`}`,
  };
  const filter = { kinds: [KIND.keyPackage], authors: owners.map((o) => world.pubkey(o)), ...(limit === undefined ? {} : { limit }) };
  return {
    spec,
    conn,
    async perform() {
      const res = await conn.req([filter]);
      if (res.closed !== undefined) return { kind: 'refused', message: res.closed };
      if (keepOpen && requester !== undefined && owners[0] !== undefined) world.setLiveSub(requester, owners[0], res.subId);
      else await conn.closeSub(res.subId);
      return { kind: 'served', events: res.events, late: [] };
    },
    apply(m) {
      if (limit === 0) return { kind: 'served', plans: [] };
      if (requester === undefined) return refused('auth-required', 'nobody is authenticated on the connection');
      return m.handOut(
        requester,
        owners.map((owner) => ({ owner, max })),
      );
    },
  };
}

/** Opens the requester's live subscription for the owner's KeyPackages, as a 447 needs (kp-447-subscription). */
export async function openLive(model: Model, world: World, requester: number, owner: number): Promise<void> {
  const ask = await prepareReq(model, world, requester, [owner], 0, true);
  const run: AskRun = { spec: ask.spec, observed: await ask.perform(), apply: ask.apply };
  settle(model, [run]);
  model.subs.add(`${requester}>${owner}`);
}

/** A kind 447 by `requester` for `owner`; `authed: false` sends it on a connection where its signer is not authenticated. */
export async function prepare447(
  model: Model,
  world: World,
  requester: number,
  owner: number,
  n: number | undefined,
  authed: boolean,
): Promise<PreparedAsk> {
  const conn = authed ? await world.conn(requester) : await world.anonymous();
  const event = world.events.request(requester, owner, n, model.step);
  const key = `${requester}>${owner}`;
  const spec: AskSpec = {
    path: '447',
    requester: authed ? requester : undefined,
    owners: [owner],
    max: n ?? model.limits.max_per_query,
    charged: true,
    label: `${authed ? '' : 'an unauthenticated '}${actorName(requester)}'s 447 for ${actorName(owner)}${n === undefined ? '' : ` (n ${n})`}`,
  };
  return {
    spec,
    conn,
    async perform() {
      const res = await conn.sendRequest(event);
      if (!res.ok) return { kind: 'refused', message: res.message };
      return { kind: 'served', events: res.deliveries.map((d) => d.event), late: res.late.map((d) => d.event) };
    },
    apply(m) {
      if (!authed) return refused('auth-required', 'its signer is not authenticated');
      if (!m.subs.has(key)) return refused('invalid', `although no subscription on the connection can receive ${actorName(owner)}'s KeyPackages`);
      return m.handOut(requester, [{ owner, max: spec.max }]);
    },
  };
}

/** Runs prepared queries (one, or racing) and checks them together. */
export async function checkAsks(m: Model, w: World, asks: readonly PreparedAsk[], observed: readonly Observed[]): Promise<void> {
  const specs = asks.map((a) => a.spec);
  const owners = [...new Set(specs.flatMap((s) => s.owners))];
  let outcomes: Expected[];
  try {
    outcomes = settle(
      m,
      asks.map((a, i) => ({ spec: a.spec, observed: observed[i]!, apply: a.apply })),
    );
  } catch (err) {
    if (err instanceof InvariantViolation && err.state && LIVENESS.includes(err.anchor)) await explainShortfall(err.state, w, asks, owners);
    throw err;
  }
  outcomes.forEach((o, i) => {
    const kind = o.kind === 'refused' ? `refused ${o.prefix}${o.limit ? ` (${o.limit})` : ''}` : `served ${o.plans.reduce((n, p) => n + p.send.length, 0)}`;
    w.count(`${specs[i]!.path} ${kind}`);
  });
  await audit(m, w, owners, refusedOnly(specs, outcomes));
}

/**
 * Less was handed out than due. Was the missing KeyPackage consumed anyway (the
 * owners' stored KeyPackages, read against the model just before the short
 * answer, say so), or did a 447's KeyPackages come after its OK? Throws that
 * more specific violation; else the shortfall stands.
 */
async function explainShortfall(before: Model, w: World, asks: readonly PreparedAsk[], owners: readonly number[]): Promise<void> {
  for (const owner of owners) {
    if (before.published(owner).length === 0) continue;
    const violation = checkInventory(before, owner, await w.ownQuery(owner), new Set());
    if (violation) throw violation;
  }
  for (const ask of asks) {
    if (ask.spec.path !== '447') continue;
    const late = ask.conn.strays().find((d) => ask.spec.owners.some((o) => d.event.pubkey === w.pubkey(o)));
    if (late) {
      const name = before.kps.get(late.event.id)?.name ?? late.event.id.slice(0, 8);
      throw new InvariantViolation('kp-447-ok-after-delivery', `${ask.spec.label}: ${name} arrived after its OK`);
    }
  }
}

/** Owners a command asked for only in refused queries: a refused query consumes nothing (kp-rate-refusal). */
function refusedOnly(specs: readonly AskSpec[], outcomes: readonly Expected[]): Set<number> {
  const refusedOwners = new Set<number>();
  const servedOwners = new Set<number>();
  outcomes.forEach((o, i) => {
    for (const owner of specs[i]?.owners ?? []) (o.kind === 'refused' ? refusedOwners : servedOwners).add(owner);
  });
  return new Set([...refusedOwners].filter((o) => !servedOwners.has(o)));
}
