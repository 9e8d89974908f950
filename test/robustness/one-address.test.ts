/**
 * Many connections and many subscriptions from one address stay within the
 * limits the relay advertises (NIP-11 limitation.max_subscriptions is per
 * connection): 100 connections from 127.0.0.1 each open more subscriptions
 * than allowed; each gets exactly max_subscriptions answered and the rest
 * CLOSED "restricted:", and a later event reaches exactly the open ones.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { connectAs } from '../../client/choreography.js';
import { newKeys } from '../../protocol/crypto.js';
import { textNote } from '../../fixtures/events.js';
import { PREFIX, prefixOf } from '../../protocol/profile.js';
import { startRelay, type RunningRelay } from '../../reference-relay/server.js';
import { waitUntil } from '../../reference-relay/test/harness.js';

const CONNECTIONS = 100;
const MAX_SUBSCRIPTIONS = 8;
const EXTRA = 3;
const WAIT_MS = 20_000;

let relay: RunningRelay;
const sockets: WebSocket[] = [];
beforeAll(async () => {
  relay = await startRelay({ host: '127.0.0.1', port: 0, db: ':memory:', maxSubscriptions: MAX_SUBSCRIPTIONS });
});
afterAll(async () => {
  for (const s of sockets) s.terminate();
  await relay.close();
});

interface Seen {
  eose: number;
  closed: string[];
  events: number;
}

async function connection(author: string): Promise<Seen> {
  const ws = new WebSocket(relay.url);
  sockets.push(ws);
  const seen: Seen = { eose: 0, closed: [], events: 0 };
  ws.on('message', (data) => {
    const [type, , third] = JSON.parse(data.toString()) as [string, string, unknown];
    if (type === 'EOSE') seen.eose += 1;
    else if (type === 'CLOSED') seen.closed.push(String(third));
    else if (type === 'EVENT') seen.events += 1;
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  for (let i = 0; i < MAX_SUBSCRIPTIONS + EXTRA; i++) ws.send(JSON.stringify(['REQ', `s${i}`, { kinds: [1], authors: [author] }]));
  return seen;
}

const until = (what: string, done: () => boolean): Promise<void> => waitUntil(done, WAIT_MS, what);

describe(`${CONNECTIONS} connections from one address`, () => {
  it(`each get ${MAX_SUBSCRIPTIONS} subscriptions and ${EXTRA} CLOSED restricted:, and an event reaches exactly the open ones`, async () => {
    const author = newKeys();
    const all = await Promise.all(Array.from({ length: CONNECTIONS }, () => connection(author.pubkey)));
    await until('every REQ answered', () => all.every((s) => s.eose + s.closed.length === MAX_SUBSCRIPTIONS + EXTRA));
    expect(all.map((s) => s.eose)).toEqual(all.map(() => MAX_SUBSCRIPTIONS));
    expect(new Set(all.flatMap((s) => s.closed.map(prefixOf)))).toEqual(new Set([PREFIX.restricted]));

    const { client } = await connectAs(relay.url, author);
    try {
      expect((await client.publish(textNote(author, 'to every open subscription'))).ok).toBe(true);
    } finally {
      client.close();
    }
    await until('the event on every open subscription', () => all.every((s) => s.events >= MAX_SUBSCRIPTIONS));
    expect(all.map((s) => s.events)).toEqual(all.map(() => MAX_SUBSCRIPTIONS));
  }, 60_000);
});
