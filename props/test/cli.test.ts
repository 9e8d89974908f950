/**
 * `kpsuite props --url` against relays started separately (`kpsuite relay`):
 * exit 0 on the reference relay, 1 with the anchor, shrunk sequence and replay
 * line on a faulty one, 2 when the relay cannot be reached. kpsuite.ts does
 * not register `props` yet, so a two-line program runs the built
 * dist/cli/props-command.js the way kpsuite.ts runs its commands.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnRelay, type SpawnedRelay } from '../../test/support/spawn-relay.js';
import type { PropsReport } from '../report.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PROGRAM = `
import { Command } from 'commander';
import { propsCommand } from './dist/cli/props-command.js';
const program = new Command('kpsuite').addCommand(propsCommand());
for (const c of [program, ...program.commands]) c.exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2));
await program.parseAsync(process.argv.slice(1), { from: 'user' });
`;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function kpsuiteProps(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--input-type=module', '-e', PROGRAM, 'props', ...args], { cwd: ROOT, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

const out = mkdtempSync(join(tmpdir(), 'kpsuite-props-'));
const LIMITS = ['--queries-per-window', '3', '--served-per-window', '6'];
let good: SpawnedRelay;
let faulty: SpawnedRelay;

beforeAll(async () => {
  [good, faulty] = await Promise.all([
    spawnRelay(['--db', ':memory:', ...LIMITS]),
    spawnRelay(['--db', ':memory:', ...LIMITS, '--fault', 'consume-last']),
  ]);
});
afterAll(async () => {
  await Promise.all([good?.stop(), faulty?.stop()]);
  rmSync(out, { recursive: true, force: true });
});

describe('kpsuite props --url', () => {
  it('exits 0 on the reference relay and writes props.json and props.md', async () => {
    const run = await kpsuiteProps(['--url', good.url, '--runs', '25', '--out', out]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/limits \(nip11\): max_per_query 2, queries_per_window 3/);
    expect(run.stdout).toMatch(/PASS: 25 sequences/);
    const json = /report: (.*props\.json)/.exec(run.stdout)?.[1];
    expect(json).toMatch(/\/127\.0\.0\.1-\d+-props-\d{8}T\d{6}Z/);
    const report = JSON.parse(readFileSync(json!, 'utf8')) as PropsReport;
    expect(report).toMatchObject({ schema: 'kpsuite-props/1', run: { target: 'url', runs: 25 }, result: { exitCode: 0, numRuns: 25 } });
    expect(existsSync(json!.replace(/json$/, 'md'))).toBe(true);
  });

  it('exits 1 on a relay that consumes the last KeyPackage, printing the anchor, the shrunk sequence and its replay', async () => {
    const run = await kpsuiteProps(['--url', faulty.url, '--runs', '100', '--out', out]);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/FAIL kp-handout-last-resort/);
    expect(run.stdout).toMatch(/shrunk sequence \(\d commands/);
    // The shrunk sequence starts by storing the owner's one KeyPackage: a plain publish or an expiring one.
    expect(run.stdout).toMatch(/ {2}1\. (publish\(A\d ×1\)|expire\(A\d, ttl 1 day\))/);
    const replay = /replay: (kpsuite props --url \S+ --seed -?\d+ --path '[^']+')/.exec(run.stdout)?.[1];
    expect(replay).toBeDefined();
    const md = /report: (.*props\.md)/.exec(run.stdout)?.[1];
    expect(readFileSync(md!, 'utf8')).toContain(replay!);

    // The printed seed and path replay the failure (fresh keys: the same relay, a new owner).
    const [, seed, path] = /--seed (-?\d+) --path '([^']+)'/.exec(replay!)!;
    const again = await kpsuiteProps(['--url', faulty.url, '--seed', seed!, '--path', path!, '--no-reports']);
    expect(again.code).toBe(1);
    expect(again.stdout).toMatch(/FAIL kp-handout-last-resort/);
  });

  it('exits 2 when the relay cannot be reached', async () => {
    const run = await kpsuiteProps(['--url', 'ws://127.0.0.1:1', '--no-reports']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/cannot connect to ws:\/\/127\.0\.0\.1:1/);
  });

  it('exits 2 on usage errors', async () => {
    expect((await kpsuiteProps(['--url', 'http://127.0.0.1:7777'])).code).toBe(2);
    expect((await kpsuiteProps(['--url', good.url, '--fault', 'consume-last', '--no-reports'])).code).toBe(2);
    expect((await kpsuiteProps(['--path', '1:2', '--no-reports'])).code).toBe(2);
    expect((await kpsuiteProps(['--runs', '0'])).code).toBe(2);
  });
});
