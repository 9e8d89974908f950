/** PROFILE.md §8 Robustness: bad input gets a clear refusal, and the relay keeps serving. */
import { ids, type TestContext } from '../context.js';
import type { ConformanceTest } from '../types.js';
import { awaitFrame, eventsText, okLine } from '../steps.js';
import { textNote } from '../../fixtures/events.js';
import { closeText, ConnectionClosedError, newSubId, type RelayClient, type WireEntry } from '../../client/relay-client.js';
import type { RelayMessage } from '../../protocol/messages.js';
import { PREFIX, prefixOf } from '../../protocol/profile.js';

/** Beyond these, a limit is too large to exercise in a conformance run. */
const MAX_TESTED_MESSAGE_LENGTH = 16 * 1024 * 1024;
const MAX_TESTED_SUBSCRIPTIONS = 1000;

/** The next matching frame, or undefined when none arrives in time. */

function isRefusal(m: RelayMessage): boolean {
  return m[0] === 'NOTICE' || m[0] === 'CLOSED' || (m[0] === 'OK' && m[2] === false);
}

function show(m: RelayMessage | undefined, t: TestContext): string {
  return m === undefined ? `nothing within ${t.options.timeoutMs} ms` : JSON.stringify(m);
}

/** The connection still answers a valid EVENT with OK true. */
async function stillServes(t: TestContext, client: RelayClient, after: string): Promise<void> {
  const how = client.closedWith ? ` (${closeText(client.closedWith.code, client.closedWith.reason)})` : '';
  t.check(client.isOpen, `the relay closed the connection after ${after}${how}`, 'the connection stays open', 'the relay closed it');
  const note = textNote(t.newKeys(), `still served after ${after}`);
  client.send(['EVENT', note]);
  const sent = t.log[t.log.length - 1];
  const ok = await awaitFrame(t, client, (m) => m[0] === 'OK' && m[1] === note.id, 'OK for a valid note');
  t.check(
    ok !== undefined && ok[0] === 'OK' && ok[2] === true,
    `after ${after}, a valid EVENT (${note.id.slice(0, 12)}) on the same connection ${ok === undefined ? `got no OK within ${t.options.timeoutMs} ms` : `was answered ${JSON.stringify(ok)}`}`,
    '["OK", <id>, true, ""]',
    show(ok, t),
    ok ?? t.quietAfter(sent, t.options.timeoutMs),
  );
}

/** Sends a REQ with raw filters (which may be invalid) and returns its EOSE or CLOSED. */
async function rawReq(t: TestContext, client: RelayClient, filter: unknown): Promise<{ sub: string; reply: RelayMessage | undefined; sent: WireEntry | undefined }> {
  const sub = newSubId('raw');
  client.send(['REQ', sub, filter]);
  const sent = t.log[t.log.length - 1];
  const reply = await awaitFrame(t, client, (m) => ((m[0] === 'EOSE' || m[0] === 'CLOSED') && m[1] === sub) || m[0] === 'NOTICE', `EOSE, CLOSED or NOTICE for ${sub}`);
  return { sub, reply, sent };
}

/** A REQ's answer other than CLOSED, as a verb phrase: "got no answer within 5000 ms", "was served (EOSE)", "got a NOTICE: [...]". */
function notClosed(t: TestContext, reply: RelayMessage | undefined): string {
  if (reply === undefined) return `got no CLOSED within ${t.options.timeoutMs} ms`;
  if (reply[0] === 'EOSE') return 'was served (EOSE)';
  return `got ${JSON.stringify(reply)}`;
}

/** A frame the relay must refuse with `answer` (matched by `match`), then keep serving the connection. */
function badFrame(side: string, what: string, frame: string, match: (m: RelayMessage) => boolean, answer: string): ConformanceTest {
  return {
    id: `kp-robust-bad-input/${side}`,
    anchor: 'kp-robust-bad-input',
    section: 'Robustness',
    level: 'MUST',
    source: { profile: true, stricterThan: 'NIP-01' },
    async run(t: TestContext) {
      const client = await t.connect('client');
      client.sendRaw(frame);
      const sent = t.log[t.log.length - 1];
      const reply = await awaitFrame(t, client, match, `${answer} to ${what}`);
      t.check(
        reply !== undefined,
        `${what} (${frame}) got ${answer.replace(/^an? /, 'no ')} within ${t.options.timeoutMs} ms`,
        '["NOTICE", "..."]',
        show(reply, t),
        t.quietAfter(sent, t.options.timeoutMs),
      );
      await stillServes(t, client, what);
    },
  };
}

/**
 * kp-robust-bad-input: "the relay keeps serving that connection and every other
 * one", so a connection the relay closes while a test waits on it breaks the
 * rule (the oversized frame's allowed close is judged inside that test).
 */
function keepsServing(test: ConformanceTest): ConformanceTest {
  return {
    ...test,
    async run(t: TestContext) {
      try {
        await test.run(t);
      } catch (err) {
        if (!(err instanceof ConnectionClosedError)) throw err;
        const waiting = err.waitingFor ? ` while the client waited for ${err.waitingFor}` : '';
        t.fail(
          `after bad input the relay closed a connection (${closeText(err.code, err.reason)})${waiting}`,
          'a refusal, and the connections stay open',
          `the relay closed a connection (${closeText(err.code, err.reason)})${waiting}`,
        );
      }
    },
  };
}

export const robustnessTests: ConformanceTest[] = ([
  badFrame('malformed-json', 'malformed JSON', '["EVENT", {"kind": 1, "content": ', isRefusal, 'a clear refusal'),
  badFrame('unknown-type', 'an unknown message type', '["HELLO","world"]', (m) => m[0] === 'NOTICE', 'a NOTICE'),
  {
    id: 'kp-robust-bad-input/oversized',
    anchor: 'kp-robust-bad-input',
    section: 'Robustness',
    level: 'MUST',
    source: { profile: true, stricterThan: 'NIP-01' },
    async run(t: TestContext) {
      const max = t.options.nip11?.limitation?.max_message_length;
      if (max === undefined) t.untested('the relay advertises no limitation.max_message_length in NIP-11');
      if (max > MAX_TESTED_MESSAGE_LENGTH) t.untested(`max_message_length is ${max} bytes; frames that long are too large for a conformance run`);
      const client = await t.connect('client');
      const note = textNote(t.newKeys(), 'x'.repeat(max));
      const frame = JSON.stringify(['EVENT', note]);
      const bytes = Buffer.byteLength(frame);
      t.note(`sending an EVENT frame of ${bytes} bytes (max_message_length ${max})`);
      client.sendRaw(frame);
      const sent = t.log[t.log.length - 1];
      const reply = await Promise.race([
        // Closing is the relay's answer here (often code 1009), not an error of the suite.
        awaitFrame(t, client, (m) => (m[0] === 'OK' && m[1] === note.id) || m[0] === 'NOTICE', 'a refusal of an oversized frame').catch((err: unknown) => {
          if (err instanceof ConnectionClosedError) return 'closed' as const;
          throw err;
        }),
        client.closed.then(() => 'closed' as const),
      ]);
      const expected = '["OK", <id>, false, "invalid: ..."] or a NOTICE';
      const closedWith = client.closedWith;
      if (reply === 'closed') {
        const how = closedWith ? ` (${closeText(closedWith.code, closedWith.reason)})` : '';
        t.fail(`the relay closed the connection on an EVENT frame of ${bytes} bytes (max_message_length ${max}) without a refusal${how}`, expected, `the relay closed the connection without one${how}`);
      }
      if (reply === undefined) {
        t.fail(
          `an EVENT frame of ${bytes} bytes (max_message_length ${max}) got no OK or NOTICE within ${t.options.timeoutMs} ms`,
          expected,
          show(reply, t),
          t.quietAfter(sent, t.options.timeoutMs),
        );
      }
      if (reply[0] === 'OK') {
        t.check(reply[2] === false, `an EVENT frame of ${bytes} bytes, over max_message_length ${max}, was accepted: ${JSON.stringify(reply)}`, '["OK", <id>, false, "invalid: ..."]', JSON.stringify(reply), reply);
        t.hasPrefix(reply[3], PREFIX.invalid, `the OK false for an EVENT frame of ${bytes} bytes (max_message_length ${max})`, reply);
      }
      if (client.isOpen) await stillServes(t, client, 'an oversized frame');
      else await stillServes(t, await t.connect('new connection'), 'an oversized frame closed the previous connection');
    },
  },
  {
    id: 'kp-robust-bad-input/invalid-filter',
    anchor: 'kp-robust-bad-input',
    section: 'Robustness',
    level: 'MUST',
    source: { profile: true, stricterThan: 'NIP-01' },
    async run(t: TestContext) {
      const client = await t.connect('client');
      const { reply, sent } = await rawReq(t, client, { kinds: 'x' });
      if (reply === undefined || reply[0] !== 'CLOSED') {
        t.fail(`a REQ with the invalid filter {"kinds":"x"} ${notClosed(t, reply)}, not a CLOSED`, '["CLOSED", <sub>, "invalid: ..."]', show(reply, t), reply ?? t.quietAfter(sent, t.options.timeoutMs));
      }
      t.hasPrefix(reply[2], PREFIX.invalid, 'the CLOSED for the invalid filter {"kinds":"x"}', reply);
      await stillServes(t, client, 'an invalid filter');
    },
  },
  {
    id: 'kp-robust-bad-input/too-many-subscriptions',
    anchor: 'kp-robust-bad-input',
    section: 'Robustness',
    level: 'MUST',
    source: { profile: true, stricterThan: 'NIP-01' },
    async run(t: TestContext) {
      const max = t.options.nip11?.limitation?.max_subscriptions;
      if (max === undefined) t.untested('the relay advertises no limitation.max_subscriptions in NIP-11');
      if (max > MAX_TESTED_SUBSCRIPTIONS) t.untested(`max_subscriptions is ${max}; opening that many is too much for a conformance run`);
      const client = await t.connect('client');
      const filter = { kinds: [1], authors: [t.newKeys().pubkey] };
      const open = await Promise.all(Array.from({ length: max }, () => client.req([filter])));
      const refused = open.findIndex((r) => !r.eose);
      if (refused >= 0) t.untested(`subscription ${refused + 1} of the advertised max_subscriptions=${max} was already refused: ${open[refused]!.closed ?? ''}`);
      const { reply, sent } = await rawReq(t, client, filter);
      if (reply === undefined || reply[0] !== 'CLOSED') {
        t.fail(
          `subscription ${max + 1}, over max_subscriptions=${max}, ${notClosed(t, reply)}, not a CLOSED`,
          '["CLOSED", <sub>, "restricted: ..."] or "invalid: ..."',
          show(reply, t),
          reply ?? t.quietAfter(sent, t.options.timeoutMs),
        );
      }
      const prefix = prefixOf(reply[2]);
      t.check(
        prefix === PREFIX.restricted || prefix === PREFIX.invalid,
        `the CLOSED for subscription ${max + 1}, over max_subscriptions=${max}, said ${JSON.stringify(reply[2])}, without "restricted:" or "invalid:"`,
        '"restricted: ..." or "invalid: ..."',
        JSON.stringify(reply[2]),
        reply,
      );
      await stillServes(t, client, 'a subscription over max_subscriptions');
    },
  },
  {
    id: 'kp-robust-bad-input/other-connections',
    anchor: 'kp-robust-bad-input',
    section: 'Robustness',
    level: 'MUST',
    source: { profile: true, stricterThan: 'NIP-01' },
    async run(t: TestContext) {
      const [bad, good] = await Promise.all([t.connect('bad'), t.connect('good')]);
      bad.sendRaw('{"not": "closed"');
      bad.send(['HELLO', 'world']);
      bad.send(['REQ', newSubId('bad'), { kinds: 'x' }]);
      const note = textNote(t.newKeys(), 'served while another connection misbehaves');
      const ok = await good.publish(note);
      t.check(ok.ok, `while another connection sent bad input, a valid EVENT (${note.id.slice(0, 12)}) on this one was refused with ${JSON.stringify(ok.message)}`, '["OK", <id>, true, ""]', okLine(ok));
      const res = await good.req([{ ids: [note.id] }]);
      t.equal(ids(res.events), ids([note]), `while another connection sent bad input, a REQ on this one for the note ${note.id.slice(0, 12)} by id returned ${eventsText(res.events)}`);
      await stillServes(t, bad, 'bad input');
    },
  },
] satisfies ConformanceTest[]).map(keepsServing);
