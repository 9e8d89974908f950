/** Moves the marmot-relay/1 cases (PROFILE-MARMOT.md) share: publishing as a Marmot client does, fetching as anyone. */
import { ids, type TestContext } from '../../context.js';
import type { ConformanceTest } from '../../types.js';
import type { Level, Section, TestSource } from '../../../report/schema.js';
import { eventsText, idSet, okLine, reqOnce } from '../../steps.js';
import type { OkReply, ReqResult, RelayClient } from '../../../client/relay-client.js';
import type { Keys } from '../../../protocol/crypto.js';
import type { Filter, NostrEvent, RelayMessage } from '../../../protocol/messages.js';
import { PREFIX, prefixOf } from '../../../protocol/profile.js';

/** What a marmot-relay/1 test declares besides its run: the id is `<anchor>/<side>`. */
export interface CaseHead {
  anchor: `mr-${string}`;
  side: string;
  section: Section;
  level: Level;
  /** When the profile asks more than the NIP the rule builds on. */
  source?: TestSource;
}

export function marmotCase(head: CaseHead, run: (t: TestContext) => Promise<void>): ConformanceTest {
  const { anchor, side, section, level, source } = head;
  return { id: `${anchor}/${side}`, anchor, section, level, ...(source ? { source } : {}), run };
}

/** marmotCase with the section filled in, for a file of one section. */
export const inSection =
  (section: Section) =>
  (head: Omit<CaseHead, 'section'>, run: (t: TestContext) => Promise<void>): ConformanceTest =>
    marmotCase({ ...head, section }, run);

/** An event's id as reports print it. */
export const short = (e: NostrEvent): string => e.id.slice(0, 12);

/**
 * Sends `event` on `client` as a Marmot client does: when it is refused
 * `auth-required:` and the author's keys are known, authenticates as the
 * author and sends it again. The last reply.
 */
export async function sendAsClient(t: TestContext, client: RelayClient, event: NostrEvent, author?: Keys): Promise<OkReply> {
  const reply = await client.publish(event);
  if (reply.ok || author === undefined || prefixOf(reply.message) !== PREFIX.authRequired) return reply;
  t.note(`${short(event)} was refused auth-required: authenticating as its author and sending it again, as a client would`);
  const auth = await client.auth(author);
  if (!auth.ok) t.untested(`the relay asked for AUTH to accept ${short(event)} (kind ${event.kind}) and refused its author's AUTH: ${auth.message}`);
  return client.publish(event);
}

export interface PublishOptions {
  /** The author's keys, to authenticate when the relay asks (none for events signed by throwaway keys). */
  author?: Keys;
  /** What the events are, for messages ("a KeyPackage in a new slot"). */
  what: string;
  /** The anchor that judges a refusal, when acceptance is not this test's rule: a refusal then leaves it untested. */
  judgedBy?: string;
}

/** Publishes `events` in order on a connection of their own; each must be accepted. The connection, for more. */
export async function publishAll(t: TestContext, events: readonly NostrEvent[], opts: PublishOptions): Promise<RelayClient> {
  const client = await t.connect(opts.judgedBy === undefined ? 'publisher' : 'setup');
  for (const event of events) await publishOn(t, client, event, opts);
  return client;
}

/** Publishes one event on `client`; it must be accepted (see PublishOptions.judgedBy). */
export async function publishOn(t: TestContext, client: RelayClient, event: NostrEvent, opts: PublishOptions): Promise<void> {
  const reply = await sendAsClient(t, client, event, opts.author);
  if (reply.ok) return;
  const refused = `${opts.what} (${short(event)}, kind ${event.kind}) was refused with ${JSON.stringify(reply.message)}`;
  if (opts.judgedBy !== undefined) t.untested(`${refused} (judged by ${opts.judgedBy})`);
  t.fail(refused, '["OK", <id>, true, ""]', okLine(reply));
}

/**
 * Whether the relay's AUTH challenge arrived on `client` before its answer
 * `isAnswer` matches (NIP-42: the challenge comes "no later than" a refusal),
 * judged by arrival order: frames that come in one chunk are all handled
 * before the test looks, so `client.challenge` alone cannot tell.
 */
export function challengedBefore(client: RelayClient, isAnswer: (m: RelayMessage) => boolean): boolean {
  const challenge = client.received.findIndex((m) => m[0] === 'AUTH');
  const answer = client.received.findIndex(isAnswer);
  return challenge >= 0 && (answer < 0 || challenge < answer);
}

/** How a REQ was answered: "returned 2 events (…, …) then EOSE", "was closed with \"…\"". */
export function answerText(res: ReqResult): string {
  if (res.closed !== undefined) return `was closed with ${JSON.stringify(res.closed)}${res.events.length > 0 ? ` after ${eventsText(res.events)}` : ''}`;
  return `returned ${eventsText(res.events)} then EOSE`;
}

/** A REQ on `client` that must be answered with EOSE (the profile serves these events to anyone); its events. */
export async function fetchOn(t: TestContext, client: RelayClient, filter: Filter, what: string): Promise<NostrEvent[]> {
  const res = await reqOnce(client, [filter]);
  t.check(res.eose, `${what} ${answerText(res)}, not EOSE: the relay refused to serve it`, 'EVENTs then EOSE', answerText(res));
  return res.events;
}

/** The same REQ on a connection where nobody is authenticated ("to anyone ... without AUTH"). */
export async function anyoneFetches(t: TestContext, filter: Filter, what: string): Promise<NostrEvent[]> {
  return fetchOn(t, await t.connect('reader'), filter, `${what}, asked by a reader nobody authenticated,`);
}

/** `got` must hold exactly `expected`, in any order; the message says what came instead. */
export function exactly(t: TestContext, got: readonly NostrEvent[], expected: readonly NostrEvent[], what: string): void {
  const extra = got.find((e) => !expected.some((x) => x.id === e.id));
  t.equal(idSet(got), idSet(expected), `${what} returned ${eventsText(got)}, not exactly ${ids(expected).join(', ') || 'nothing'}`, extra);
}
