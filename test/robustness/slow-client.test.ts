/**
 * A client that stops reading cannot grow the relay's memory without bound
 * (reference-relay/server.ts, max_send_buffer):
 *   - a long answer is sent no faster than the client reads: past a quarter
 *     of the cap waiting for it the relay pauses the answer and stops reading
 *     the client's frames, and resumes when the backlog is written; nothing is
 *     dropped and the connection stays open;
 *   - what the client asked for is not the only thing sent to it: live events
 *     to a subscriber that stops reading pile up, and past the cap the relay
 *     closes the connection with 1008 and an `error:` reason, counted in
 *     /metrics (relay_slow_client_closes_total);
 * and a client on another connection is answered meanwhile.
 */
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { connectAs } from '../../client/choreography.js';
import type { RelayClient } from '../../client/relay-client.js';
import { newKeys, type Keys } from '../../protocol/crypto.js';
import { textNote } from '../../fixtures/events.js';
import type { NostrEvent } from '../../protocol/messages.js';
import { startRelay, type RunningRelay } from '../../reference-relay/server.js';
import { waitUntil } from '../../reference-relay/test/harness.js';

const CAP = 256 * 1024;
const NOTE_BYTES = 8 * 1024;
const NOTES = 50;
/** Each REQ's answer is about NOTES × NOTE_BYTES = 400 KB; this many (24 MB) exceed any loopback socket buffer plus the cap. */
const REQS = 60;
/** Live notes published at most while the subscriber does not read (24 MB). */
const LIVE_NOTES = 3000;
const WAIT_MS = 20_000;

let relay: RunningRelay | undefined;
const clients: RelayClient[] = [];
const sockets: WebSocket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.terminate();
  for (const c of clients.splice(0)) c.close();
  await relay?.close();
  relay = undefined;
});

const until = (what: string, done: () => boolean | Promise<boolean>): Promise<void> => waitUntil(done, WAIT_MS, what);

const slowCloses = async (r: RunningRelay): Promise<number> => (await r.core.metrics.slowClientCloses.get()).values[0]?.value ?? 0;

async function relayWithNotes(): Promise<{ relay: RunningRelay; author: Keys; writer: RelayClient }> {
  relay = await startRelay({ host: '127.0.0.1', port: 0, db: ':memory:', maxSendBufferBytes: CAP });
  const author = newKeys();
  const writer = (await connectAs(relay.url, author)).client;
  clients.push(writer);
  for (let i = 0; i < NOTES; i++) expect((await writer.publish(note(author, i))).ok).toBe(true);
  return { relay, author, writer };
}

const created = Math.floor(Date.now() / 1000) - 3600;
const note = (author: Keys, i: number): NostrEvent => textNote(author, 'x'.repeat(NOTE_BYTES), [], created + i);

/** A raw ws client, open; frames counted by type. */
async function rawClient(url: string): Promise<{ ws: WebSocket; counts: Map<string, number>; closed: Promise<{ code: number; reason: string }> }> {
  const ws = new WebSocket(url);
  sockets.push(ws);
  const counts = new Map<string, number>();
  ws.on('message', (data) => {
    const type = (JSON.parse(data.toString()) as unknown[])[0] as string;
    counts.set(type, (counts.get(type) ?? 0) + 1);
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, why) => resolve({ code, reason: why.toString() })));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return { ws, counts, closed };
}

describe('a client that stops reading', () => {
  it(`is sent its answers no faster than it reads: after it resumes, all ${REQS} arrive whole and it is never closed`, async () => {
    const { relay, author } = await relayWithNotes();
    const slow = await rawClient(relay.url);
    slow.ws.pause(); // stops reading the socket
    for (let i = 0; i < REQS; i++) slow.ws.send(JSON.stringify(['REQ', 'again', { kinds: [1], authors: [author.pubkey] }])); // one id, replaced each time: max_subscriptions is 20
    // Another connection is answered while the slow one is stalled.
    const other = (await connectAs(relay.url, newKeys())).client;
    clients.push(other);
    expect((await other.req([{ kinds: [1], authors: [author.pubkey], limit: 5 }])).events).toHaveLength(5);

    slow.ws.resume();
    await until(`all ${REQS} answers`, () => slow.counts.get('EOSE') === REQS);
    expect(slow.counts.get('EVENT')).toBe(REQS * NOTES);
    expect(slow.ws.readyState).toBe(WebSocket.OPEN);
    expect(await slowCloses(relay)).toBe(0);
  }, 60_000);

  it(`is closed with 1008 once live events push more than ${CAP} bytes past what it read, counted in /metrics`, async () => {
    const { relay, author, writer } = await relayWithNotes();
    const slow = await rawClient(relay.url);
    slow.ws.send(JSON.stringify(['REQ', 'live', { kinds: [1], authors: [author.pubkey], limit: 0 }]));
    await until('EOSE of the live subscription', () => slow.counts.get('EOSE') === 1);
    slow.ws.pause();
    // Far more than the cap and any loopback socket buffer: each note is about NOTE_BYTES.
    for (let i = NOTES; i < NOTES + LIVE_NOTES && (await slowCloses(relay)) === 0; i++) expect((await writer.publish(note(author, i))).ok).toBe(true);
    expect(await slowCloses(relay)).toBe(1);

    slow.ws.resume(); // reads what was queued before the close, then the close frame with its reason
    const { code, reason } = await slow.closed;
    expect(code).toBe(1008);
    expect(reason).toMatch(/^error: the client is not reading: over 262144 bytes/);
  }, 60_000);
});
