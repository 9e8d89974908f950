/**
 * Steps and wire descriptions the conformance tests share: how a reply reads
 * in a report, the small moves every KeyPackage test repeats.
 */
import { TimeoutError, nowSeconds, type Delivery, type OkReply, type ReqResult, type RelayClient, type RequestResult } from '../client/relay-client.js';
import { sign, type Keys } from '../protocol/crypto.js';
import type { Filter, NostrEvent, RelayMessage } from '../protocol/messages.js';
import { KIND, prefixOf } from '../protocol/profile.js';
import { ids, type TestContext } from './context.js';

export const kp = KIND.keyPackage;

/** An OK reply as the line a relay implementer recognises. */
export function okLine(reply: OkReply): string {
  return `["OK", <id>, ${reply.ok}, ${JSON.stringify(reply.message)}]`;
}

/** What a REQ got: how many EVENTs, then EOSE or the CLOSED message. */
export function reqLine(res: ReqResult): string {
  const end = res.closed !== undefined ? `["CLOSED", <sub>, ${JSON.stringify(res.closed)}]` : 'EOSE';
  return `${res.events.length} EVENT (${ids(res.events).join(', ') || 'none'}) then ${end}`;
}

/** "no KeyPackage", "1 KeyPackage (3f2a9c1b07de)", "2 KeyPackages (…, …)": what a reply handed out. */
export function kpsText(events: readonly NostrEvent[]): string {
  if (events.length === 0) return 'no KeyPackage';
  return `${events.length} KeyPackage${events.length === 1 ? '' : 's'} (${ids(events).join(', ')})`;
}

/** "no event", "1 event (3f2a9c1b07de)", "2 events (…, …)": what a reply returned, of any kind. */
export function eventsText(events: readonly NostrEvent[]): string {
  if (events.length === 0) return 'no event';
  return `${events.length} event${events.length === 1 ? '' : 's'} (${ids(events).join(', ')})`;
}

/** How a REQ was answered, as a verb phrase: "returned no KeyPackage (EOSE only)", "was closed with \"…\" after 1 KeyPackage (…)". */
export function reqAnswer(res: ReqResult): string {
  if (res.closed !== undefined) return `was closed with ${JSON.stringify(res.closed)}${res.events.length > 0 ? ` after ${kpsText(res.events)}` : ''}`;
  return res.events.length === 0 ? 'returned no KeyPackage (EOSE only)' : `returned ${kpsText(res.events)} then EOSE`;
}

/** What a 447 delivered, as a verb phrase: "delivered no KeyPackage", "delivered 2 KeyPackages (…, …)". */
export function deliveredText(events: readonly NostrEvent[]): string {
  return `delivered ${kpsText(events)}`;
}

/** A REQ must be refused whole with ["CLOSED", <sub>, "<prefix>: ..."]. */
export function closedWith(t: TestContext, res: ReqResult, prefix: string, what: string): void {
  const want = `["CLOSED", <sub>, "${prefix}: ..."]`;
  t.check(res.closed !== undefined && prefixOf(res.closed) === prefix, `${what} ${reqAnswer(res)}, not a CLOSED with "${prefix}:"`, want, reqLine(res));
}

/** An EVENT (here a 447) must be refused with ["OK", <id>, false, "<prefix>: ..."]. */
export function refusedWith(t: TestContext, reply: OkReply, prefix: string, what: string): void {
  const want = `["OK", <id>, false, "${prefix}: ..."]`;
  const got = reply.ok ? `was accepted (${okLine(reply)})` : `was refused with ${JSON.stringify(reply.message)}, without the "${prefix}:" prefix`;
  t.check(!reply.ok && prefixOf(reply.message) === prefix, `${what} ${got}`, want, okLine(reply));
}

/** Event ids (short), sorted, for comparing sets. */
export function idSet(events: readonly NostrEvent[]): string[] {
  return ids(events).sort();
}

/** Distinct events by id, first occurrence kept. */
export function distinct(events: readonly NostrEvent[]): NostrEvent[] {
  const seen = new Set<string>();
  return events.filter((e) => !seen.has(e.id) && seen.add(e.id));
}

export function keyPackagesIn(events: readonly NostrEvent[]): NostrEvent[] {
  return events.filter((e) => e.kind === kp);
}

/** The EVENT frames among `frames`, as deliveries. */
export function eventFrames(frames: readonly RelayMessage[]): Delivery[] {
  return frames.filter((m): m is ['EVENT', string, NostrEvent] => m[0] === 'EVENT').map((m) => ({ subId: m[1], event: m[2] }));
}

/** The filter that asks for `owner`'s KeyPackages. */
export function askFor(owner: Keys, extra: Filter = {}): Filter {
  return { kinds: [kp], authors: [owner.pubkey], ...extra };
}

/**
 * A live subscription that hands out nothing (limit 0, kp-req-scope): where
 * kind 447 deliveries land. A relay that refuses it leaves the test unable to run.
 */
export async function liveSub(client: RelayClient, filter: Filter): Promise<string> {
  const res = await client.req([{ ...filter, limit: 0 }]);
  if (res.closed !== undefined) throw new Error(`setup: a limit:0 subscription ${JSON.stringify(filter)} was closed: ${res.closed}`);
  return res.subId;
}

/** A REQ whose subscription is closed again after EOSE, so loops never reach max_subscriptions. */
export async function reqOnce(client: RelayClient, filters: Filter[]): Promise<ReqResult> {
  const res = await client.req(filters);
  if (res.closed === undefined) client.closeSub(res.subId);
  return res;
}

/**
 * Everything a 447 delivered: the EVENTs before its OK and any that trail it
 * within the quiet period. Tests other than kp-447-ok-after-delivery use this,
 * so a relay that answers OK early is judged there and nowhere else.
 */
export async function allDeliveries(t: TestContext, client: RelayClient, result: RequestResult): Promise<Delivery[]> {
  return [...result.deliveries, ...eventFrames(await t.quiet(client))];
}

/** A signed kind 447 with exactly these tags (tests that break its form use this). */
export function request447(signer: Keys, tags: string[][]): NostrEvent {
  return sign({ kind: KIND.keyPackageRequest, created_at: nowSeconds(), tags, content: '' }, signer);
}

/** queries_per_window, or untested when it is too large to exhaust in a bounded test. */
export function boundedQueries(t: TestContext): number {
  const q = t.limits.queries_per_window;
  if (q > 50) t.untested(`queries_per_window is ${q}: exhausting it takes more charged queries than a bounded test should send`);
  return q;
}

/** served_per_window, or untested when it is too large to exhaust in a bounded test. */
export function boundedServed(t: TestContext): number {
  const s = t.limits.served_per_window;
  if (s > 200) t.untested(`served_per_window is ${s}: exhausting it takes more hand-outs than a bounded test should ask for`);
  return s;
}

/** The next frame that matches, or undefined when none arrives within the reply timeout. */
export async function awaitFrame(
  t: TestContext,
  client: RelayClient,
  match: (m: RelayMessage) => boolean,
  what: string,
): Promise<RelayMessage | undefined> {
  try {
    return await client.next(match, what, t.options.timeoutMs);
  } catch (err) {
    if (err instanceof TimeoutError) return undefined;
    throw err;
  }
}
