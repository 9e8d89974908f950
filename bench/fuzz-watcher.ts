/**
 * The fuzz bench's well-behaved client (bench/fuzz.ts) on a worker thread of
 * its own: in the fuzzing process's thread its round trips would also wait
 * for that thread's generating and judging, and measure the driver as much
 * as the relay. It publishes a note, then on `quiet N` makes N round trips
 * (REQ by id, EVENT, EOSE) one at a time, on `watch` makes them until `stop`,
 * and answers each with the round trips' times and any failure.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { RelayClient } from '../client/relay-client.js';
import { textNote } from '../fixtures/events.js';
import { newKeys } from '../protocol/crypto.js';

export type WatcherAsk = { quiet: number } | 'watch' | 'stop' | 'close';
export type WatcherAnswer = { ready: true } | { rtts: number[]; failures: string[] };

const port = parentPort;
if (!port) throw new Error('bench/fuzz-watcher.js runs as a worker thread');
const { url, timeoutMs } = workerData as { url: string; timeoutMs: number };

const client = await RelayClient.connect(url, { timeoutMs });
const note = textNote(newKeys(), "the well-behaved client's note");
if (!(await client.publish(note)).ok) throw new Error("the watcher's note was refused");

async function roundTrip(): Promise<number> {
  const t0 = performance.now();
  const res = await client.req([{ ids: [note.id] }]);
  const ms = performance.now() - t0;
  client.closeSub(res.subId);
  if (res.events.length !== 1) throw new Error(`the watcher's REQ got ${res.events.length} events${res.closed ? `, CLOSED ${res.closed}` : ''}`);
  return ms;
}

let watching = false;
port.on('message', (ask: WatcherAsk) => {
  if (ask === 'stop') {
    watching = false;
    return;
  }
  if (ask === 'close') {
    void client.close().then(() => port.close());
    return;
  }
  const answer = async (): Promise<WatcherAnswer> => {
    const rtts: number[] = [];
    const failures: string[] = [];
    watching = ask === 'watch';
    try {
      if (typeof ask === 'object') for (let i = 0; i < ask.quiet; i++) rtts.push(await roundTrip());
      else while (watching) rtts.push(await roundTrip());
    } catch (err) {
      failures.push((err as Error).message);
    }
    return { rtts, failures };
  };
  void answer().then((a) => port.postMessage(a));
});
port.postMessage({ ready: true } satisfies WatcherAnswer);
