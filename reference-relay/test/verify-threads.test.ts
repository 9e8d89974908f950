/**
 * Signature and MLS checks on worker threads (reference-relay/verify/): the
 * same answers as on the main thread, and through the relay the same OKs, in
 * the order each connection sent its EVENTs, while the main thread serves
 * other connections. The worker is the built dist/reference-relay/verify/worker.js.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { newKeys } from '../../protocol/crypto.js';
import { keyPackage, textNote } from '../../fixtures/events.js';
import type { NostrEvent } from '../../protocol/messages.js';
import { PREFIX, prefixOf } from '../../protocol/profile.js';
import { IN_THREAD, type Verifier } from '../verify/verifier.js';
import { WorkerVerifier } from '../verify/worker-verifier.js';
import { ClientPool, startTestRelay, withBadId, withBadSig, type RunningRelay } from './harness.js';

let verifier: Verifier | undefined;
let relay: RunningRelay | undefined;
const pool = new ClientPool();
afterEach(async ({ task }) => {
  await pool.closeAll(task.result?.state === 'fail');
  await relay?.close();
  await verifier?.close();
  relay = verifier = undefined;
});

/** Valid and broken events of every check: signature, id, MLS content of another pubkey. */
async function specimens(): Promise<unknown[]> {
  const alice = newKeys();
  const kp = await keyPackage(alice);
  const foreign = await keyPackage(alice, { mls: { identity: Buffer.from(newKeys().pubkey, 'hex') } });
  const note = textNote(alice, 'hello');
  return [kp, foreign, note, withBadSig(kp), withBadId(note), { kind: 1 }, null];
}

describe('WorkerVerifier', () => {
  it('gives the answers of the main-thread checks, for signatures and MLS content alike', async () => {
    verifier = new WorkerVerifier(2);
    const events = await specimens();
    const inThread = await Promise.all(events.map((e) => IN_THREAD.eventProblem(e)));
    expect(await Promise.all(events.map((e) => verifier!.eventProblem(e)))).toEqual(inThread);
    // Both KeyPackages and the note are well signed (the foreign identity is the MLS check's to find); the rest are not.
    expect(inThread.map((p) => p === undefined)).toEqual([true, true, true, false, false, false, false]);
    const kps = events.slice(0, 2) as NostrEvent[];
    const mls = await Promise.all(kps.map((e) => IN_THREAD.keyPackageMlsProblem(e)));
    expect(mls[0]).toBeUndefined();
    expect(mls[1]).toMatch(/identity/);
    expect(await Promise.all(kps.map((e) => verifier!.keyPackageMlsProblem(e)))).toEqual(mls);
  });
});

describe('a verification worker that dies', () => {
  it('leaves no check unanswered: what it held is checked on the main thread, and a new worker takes the next', async () => {
    const pool = new WorkerVerifier(1);
    verifier = pool;
    const events = await specimens();
    const expected = await Promise.all(events.map((e) => IN_THREAD.eventProblem(e)));
    const asked = Promise.all(events.map((e) => pool.eventProblem(e)));
    await pool.crashOne();
    expect(await asked).toEqual(expected);
    expect(await pool.eventProblem(events[0])).toBeUndefined();
    expect(pool.restarts).toBe(1);
  });
});

describe('the relay with verification threads', () => {
  it('answers each EVENT of a connection in the order sent, valid and invalid interleaved', async () => {
    relay = await startTestRelay({ verifyThreads: 2 });
    const alice = newKeys();
    const kps = await Promise.all(Array.from({ length: 12 }, () => keyPackage(alice)));
    const sent = kps.map((kp, i) => (i % 3 === 1 ? withBadSig(kp) : kp));
    const client = await pool.connectAs(relay.url, alice);
    const replies = await Promise.all(sent.map((e) => client.publish(e)));
    expect(replies.map((r) => (r.ok ? 'ok' : prefixOf(r.message)))).toEqual(sent.map((_, i) => (i % 3 === 1 ? PREFIX.invalid : 'ok')));
    // OKs in the order the EVENTs went out: the wire log holds them as they arrived.
    const okOrder = client.log.flatMap((w) => (w.dir === 'received' ? (/\["OK","([0-9a-f]{64})"/.exec(w.frame)?.slice(1) ?? []) : []));
    const ids = new Set(sent.map((e) => e.id));
    expect(okOrder.filter((id) => ids.has(id))).toEqual(sent.map((e) => e.id)); // the AUTH's OK aside
  });
});
