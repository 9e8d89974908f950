/**
 * keypackage_delivery_latency_seconds (GET /metrics) times a KeyPackage query
 * from its arrival to the writing of its last frame: its wait behind the
 * connection's earlier messages counts (Session.receivedAt), and so does the
 * commit its frames wait for (observeDelivery, after whenDurable).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { keyPackage } from '../../fixtures/events.js';
import { newKeys } from '../../protocol/crypto.js';
import { storagePolicy } from '../core/event.js';
import { observeDelivery } from '../core/handout.js';
import { Session } from '../core/session.js';
import { RelayMetrics } from '../metrics.js';
import { RULES } from '../rules/index.js';
import { SqliteStore } from '../store/sqlite-store.js';

let dir: string;
let file: string;
const stores: SqliteStore[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'kp-relay-delivery-latency-'));
  file = join(dir, 'relay.sqlite');
});
afterEach(() => {
  for (const store of stores.splice(0)) store.close();
  rmSync(dir, { recursive: true, force: true });
});

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('the delivery latency of a KeyPackage query', () => {
  it("times a KeyPackage query's delivery up to after the commit its frames wait for (/metrics)", async () => {
    const store = new SqliteStore(file, { groupCommit: true });
    stores.push(store);
    const metrics = new RelayMetrics(() => 0);
    const commitSeconds: number[] = [];
    store.observeCommits((seconds) => commitSeconds.push(seconds));
    const kp = await keyPackage(newKeys());
    const started = process.hrtime.bigint();
    store.transaction(() => store.insert(kp, storagePolicy(RULES, kp)));
    observeDelivery({ store, metrics }, 'req', started);
    const observed = async (): Promise<{ count: number; sum: number }> => {
      const values = (await metrics.deliveryLatency.get()).values;
      const of = (name: string): number => values.find((v) => v.metricName === name && v.labels.path === 'req')?.value ?? 0;
      return { count: of('keypackage_delivery_latency_seconds_count'), sum: of('keypackage_delivery_latency_seconds_sum') };
    };
    expect((await observed()).count).toBe(0);
    await nextTurn();
    const after = await observed();
    expect(after.count).toBe(1);
    expect(commitSeconds).toHaveLength(1);
    expect(after.sum).toBeGreaterThanOrEqual(commitSeconds[0]!);
  });

  it("times a KeyPackage query from its arrival: its wait behind the connection's earlier messages counts", async () => {
    const session = new Session(1, 'relay.example', () => undefined);
    let releaseFirst = (): void => undefined;
    const firstHeld = new Promise<void>((resolve) => (releaseFirst = resolve));
    const receivedAt: bigint[] = [];
    const first = session.enqueue(async () => {
      receivedAt.push(session.receivedAt());
      await firstHeld;
    });
    const beforeSecond = process.hrtime.bigint();
    const second = session.enqueue(() => void receivedAt.push(session.receivedAt()));
    const afterSecond = process.hrtime.bigint();
    await nextTurn(); // the first is handled, and holds the second behind it
    const released = process.hrtime.bigint();
    releaseFirst();
    await Promise.all([first, second]);
    expect(receivedAt).toHaveLength(2);
    expect(receivedAt[0]!).toBeLessThan(beforeSecond);
    expect(receivedAt[1]!).toBeGreaterThanOrEqual(beforeSecond);
    expect(receivedAt[1]!).toBeLessThanOrEqual(afterSecond);
    // A message handled outside the queue counts from when it is handled.
    expect(session.receivedAt()).toBeGreaterThanOrEqual(released);
  });
});
