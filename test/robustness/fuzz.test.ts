/**
 * kp-robust-bad-input (PROFILE.md §8.1): a bounded slice of bench/fuzz.ts
 * (5,000 malformed text frames on four connections, binary frames, invalid
 * UTF-8, one frame over 16 MiB) against `kpsuite relay` in its own process,
 * with its default limits. bench/fuzz.ts says what is sent and how each
 * answer is attributed to its frame.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryOf, runFuzz, type FuzzReport } from '../../bench/fuzz.js';
import { connectAs, publishKeyPackages } from '../../client/choreography.js';
import { RelayClient } from '../../client/relay-client.js';
import { textNote } from '../../fixtures/events.js';
import { newKeys } from '../../protocol/crypto.js';
import { KIND, PREFIX, prefixOf } from '../../protocol/profile.js';
import { spawnRelay, type SpawnedRelay } from '../support/spawn-relay.js';

const FRAMES = 5000;
let dir: string;
let relay: SpawnedRelay;
let report: FuzzReport;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kp-fuzz-'));
  relay = await spawnRelay(['--db', join(dir, 'relay.sqlite')]);
  report = await runFuzz(relay, {
    frames: FRAMES,
    connections: 4,
    window: 16,
    seed: Date.now() % 1_000_000,
    deadlineMs: 20_000,
    binaryEvery: 50,
    badUtf8Every: 1000,
    over16MiB: 1,
    quietSamples: 200,
    answerTimeoutMs: 5000,
  });
}, 40_000);

afterAll(async () => {
  await relay.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('kp-robust-bad-input: fuzzing', () => {
  it('every frame was sent within the deadline', () => {
    expect(report.deadlineHit, `seed ${report.seed}: ${report.textFrames} text frames in ${report.seconds} s`).toBe(false);
    expect(report.textFrames).toBe(FRAMES);
    expect(report.binaryFrames).toBe(FRAMES / 50);
    expect(report.badUtf8Frames).toBe(FRAMES / 1000);
    expect(report.over16MiBFrames).toBe(1);
  });

  it('every frame got exactly one refusal §8.1 names (NOTICE, CLOSED <its sub>, OK <its id> false, each "invalid: ...")', () => {
    const samples = JSON.stringify(report.mismatches.slice(0, 5), null, 1);
    expect(report.mismatchKinds, `seed ${report.seed}: ${report.mismatchCount} frame(s) answered otherwise; the first: ${samples}`).toEqual({});
  });

  it('invalid UTF-8 closes its connection with 1007, a frame over 16 MiB with 1009, and nothing else closes', () => {
    expect(report.closes).toEqual({ invalidUtf8With1007: FRAMES / 1000, over16MiBWith1009: 1, unexpected: [] });
  });

  it('the relay process lives and a new connection is served after the fuzzing', () => {
    expect(relay.child.exitCode).toBeNull();
    expect(relay.child.signalCode).toBeNull();
    expect(report.servedAtTheEnd).toBe(true);
    expect(report.watcher.failures).toEqual([]);
  });

  it('the relay\'s memory stays bounded', () => {
    // A refused frame should leave nothing behind, so what may remain is heap the largest frames
    // made room for and the GC has not handed back: the 16 MiB frame ws buffers whole, and
    // JSON.parse of frames up to 1 MiB. 128 MiB over the quiet relay's RSS is eight times that
    // frame; keeping 26 KiB of every frame (a copy of each one, say) would break it. bench/fuzz.ts
    // holds the same bound over a million frames, where it catches a leak of 134 bytes a frame.
    expect(report.rssMiB.after - report.rssMiB.before, JSON.stringify(report.rssMiB)).toBeLessThan(128);
    expect(memoryOf(relay.child.pid!).rss - report.rssMiB.before).toBeLessThan(128);
  });

  it('a well-behaved client on another connection keeps being answered (p99 reported; bound: 1 s)', () => {
    // The relay and this process share two cores, so the 2x-of-quiet comparison is bench/fuzz.ts's to report;
    // here the bound is only that the client is never starved.
    expect(report.watcher.fuzzSamples).toBeGreaterThan(0);
    expect(report.watcher.fuzzP99Ms, JSON.stringify(report.watcher)).toBeLessThan(1000);
  });
});

/**
 * What the fuzzing found, as plain cases: kp-pub-signature's id is the
 * lowercase hex of the event's hash (NIP-01), and the relay's check (the
 * nostr-wasm verifyEvent behind protocol/crypto.ts) compares only as many
 * bytes as the given id decodes to and parses upper-case hex.
 */
describe('kp-pub-signature, kp-pub-no-replay: ids that are not the lowercase hex hash', () => {
  it('an event whose id is its hash in upper case, or empty, is refused invalid:', async () => {
    const client = await RelayClient.connect(relay.url);
    try {
      const note = textNote(newKeys(), 'an ordinary note');
      for (const id of [note.id.toUpperCase(), '']) {
        const reply = await client.publish({ ...note, id });
        expect({ id, ok: reply.ok, prefix: prefixOf(reply.message) }).toEqual({ id, ok: false, prefix: PREFIX.invalid });
      }
    } finally {
      await client.close();
    }
  });

  it('a consumed KeyPackage sent again under its id in upper case is refused, and never handed out again', async () => {
    const owner = newKeys();
    const [first] = await publishKeyPackages(relay.url, owner, 2);
    const { client } = await connectAs(relay.url, newKeys());
    try {
      const ask = [{ kinds: [KIND.keyPackage], authors: [owner.pubkey], limit: 1 }];
      expect((await client.req(ask)).events.map((e) => e.id)).toEqual([first!.id]);
      const replay = await client.publish({ ...first!, id: first!.id.toUpperCase() });
      expect({ ok: replay.ok, prefix: prefixOf(replay.message) }).not.toEqual({ ok: true, prefix: undefined });
      const again = await client.req(ask);
      expect(again.events.map((e) => e.id.toLowerCase())).not.toContain(first!.id);
    } finally {
      await client.close();
    }
  });
});
