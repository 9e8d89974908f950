/** NIP-01, as far as the profile leans on it: OK for every EVENT, EOSE, CLOSED prefixes, filters, live delivery. */
import { ids, type Judged, type TestContext } from '../context.js';
import type { ConformanceTest } from '../types.js';
import { awaitFrame, eventsText } from '../steps.js';
import { deletion, keyPackage, textNote } from '../../fixtures/events.js';
import { closeText, ConnectionClosedError, newSubId, nowSeconds, wireEntryOf, type RelayClient } from '../../client/relay-client.js';
import { sign, type Keys } from '../../protocol/crypto.js';
import type { Filter, NostrEvent, RelayMessage } from '../../protocol/messages.js';
import { KIND, PREFIX, TAG } from '../../protocol/profile.js';

/**
 * NIP-01's machine-readable prefix: one word before a colon. The NIP fixes no
 * case, so `ERROR: bad req: ...` has the prefix `ERROR` (strfry); lowercase
 * standard words are judged separately, as a SHOULD (nip-01/standard-prefix).
 */
function machinePrefix(message: string): string | undefined {
  return /^([A-Za-z][A-Za-z0-9_-]*):/.exec(message)?.[1];
}

const STANDARD_PREFIXES: readonly string[] = Object.values(PREFIX);

/** A filter as one short line: 64-hex ids and pubkeys cut to 12 digits. */
function filterText(filter: unknown): string {
  return JSON.stringify(filter).replace(/[0-9a-f]{64}/g, (hex) => hex.slice(0, 12));
}

/** Refusals of requests every relay of this profile refuses: the broken-signature EVENT's OK false and the probe REQs' CLOSED. */
async function refusals(t: TestContext): Promise<{ what: string; message: string; at?: Judged }[]> {
  const client = await t.connect('client');
  const found: { what: string; message: string; at?: Judged }[] = [];
  const note = textNote(t.newKeys(), 'a note with a broken signature');
  const broken = { ...note, sig: note.sig.slice(0, -1) + (note.sig.endsWith('0') ? '1' : '0') };
  const ok = await client.publish(broken);
  if (!ok.ok && typeof ok.message === 'string') found.push({ what: 'the OK false for an EVENT with a broken signature', message: ok.message, at: client.lastTakenEntry });
  const conn = { client };
  for (const [sub, filter] of closedProbes(t)) {
    const { end } = await probe(t, conn, sub, filter);
    if (end?.[0] === 'CLOSED') found.push({ what: `the CLOSED for ${filterText(filter)}`, message: end[2], at: end });
  }
  return found;
}

/** How the relay answered one probe REQ. */
interface ProbeAnswer {
  /** The REQ's EOSE or CLOSED, when one came. */
  end?: RelayMessage;
  /** A NOTICE that came after the REQ (before its EOSE or CLOSED, or instead of them). */
  notice?: RelayMessage;
  /** How the relay closed the connection on it, when it did. */
  hungUp?: string;
}

/**
 * Sends one probe REQ and returns its EOSE or CLOSED, and a NOTICE that came
 * first (then the EOSE or CLOSED is waited for again). A relay that closes the
 * connection instead answers nothing here (kp-robust-bad-input judges that);
 * the next probes go on a fresh connection.
 */
async function probe(t: TestContext, conn: { client: RelayClient }, sub: string, filter: unknown): Promise<ProbeAnswer> {
  const ends = (x: RelayMessage): boolean => (x[0] === 'EOSE' || x[0] === 'CLOSED') && x[1] === sub;
  try {
    conn.client.send(['REQ', sub, filter]);
    const sent = t.log.length - 1;
    // Only a NOTICE that arrived after this REQ answers it.
    const later = (x: RelayMessage): boolean => x[0] === 'NOTICE' && t.log.indexOf(wireEntryOf(x)!) > sent;
    const first = await awaitFrame(t, conn.client, (x) => ends(x) || later(x), `EOSE, CLOSED or NOTICE for ${sub.slice(0, 20)}`);
    if (first === undefined || ends(first)) return first === undefined ? {} : { end: first };
    const end = await awaitFrame(t, conn.client, ends, `EOSE or CLOSED for ${sub.slice(0, 20)}`);
    return end === undefined ? { notice: first } : { end, notice: first };
  } catch (err) {
    if (!(err instanceof ConnectionClosedError)) throw err;
    const hungUp = closeText(err.code, err.reason);
    t.note(`the relay closed the connection on ${JSON.stringify(filter)} (${hungUp}); the next probes use a new connection`);
    conn.client = await t.connect('client');
    return { hungUp };
  }
}

/** NIP-01: "<subscription_id> is an arbitrary, non-empty string of max length 64 chars". */
function validSubId(sub: string): boolean {
  return sub.length > 0 && sub.length <= 64;
}

/** Requests a relay of this profile refuses: an invalid filter, a too-long id, someone's KeyPackages without AUTH. */
function closedProbes(t: TestContext): [string, unknown][] {
  return [
    [newSubId('bad-filter'), { kinds: 'x' }],
    [`${newSubId('long')}-${'x'.repeat(80)}`, { kinds: [1], limit: 1 }],
    [newSubId('kp-anon'), { kinds: [KIND.keyPackage], authors: [t.newKeys().pubkey] }],
  ];
}

const FILTER_REQUIREMENT =
  'All conditions of a filter that are specified must match for an event to pass the filter ... an event matches a filter if since <= created_at <= until holds.';

/** Publishes `events` on `client`; a refusal means the filter tests have nothing to read. */
async function publishAll(t: TestContext, client: RelayClient, events: readonly NostrEvent[]): Promise<void> {
  for (const e of events) {
    const reply = await client.publish(e);
    if (!reply.ok) t.untested(`the relay refused a kind ${e.kind} event the test needs: ${reply.message}`);
  }
}

interface Notes {
  author: Keys;
  /** kind 1, oldest */
  n1: NostrEvent;
  /** kind 1 with an e tag naming n1 */
  n2: NostrEvent;
  /** kind 7 reacting to n1 */
  reaction: NostrEvent;
  /** kind 1, newest */
  n3: NostrEvent;
  /** kind 1 by someone else, with an e tag naming n1 */
  stranger: NostrEvent;
}

/** Fresh events with distinct created_at, all in the past, published before a filter test reads them. */
async function publishNotes(t: TestContext): Promise<Notes> {
  const author = t.newKeys();
  const now = nowSeconds();
  const n1 = textNote(author, 'first', [], now - 40);
  const n2 = textNote(author, 'second', [['e', n1.id]], now - 30);
  const reaction = sign({ kind: 7, created_at: now - 25, tags: [['e', n1.id]], content: '+' }, author);
  const n3 = textNote(author, 'third', [], now - 20);
  const stranger = textNote(t.newKeys(), 'a reply by someone else', [['e', n1.id]], now - 35);
  await publishAll(t, await t.connect('writer'), [n1, n2, reaction, n3, stranger]);
  return { author, n1, n2, reaction, n3, stranger };
}

/** A filter test: publish the notes, run one REQ from another connection, compare the ids it returns. */
function filterTest(side: string, filter: (n: Notes) => Filter, expected: (n: Notes) => NostrEvent[], what: string): ConformanceTest {
  return {
    id: `nip-01/filter-${side}`,
    anchor: 'nip-01',
    section: 'NIP-01',
    level: 'MUST',
    requirement: FILTER_REQUIREMENT,
    async run(t: TestContext) {
      const notes = await publishNotes(t);
      const reader = await t.connect('reader');
      const f = filter(notes);
      const res = await reader.req([f]);
      t.check(res.eose, `the REQ ${filterText(f)} was closed with ${JSON.stringify(res.closed)}, not served`, 'EOSE', `CLOSED ${JSON.stringify(res.closed)}`);
      const want = expected(notes);
      t.equal(ids(res.events).sort(), ids(want).sort(), `the REQ ${filterText(f)} returned ${eventsText(res.events)}, not ${what} (${ids(want).join(', ')})`);
    },
  };
}

export const nip01Tests: ConformanceTest[] = [
  {
    id: 'nip-01/ok-every-event',
    anchor: 'nip-01',
    section: 'NIP-01',
    level: 'MUST',
    requirement:
      'OK messages MUST be sent in response to EVENT messages received from clients ... The 4th parameter MUST always be present, but MAY be an empty string when the 3rd is true, otherwise it MUST be a string formed by a machine-readable single-word prefix followed by a : and then a human-readable message.',
    async run(t: TestContext) {
      const author = t.newKeys();
      const now = nowSeconds();
      const note = textNote(author, 'a note');
      const broken = textNote(author, 'a note with a broken signature');
      const events: NostrEvent[] = [
        note,
        sign({ kind: 0, created_at: now, tags: [], content: '{"name":"kpsuite"}' }, author),
        sign({ kind: 7, created_at: now, tags: [['e', note.id]], content: '+' }, author),
        sign({ kind: KIND.keyPackageRelays, created_at: now, tags: [[TAG.relay, 'wss://relay.example.com']], content: '' }, author),
        sign({ kind: 30078, created_at: now, tags: [['d', 'kpsuite']], content: 'addressable' }, author),
        sign({ kind: 20001, created_at: now, tags: [], content: 'ephemeral' }, author),
        await keyPackage(author),
        deletion(author, [note.id], 1),
        { ...broken, sig: broken.sig.slice(0, -1) + (broken.sig.endsWith('0') ? '1' : '0') },
      ];
      const client = await t.connect('client');
      for (const e of events) client.send(['EVENT', e]);
      for (const e of events) {
        const what = `kind ${e.kind}${e === events[events.length - 1] ? ' with a broken signature' : ''}`;
        const ok = await awaitFrame(t, client, (m) => m[0] === 'OK' && m[1] === e.id, `OK for ${what}`);
        if (ok === undefined || ok[0] !== 'OK') {
          t.fail(
            `the EVENT of ${what} (${e.id.slice(0, 12)}) got no OK within ${t.options.timeoutMs} ms`,
            `["OK", "${e.id.slice(0, 12)}...", <bool>, <message>]`,
            `nothing within ${t.options.timeoutMs} ms`,
            t.quietAfter(client.lastTakenEntry, t.options.timeoutMs),
          );
        }
        t.check(
          typeof ok[3] === 'string',
          ok[3] === undefined ? `the OK for ${what} (${e.id.slice(0, 12)}) had no 4th element, no message` : `the OK for ${what} (${e.id.slice(0, 12)}) had ${JSON.stringify(ok[3])} as its message, not a string`,
          'a string',
          JSON.stringify(ok),
          ok,
        );
        if (ok[2] !== true) {
          t.check(machinePrefix(ok[3]) !== undefined, `the OK false for ${what} (${e.id.slice(0, 12)}) said ${JSON.stringify(ok[3])}, without a machine-readable prefix`, '"<prefix>: ..."', JSON.stringify(ok[3]), ok);
        }
      }
      const extra = (await t.quiet(client)).filter((m) => m[0] === 'OK');
      t.equal(
        extra.map((m) => JSON.stringify(m)),
        [],
        `after each of the ${events.length} EVENTs had its OK, ${extra.length} more OK(s) arrived (for ${extra.map((m) => String(m[1]).slice(0, 12)).join(', ')})`,
        extra[0],
      );
    },
  },
  {
    id: 'nip-01/req-eose',
    anchor: 'nip-01',
    section: 'NIP-01',
    level: 'MUST',
    requirement: '["EOSE", <subscription_id>], used to indicate the end of stored events and the beginning of events newly received in real-time.',
    async run(t: TestContext) {
      const author = t.newKeys();
      const notes = [textNote(author, 'one', [], nowSeconds() - 2), textNote(author, 'two', [], nowSeconds() - 1)];
      await publishAll(t, await t.connect('writer'), notes);
      const reader = await t.connect('reader');
      const sub = newSubId('eose');
      reader.send(['REQ', sub, { authors: [author.pubkey] }]);
      const before: NostrEvent[] = [];
      for (;;) {
        const m = await awaitFrame(t, reader, (x) => (x[0] === 'EVENT' || x[0] === 'EOSE' || x[0] === 'CLOSED') && x[1] === sub, `EOSE for ${sub}`);
        if (m === undefined) {
          t.fail(
            `the REQ for the author's ${notes.length} notes got no EOSE within ${t.options.timeoutMs} ms (after ${eventsText(before)})`,
            `["EOSE", "${sub}"]`,
            `nothing after ${before.length} event(s) within ${t.options.timeoutMs} ms`,
            t.quietAfter(reader.lastTakenEntry, t.options.timeoutMs),
          );
        }
        if (m[0] === 'CLOSED') t.fail(`the REQ for the author's ${notes.length} notes was closed with ${JSON.stringify(m[2])}, not served and ended with EOSE`, `["EOSE", "${sub}"]`, JSON.stringify(m), m);
        if (m[0] === 'EOSE') break;
        if (m[0] === 'EVENT') before.push(m[2]);
      }
      t.equal(ids(before).sort(), ids(notes).sort(), `the REQ for the author's ${notes.length} stored notes (${ids(notes).join(', ')}) got ${eventsText(before)} before its EOSE`);
    },
  },
  {
    id: 'nip-01/closed-prefix',
    anchor: 'nip-01',
    section: 'NIP-01',
    level: 'MUST',
    requirement:
      'CLOSED messages MUST be sent in response to a REQ when the relay refuses to fulfill it ... This message uses the same pattern of OK messages with the machine-readable prefix and human-readable message.',
    async run(t: TestContext) {
      const conn = { client: await t.connect('client') };
      const closed: string[] = [];
      /** What the relay did with each probe it did not refuse with CLOSED, for the untested reason. */
      const otherwise: string[] = [];
      for (const [sub, filter] of closedProbes(t)) {
        const what = `the REQ ${filterText(filter)}${validSubId(sub) ? '' : ` with a ${sub.length}-character subscription id`}`;
        const { end, notice, hungUp } = await probe(t, conn, sub, filter);
        if (end?.[0] === 'CLOSED') {
          closed.push(end[2]);
          t.check(machinePrefix(end[2]) !== undefined, `the CLOSED for ${filterText(filter)} said ${JSON.stringify(end[2])}, without a machine-readable prefix`, '"<prefix>: ..."', JSON.stringify(end[2]), end);
        } else if (end?.[0] === 'EOSE') {
          otherwise.push(`served ${what} (EOSE)`);
        } else if (notice !== undefined && validSubId(sub)) {
          // Refused (a NOTICE and neither EOSE nor CLOSED): "CLOSED messages MUST be sent in response to a REQ when the relay refuses to fulfill it".
          t.fail(
            `${what} was refused with ${JSON.stringify(notice)} and no CLOSED followed within ${t.options.timeoutMs} ms: a refused REQ must be answered with CLOSED`,
            `["CLOSED", "${sub}", "<prefix>: ..."]`,
            `${JSON.stringify(notice)}, then neither CLOSED nor EOSE for ${sub} within ${t.options.timeoutMs} ms`,
            t.quietAfter(notice, t.options.timeoutMs),
          );
        } else if (notice !== undefined) {
          // NIP-01 allows subscription ids of at most 64 characters: how a relay refuses a longer one is not judged.
          otherwise.push(`answered ${what} with ${JSON.stringify(notice)} and no CLOSED (not judged: NIP-01 allows ids of at most 64 characters)`);
        } else if (hungUp !== undefined) {
          otherwise.push(`closed the connection on ${what} (${hungUp})`);
        } else {
          otherwise.push(`answered ${what} with nothing within ${t.options.timeoutMs} ms`);
        }
      }
      if (closed.length === 0) t.untested(`the relay refused none of the probe REQs with CLOSED, so no CLOSED message could be checked: it ${otherwise.join('; ')}`);
    },
  },
  {
    id: 'nip-01/standard-prefix',
    anchor: 'nip-01',
    section: 'NIP-01',
    level: 'SHOULD',
    requirement:
      'The standardized machine-readable prefixes for OK and CLOSED are: duplicate, pow, blocked, rate-limited, invalid, restricted, mute and error for when none of that fits. (NIP-42 adds auth-required.)',
    async run(t: TestContext) {
      const found = await refusals(t);
      if (found.length === 0) t.untested('the relay refused none of the probes, so no prefix could be read');
      for (const { what, message, at } of found) {
        const prefix = machinePrefix(message);
        t.check(
          prefix !== undefined && STANDARD_PREFIXES.includes(prefix),
          `${what} said ${JSON.stringify(message)}, not starting with one of the standard lowercase prefixes`,
          `one of ${STANDARD_PREFIXES.map((p) => `"${p}:"`).join(', ')}`,
          JSON.stringify(message),
          at,
        );
      }
    },
  },
  {
    id: 'nip-01/text-note-query',
    anchor: 'nip-01',
    section: 'NIP-01',
    level: 'SHOULD',
    requirement: 'Upon receiving a REQ message, the relay SHOULD query its internal database and return events that match the filter.',
    async run(t: TestContext) {
      const note = textNote(t.newKeys(), 'a text note to read back');
      await publishAll(t, await t.connect('writer'), [note]);
      const res = await (await t.connect('reader')).req([{ ids: [note.id] }]);
      t.sameEvents(res.events, [note], `a REQ for the published kind 1 note ${note.id.slice(0, 12)} by id returned ${eventsText(res.events)}, not the note unchanged`, res.events[0]);
    },
  },
  {
    id: 'nip-01/live-delivery',
    anchor: 'nip-01',
    section: 'NIP-01',
    level: 'SHOULD',
    requirement: '... then store that filter and send again all future events it receives to that same websocket until the websocket is closed.',
    async run(t: TestContext) {
      const author = t.newKeys();
      const reader = await t.connect('reader');
      const live = await reader.req([{ kinds: [1], authors: [author.pubkey] }]);
      if (!live.eose) t.untested(`the relay refused the subscription: ${live.closed ?? ''}`);
      const note = textNote(author, 'delivered live');
      await publishAll(t, await t.connect('writer'), [note]);
      const m = await awaitFrame(t, reader, (x) => x[0] === 'EVENT' && x[1] === live.subId && x[2].id === note.id, 'the live EVENT');
      t.check(
        m !== undefined,
        `the kind 1 note ${note.id.slice(0, 12)}, published on another connection, did not arrive on the open matching subscription ${live.subId} within ${t.options.timeoutMs} ms`,
        `["EVENT", "${live.subId}", <note>]`,
        `nothing within ${t.options.timeoutMs} ms`,
        t.quietAfter(reader.lastTakenEntry, t.options.timeoutMs),
      );
    },
  },
  filterTest('ids', (n) => ({ ids: [n.n2.id] }), (n) => [n.n2], 'exactly the named event'),
  filterTest('authors', (n) => ({ authors: [n.author.pubkey] }), (n) => [n.n1, n.n2, n.reaction, n.n3], "the author's 4 events and nobody else's"),
  filterTest('kinds', (n) => ({ authors: [n.author.pubkey], kinds: [7] }), (n) => [n.reaction], "only the author's kind 7 reaction"),
  filterTest('tag-e', (n) => ({ '#e': [n.n1.id] }), (n) => [n.n2, n.reaction, n.stranger], 'the 3 events whose e tags name that id, by any author'),
  filterTest(
    'since-until',
    (n) => ({ authors: [n.author.pubkey], kinds: [1], since: n.n2.created_at, until: n.n3.created_at }),
    (n) => [n.n2, n.n3],
    'the 2 kind 1 notes at since and until (both bounds included: since <= created_at <= until)',
  ),
  {
    id: 'nip-01/filter-limit',
    anchor: 'nip-01',
    section: 'NIP-01',
    level: 'SHOULD',
    requirement:
      'limit: <maximum number of events relays SHOULD return in the initial query> ... When limit: n is present it is assumed that the events returned in the initial query will be the last n events ordered by the created_at.',
    async run(t: TestContext) {
      const notes = await publishNotes(t);
      const res = await (await t.connect('reader')).req([{ authors: [notes.author.pubkey], kinds: [1], limit: 2 }]);
      // NIP-01 says which events (the last n by created_at), not in which order they arrive.
      t.equal(
        ids(res.events).sort(),
        ids([notes.n3, notes.n2]).sort(),
        `a REQ with limit 2 for the author's 3 kind 1 notes returned ${eventsText(res.events)}, not the 2 newest (${ids([notes.n3, notes.n2]).join(', ')})`,
      );
    },
  },
];
