/**
 * The composite action (action.yml + action/*.sh): valid against the action
 * metadata schema, every input reaching the scripts only through `env:`, and
 * its `run:` steps run as the runner runs them against a passing relay, a
 * failing relay, a relay that starts late, one that never starts, and inputs
 * that try to run a command.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { spawnRelay, type SpawnedRelay } from '../support/spawn-relay.js';
import { ACTION_PATH, loadAction, newContext, runAction, type StepRun } from './action-runner.js';

const sharedInstall = join(inject('runnerTemp'), 'kpsuite');
const tarball = inject('tarball');
const base = mkdtempSync(join(tmpdir(), 'kpsuite-action-'));
const relays: SpawnedRelay[] = [];
afterAll(async () => {
  await Promise.all(relays.map((r) => r.stop()));
  rmSync(base, { recursive: true, force: true });
});

/** A fresh runner.temp and job directory per run, sharing the one install as a cache hit would. */
function job(name: string, inputs: Record<string, string>) {
  const temp = join(base, name, 'temp');
  const cwd = join(base, name, 'work');
  mkdirSync(temp, { recursive: true });
  mkdirSync(cwd, { recursive: true });
  symlinkSync(sharedInstall, join(temp, 'kpsuite'), 'dir');
  return newContext({ 'props-runs': '8', package: tarball, ...inputs }, temp, cwd);
}

const step = (runs: StepRun[], name: string): StepRun => {
  const found = runs.find((r) => r.step.name === name);
  if (found === undefined) throw new Error(`step "${name}" did not run; ran: ${runs.map((r) => r.step.name).join(', ')}`);
  return found;
};

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

describe('action.yml', () => {
  it('is valid against the GitHub action metadata schema (action-validator)', async () => {
    const cli = createRequire(import.meta.url).resolve('@action-validator/cli/cli.mjs');
    const result = await new Promise<{ code: number; out: string }>((resolve) =>
      execFile(process.execPath, [cli, join(ACTION_PATH, 'action.yml')], (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, out: stdout + stderr })),
    );
    expect(result.out).toBe('');
    expect(result.code).toBe(0);
  });

  it('passes inputs to scripts only through env:, and declares every input it uses', () => {
    const action = loadAction();
    for (const s of action.runs.steps) {
      if (s.run !== undefined) expect(s.run, s.name).not.toMatch(/\$\{\{/);
    }
    const used = new Set([...JSON.stringify(action.runs.steps).matchAll(/inputs\.([\w-]+)/g)].map((m) => m[1]));
    expect([...used].sort()).toEqual(Object.keys(action.inputs).sort());
  });
});

describe('the action run as the runner runs it', () => {
  it('passes against a conforming relay: exit-code 0, reports and the job summary written, install from the cache', async () => {
    const relay = await spawnRelay(['--db', ':memory:', '--queries-per-window', '4', '--served-per-window', '12']);
    relays.push(relay);
    const ctx = job('pass', { url: relay.url, 'wait-timeout': '10' });
    const runs = await runAction(ctx);
    const log = runs.map((r) => `## ${r.step.name} (${r.code})\n${r.stdout}${r.stderr}`).join('\n');
    expect(runs.map((r) => [r.step.name, r.code]), log).toEqual(runs.map((r) => [r.step.name, 0]));
    expect(step(runs, 'Check the runner\'s Node.js').outputs.install).toBe('false');
    expect(step(runs, 'Install kpsuite').stdout).toMatch(/kpsuite from the cache/);
    expect(step(runs, 'kpsuite check').outputs['exit-code']).toBe('0');
    expect(existsSync(join(ctx.temp, 'kpsuite-reports', 'check', 'latest', 'report.json'))).toBe(true);
    expect(readdirSync(join(ctx.temp, 'kpsuite-reports', 'props')).length).toBe(1);
    const summary = readFileSync(ctx.summaryFile, 'utf8');
    expect(summary).toMatch(/kp-handout-last-resort/);
    expect(summary).toMatch(/props/i);
  });

  it('fails against a relay that breaks a MUST, naming the requirement in the failing step', async () => {
    const relay = await spawnRelay(['--db', ':memory:', '--queries-per-window', '4', '--served-per-window', '12', '--fault', 'consume-last']);
    relays.push(relay);
    const ctx = job('fail', { url: relay.url, props: 'false' });
    const runs = await runAction(ctx);
    expect(step(runs, 'kpsuite check').outputs['exit-code']).toBe('1');
    const gate = step(runs, 'Gate on MUST failures');
    expect(gate.code).toBe(1);
    expect(gate.stdout).toMatch(/::error title=kpsuite::FAIL kp-handout-last-resort\//);
  });

  it('waits for a relay that starts late, and gives up on one that never starts', async () => {
    const port = await freePort();
    const late = job('late', { url: `ws://127.0.0.1:${port}`, 'wait-timeout': '60', props: 'false' });
    // The relay is started only once the check step has said what it checks, right before its first
    // connection attempt: that attempt is refused, and the step must wait for the relay.
    let started: Promise<SpawnedRelay> | undefined;
    const runs = await runAction(late, undefined, (s, chunk) => {
      if (started === undefined && s.name === 'kpsuite check' && chunk.includes('kpsuite check:')) started = spawnRelay(['--db', ':memory:', '--port', String(port)]);
    });
    expect(started, 'the check step never started').toBeDefined();
    relays.push(await started!);
    const waited = step(runs, 'kpsuite check');
    expect(waited.stdout).toMatch(/accepts connections \(waited \d+\.\d s, \d+ attempts\)/);
    expect(waited.outputs['exit-code']).toBe('0');

    const never = job('never', { url: `ws://127.0.0.1:${await freePort()}`, 'wait-timeout': '2', props: 'false' });
    const failed = await runAction(never);
    const check = step(failed, 'kpsuite check');
    expect(check.outputs['exit-code']).toBe('2');
    expect(check.stderr).toMatch(/did not accept a WebSocket connection within --wait 2 \(waited \d+\.\d s/);
    expect(step(failed, 'Gate on MUST failures').code).toBe(2);
  });

  it('runs no command hidden in an input', async () => {
    const ctx = job('hostile', {
      url: 'ws://127.0.0.1:1/"$(touch pwned-url)"`touch pwned-tick`',
      'expect-fail': '"$(touch pwned-expect)"',
      args: '$(touch pwned-args) ; touch pwned-semicolon',
      'props-runs': '$(touch pwned-runs)',
      'wait-timeout': '0',
    });
    const runs = await runAction(ctx);
    expect(step(runs, 'kpsuite check').outputs['exit-code']).toBe('2');
    const planted = [ctx.cwd, ctx.temp, ACTION_PATH].flatMap((dir) => readdirSync(dir).filter((f) => f.startsWith('pwned')));
    expect(planted).toEqual([]);
  });
});
