/** PROFILE.md §8.1 kp-robust-bad-input: clear refusals, and the relay keeps serving. */
import { describe, expect, it } from 'vitest';
import { newKeys } from '../../protocol/crypto.js';
import type { RelayMessage } from '../../protocol/messages.js';
import { PREFIX, prefixOf } from '../../protocol/profile.js';
import { textNote } from '../../fixtures/events.js';
import { newSubId, type RelayClient } from '../../client/relay-client.js';
import { closedFor, liveSub, sharedRelay } from './harness.js';

const MAX_MESSAGE_LENGTH = 4096;
const MAX_SUBSCRIPTIONS = 3;
const relay = sharedRelay({ maxMessageLength: MAX_MESSAGE_LENGTH, maxSubscriptions: MAX_SUBSCRIPTIONS });
const pool = relay.pool;

function isNotice(m: RelayMessage): boolean {
  return m[0] === 'NOTICE' && typeof m[1] === 'string' && m[1].length > 0;
}

/** The connection still answers: a note is accepted and read back. */
async function expectStillServed(client: RelayClient): Promise<void> {
  expect(client.isOpen).toBe(true);
  const author = newKeys();
  const note = textNote(author, 'still here');
  expect((await client.publish(note)).ok).toBe(true);
  const res = await client.req([{ authors: [author.pubkey] }]);
  expect(res.events).toEqual([note]);
}

describe('kp-robust-bad-input', () => {
  const notices: [string, string][] = [
    ['malformed JSON', '["REQ", "x", {'],
    ['a JSON value that is not an array', '{"type":"REQ"}'],
    ['an unknown message type', '["HELLO", "world"]'],
    ['an empty array', '[]'],
    ['a REQ without a subscription id', '["REQ"]'],
    ['COUNT, which the reference relay does not support (Appendix A)', '["COUNT", "c1", {"kinds":[1]}]'],
  ];
  for (const [what, frame] of notices) {
    it(`kp-robust-bad-input: ${what} gets a NOTICE and the connection keeps working`, async () => {
      const client = await pool.connect(relay.url);
      client.sendRaw(frame);
      await client.next(isNotice, 'a NOTICE');
      await expectStillServed(client);
    });
  }

  it('kp-robust-bad-input: a frame longer than max_message_length gets a NOTICE or OK false "invalid:", and the connection keeps working', async () => {
    const client = await pool.connect(relay.url);
    const big = textNote(newKeys(), 'x'.repeat(MAX_MESSAGE_LENGTH + 100));
    client.send(['EVENT', big]);
    const reply = await client.next((m) => isNotice(m) || (m[0] === 'OK' && m[1] === big.id), 'a refusal of the long frame');
    if (reply[0] === 'OK') {
      expect(reply[2]).toBe(false);
      expect(prefixOf(reply[3])).toBe(PREFIX.invalid);
    }
    expect((await client.req([{ ids: [big.id] }])).events).toEqual([]);
    await expectStillServed(client);
  });

  it('kp-robust-bad-input: a frame many times longer than max_message_length is refused without closing the connection', async () => {
    const client = await pool.connect(relay.url);
    const huge = textNote(newKeys(), 'x'.repeat(MAX_MESSAGE_LENGTH * 8));
    client.send(['EVENT', huge]);
    const outcome = await Promise.race([
      client.next((m) => isNotice(m) || (m[0] === 'OK' && m[1] === huge.id), 'a refusal of the huge frame', 3000),
      client.closed.then(() => 'the relay closed the connection' as const),
    ]);
    expect(outcome).not.toBe('the relay closed the connection');
    if (outcome[0] === 'OK') expect(outcome[2]).toBe(false);
    await expectStillServed(client);
  });

  const badFilters: [string, unknown][] = [
    ['kinds: "x"', { kinds: 'x' }],
    ['a filter that is not an object', 5],
    ['authors that are not strings', { authors: [123] }],
    ['limit: "many"', { limit: 'many' }],
  ];
  for (const [what, filter] of badFilters) {
    it(`kp-robust-bad-input: an invalid filter (${what}) gets CLOSED "invalid:" and the connection keeps working`, async () => {
      const client = await pool.connect(relay.url);
      const subId = newSubId('bad');
      client.send(['REQ', subId, filter]);
      expect(prefixOf(await closedFor(client, subId))).toBe(PREFIX.invalid);
      await expectStillServed(client);
    });
  }

  it('kp-robust-bad-input: a malformed EVENT gets OK false "invalid:" (or a NOTICE), and the connection keeps working', async () => {
    const client = await pool.connect(relay.url);
    const id = 'ab'.repeat(32);
    client.send(['EVENT', { id, kind: 'x', tags: 'none' }]);
    const reply = await client.next((m) => isNotice(m) || (m[0] === 'OK' && m[1] === id), 'a refusal of the malformed event');
    if (reply[0] === 'OK') {
      expect(reply[2]).toBe(false);
      expect(prefixOf(reply[3])).toBe(PREFIX.invalid);
    }
    await expectStillServed(client);
  });

  it('kp-robust-bad-input: more subscriptions than max_subscriptions get CLOSED with a prefix; the open ones keep working', async () => {
    const client = await pool.connect(relay.url);
    const author = newKeys();
    const open: string[] = [];
    for (let i = 0; i < MAX_SUBSCRIPTIONS; i++) open.push(await liveSub(client, { kinds: [1], authors: [author.pubkey] }));
    const extra = await client.req([{ kinds: [1], limit: 0 }]);
    expect(extra.eose).toBe(false);
    expect([PREFIX.restricted, PREFIX.invalid]).toContain(prefixOf(extra.closed ?? ''));

    const note = textNote(author, 'to every open subscription');
    const publisher = await pool.connect(relay.url);
    expect((await publisher.publish(note)).ok).toBe(true);
    for (const subId of open) {
      const m = await client.next((x) => x[0] === 'EVENT' && x[1] === subId, `the note on ${subId}`);
      expect(m[2]).toEqual(note);
    }
    // Closing one makes room for another.
    client.closeSub(open[0]!);
    const again = await client.req([{ kinds: [1], limit: 0 }]);
    expect(again.closed).toBeUndefined();
    expect(again.eose).toBe(true);
  });

  it('kp-robust-bad-input: another connection keeps being served while one sends garbage', async () => {
    const watcher = await pool.connect(relay.url);
    const author = newKeys();
    const watchSub = await liveSub(watcher, { kinds: [1], authors: [author.pubkey] });
    const abuser = await pool.connect(relay.url);
    abuser.sendRaw('not json at all');
    abuser.sendRaw('["WHAT"]');
    abuser.send(['REQ', newSubId('bad'), { kinds: 'x' }]);
    abuser.send(['EVENT', textNote(author, 'y'.repeat(MAX_MESSAGE_LENGTH * 2))]);
    const many = Array.from({ length: MAX_SUBSCRIPTIONS + 2 }, () => newSubId('many'));
    for (const subId of many) abuser.send(['REQ', subId, { kinds: [1], limit: 0 }]);

    const note = textNote(author, 'served throughout');
    const publisher = await pool.connect(relay.url);
    expect((await publisher.publish(note)).ok).toBe(true);
    const live = await watcher.next((m) => m[0] === 'EVENT' && m[1] === watchSub, 'the live note');
    expect(live[2]).toEqual(note);
    await expectStillServed(watcher);
    for (const subId of many) abuser.closeSub(subId);
    await expectStillServed(abuser);
  });
});
