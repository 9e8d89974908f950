/**
 * Every `kpsuite check` run ends, and says why, whatever the relay does:
 * no challenge, silence, an echo, hanging up at once, no WebSocket at all,
 * or going away in the middle of the run.
 */
import { spawn } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, spawnRelay, type SpawnedRelay } from './support/spawn-relay.js';
import { closingRelay, deafServer, echoRelay, hangUpRelay, silentRelay, type MisbehavingRelay } from './support/misbehaving-relays.js';
import { RelayClient } from '../client/relay-client.js';

/** A run must end well within this (the slowest case here takes a fraction of it). */
const BOUND_MS = 60_000;
const FAST = ['--no-reports', '--timeout', '1000', '--quiet', '100'];

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs the built CLI; kills it only when it outlives the bound, which fails the test. */
function kpsuite(args: string[], onStdout: (soFar: string) => void = () => undefined): Promise<Run> {
  const started = Date.now();
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
    onStdout(stdout);
  });
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const killer = setTimeout(() => child.kill('SIGKILL'), BOUND_MS + 5_000);
  return new Promise((resolve) => {
    child.once('close', (code) => {
      clearTimeout(killer);
      resolve({ code, stdout, stderr, ms: Date.now() - started });
    });
  });
}

const servers: MisbehavingRelay[] = [];
const spawned: SpawnedRelay[] = [];
afterAll(async () => {
  await Promise.all([...servers.map((s) => s.close()), ...spawned.map((r) => r.stop())]);
});

async function track<T extends MisbehavingRelay>(server: Promise<T>): Promise<T> {
  const s = await server;
  servers.push(s);
  return s;
}

function expectEnded(run: Run): void {
  expect(run.ms, `the run took ${run.ms} ms\n${run.stdout}\n${run.stderr}`).toBeLessThan(BOUND_MS);
  expect(run.code, `${run.stdout}\n${run.stderr}`).not.toBeNull();
}

describe('kpsuite check ends against a relay that', () => {
  it('sends no NIP-42 challenge at all: the challenge MUST fails, what needs AUTH is untested, exit 1', async () => {
    const relay = await spawnRelay(['--db', ':memory:', '--queries-per-window', '4', '--served-per-window', '12', '--fault', 'no-challenge']);
    spawned.push(relay);
    const run = await kpsuite(['check', '--url', relay.url, ...FAST]);
    expectEnded(run);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/FAIL\s+kp-auth-challenge\/before-refusal/);
    expect(run.stdout).toMatch(/UNTESTED\s+kp-auth-verify\/valid \[MUST\].*\n.*sent no \["AUTH", <challenge>\]/);
    expect(run.stdout).toMatch(/^result: /m);
  }, BOUND_MS + 10_000);

  it('accepts connections and never answers: tests are errors, the run deadline ends it, exit 1', async () => {
    const relay = await track(silentRelay());
    const run = await kpsuite(['check', '--url', relay.url, ...FAST, '--deadline', '8']);
    expectEnded(run);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/ERROR\s+\S+ \[MUST\].*\n.*timed out after 1000 ms/);
    expect(run.stdout).toMatch(/ERROR\s+\S+ \[\w+\] \(\d+ ms\)\n\s+the run's deadline of 8 s passed/);
    expect(run.stdout).toMatch(/^result: /m);
  }, BOUND_MS + 10_000);

  it('echoes every frame: nothing is mistaken for an answer, exit 1', async () => {
    const relay = await track(echoRelay());
    const run = await kpsuite(['check', '--url', relay.url, ...FAST, '--deadline', '40']);
    expectEnded(run);
    expect(run.code).toBe(1);
    expect(run.stdout).not.toMatch(/PASS\s+kp-/);
    expect(run.stdout).toMatch(/^result: /m);
  }, BOUND_MS + 10_000);

  it('closes every connection right after it opens: says so with the close code, exit 2', async () => {
    const relay = await track(closingRelay(1008, 'go away'));
    const run = await kpsuite(['check', '--url', relay.url, ...FAST]);
    expectEnded(run);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/closed the connection \(code 1008, "go away"\) right after it opened/);
  }, BOUND_MS + 10_000);

  it('accepts TCP but never completes the WebSocket handshake: cannot connect, exit 2', async () => {
    const relay = await track(deafServer());
    const run = await kpsuite(['check', '--url', relay.url, ...FAST]);
    expectEnded(run);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/cannot connect to ws:\/\/127\.0\.0\.1:\d+/);
  }, BOUND_MS + 10_000);

  it('goes away in the middle of the run: said once, the rest are errors (never fail or untested), exit 1', async () => {
    const relay = await spawnRelay(['--db', ':memory:', '--queries-per-window', '4', '--served-per-window', '12']);
    spawned.push(relay);
    let killed = false;
    const run = await kpsuite(['check', '--url', relay.url, ...FAST], (soFar) => {
      // Kill it once the run is well under way, so later tests meet ECONNREFUSED.
      if (!killed && /PASS/.test(soFar)) {
        killed = true;
        void relay.kill();
      }
    });
    expectEnded(run);
    expect(killed).toBe(true);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/^the relay stopped accepting connections during \S+/m);
    expect(run.stdout.match(/^the relay stopped accepting connections/gm)).toHaveLength(1);
    expect(run.stdout).toMatch(/ERROR\s+\S+ \[\w+\] \(\d+ ms\)\n\s+not run: the relay stopped accepting connections during/);
    expect(run.stdout).not.toMatch(/^\s+(FAIL|UNTESTED|NON-STRICT)\s/m);
  }, BOUND_MS + 10_000);
});

describe('RelayClient against a relay that hangs up while the client waits', () => {
  it('wakes every wait at once with the close code and reason, never as silence', async () => {
    const relay = await track(hangUpRelay(1011, 'bye'));
    const client = await RelayClient.connect(relay.url, { timeoutMs: 20_000 });
    try {
      const started = Date.now();
      client.send(['REQ', 'x', { kinds: [1] }]);
      await expect(client.next((m) => m[0] === 'EOSE', 'EOSE for x')).rejects.toThrow(
        'the relay closed the connection (code 1011, "bye") while the client waited for EOSE for x',
      );
      // Far below the 20 s timeout: the close woke it.
      expect(Date.now() - started).toBeLessThan(5_000);
      await expect(client.quietFor(100)).rejects.toThrow(/the relay closed the connection \(code 1011, "bye"\)/);
      expect(client.closedWith).toEqual({ code: 1011, reason: 'bye' });
    } finally {
      await client.close();
    }
  });
});
