/**
 * `kpsuite check` over several relays in one run: each checked in turn, one
 * JSON line each under --json, the worst exit code, and the matrix linking
 * into each run's report. The relays: the reference relay, one with the
 * stranger-delete fault, and a port nothing listens on.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Matrix } from '../report/matrix.js';
import { CLI, spawnRelay, type SpawnedRelay } from './support/spawn-relay.js';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** A bound on each CLI run, so a hung one fails the test rather than the suite's timeout. */
const RUN_TIMEOUT_MS = 20_000;

function kpsuite(args: string[], cwd?: string): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: RUN_TIMEOUT_MS, cwd }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr: err?.killed ? `${stderr}\n(killed after ${RUN_TIMEOUT_MS} ms)` : stderr });
    });
  });
}

/** A loopback port that was free a moment ago: nothing listens there. */
function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

interface JsonLine {
  url: string;
  exitCode: number;
  counts: Record<string, number>;
  total: number;
  runDir: string | null;
  error?: string;
}

/** kp-del-owner's three tests: the fault breaks one of them; a few hundred ms a relay. */
const ONLY = ['--only', 'kp-del-owner', '--timeout', '2000'];
const FAILING = 'kp-del-owner/others-cannot';

const out = mkdtempSync(join(tmpdir(), 'kpsuite-many-'));
let reference: SpawnedRelay;
let faulty: SpawnedRelay;
let unreachable: string;

beforeAll(async () => {
  [reference, faulty] = await Promise.all([spawnRelay(['--db', ':memory:']), spawnRelay(['--db', ':memory:', '--fault', 'stranger-delete'])]);
  unreachable = `ws://127.0.0.1:${await closedPort()}`;
});
afterAll(async () => {
  await Promise.all([reference?.stop(), faulty?.stop()]);
  rmSync(out, { recursive: true, force: true });
});

const matrixDirs = (base: string): string[] => readdirSync(base).filter((f) => f.startsWith('matrix-'));

describe('kpsuite check --url A --url B --url C', () => {
  let run: Run;
  let lines: JsonLine[];
  const base = join(out, 'three');

  beforeAll(async () => {
    run = await kpsuite(['check', '--url', reference.url, '--url', faulty.url, '--url', unreachable, '--json', '--out', base, ...ONLY]);
    lines = run.stdout.trim().split('\n').map((l) => JSON.parse(l) as JsonLine);
  });

  it('prints one JSON line per relay on stdout, in order, and nothing else there', () => {
    expect(lines.map((l) => l.url), run.stderr).toEqual([reference.url, faulty.url, unreachable]);
    expect(lines.map((l) => l.exitCode)).toEqual([0, 1, 2]);
    expect(lines[0]!.counts).toMatchObject({ pass: 3, fail: 0, error: 0 });
    expect(lines[1]!.counts).toMatchObject({ pass: 2, fail: 1 });
    expect(lines[0]!.total).toBe(lines[1]!.total);
    expect(lines[2]).toMatchObject({ total: 0, runDir: null });
    expect(lines[2]!.error).toMatch(/cannot connect to ws:\/\/127\.0\.0\.1:\d+/);
    for (const l of lines.slice(0, 2)) expect(existsSync(join(l.runDir!, 'index.html')), l.runDir!).toBe(true);
  });

  it('checks the relays after the unreachable one too, and exits with the worst code, 2', () => {
    expect(run.code).toBe(2);
    // The human output went to stderr: every relay's header, the unreachable one's error, the recap.
    expect(run.stderr).toContain(`kpsuite check: ${faulty.url} (relay 2 of 3)`);
    expect(run.stderr).toMatch(new RegExp(`FAIL\\s+${FAILING} `));
    expect(run.stderr).toMatch(/3 relays, checked one after another; exit 2/);
  });

  it("writes matrix.html, .md and .json under matrix-<time>/, with the faulty relay's failing cell linking into its run", () => {
    const [dir] = matrixDirs(base);
    expect(dir).toBeDefined();
    for (const f of ['matrix.html', 'matrix.md', 'matrix.json']) expect(existsSync(join(base, dir!, f)), f).toBe(true);
    expect(realpathSync(join(base, 'latest-matrix'))).toBe(realpathSync(join(base, dir!)));
    const matrix = JSON.parse(readFileSync(join(base, dir!, 'matrix.json'), 'utf8')) as Matrix;
    expect(matrix.exitCode).toBe(2);
    const row = matrix.rows.find((r) => r.id === FAILING)!;
    expect(row.cells.map((c) => c?.outcome ?? null)).toEqual(['pass', 'fail', null]);
    const href = row.cells[1]!.href!;
    expect(href).toMatch(new RegExp(`index\\.html#test-${FAILING}$`));
    // The link resolves, from the matrix folder, to the faulty relay's own report.
    expect(realpathSync(join(base, dir!, href.split('#')[0]!))).toBe(realpathSync(join(lines[1]!.runDir!, 'index.html')));
    expect(readFileSync(join(base, dir!, 'matrix.html'), 'utf8')).toContain(`<a class="badge o-fail" href="${href}">fail</a>`);
  });
});

describe('kpsuite check over several relays', () => {
  it('exits 1, the worst, for the reference relay and the faulty one; --urls reads them, skipping comments', async () => {
    const list = join(out, 'relays.txt');
    writeFileSync(list, `# the two that answer\n${reference.url}\n\n${faulty.url}   # stranger-delete\n`);
    const base = join(out, 'two');
    const run = await kpsuite(['check', '--urls', list, '--json', '--out', base, ...ONLY]);
    expect(run.code, run.stderr).toBe(1);
    expect(run.stdout.trim().split('\n').map((l) => (JSON.parse(l) as JsonLine).exitCode)).toEqual([0, 1]);
    expect(matrixDirs(base)).toHaveLength(1);
  });

  it('keeps one --url as it was: its own output, no matrix', async () => {
    const base = join(out, 'one');
    const run = await kpsuite(['check', '--url', reference.url, '--out', base, ...ONLY]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout.startsWith(`kpsuite check: ${reference.url}\n`)).toBe(true);
    expect(run.stdout).not.toMatch(/relay 1 of|matrix|^\{/m);
    expect(matrixDirs(base)).toEqual([]);
    const asked = await kpsuite(['check', '--url', reference.url, '--out', base, '--matrix', ...ONLY]);
    expect(asked.code, asked.stderr).toBe(0);
    expect(matrixDirs(base)).toHaveLength(1);
  });

  it('--profile picks the profiles whose tests run (NIP tests always), here as --list shows them', async () => {
    const anchors = async (profile: string): Promise<Set<string>> => {
      const run = await kpsuite(['check', '--list', '--profile', profile]);
      expect(run.code, run.stderr).toBe(0);
      return new Set(run.stdout.trim().split('\n').slice(0, -1).map((l) => l.split(/\s+/)[1]!.replace(/-.*/, '')));
    };
    expect(await anchors('marmot-relay')).toEqual(new Set(['mr', 'nip']));
    expect(await anchors('kp-relay')).toEqual(new Set(['kp', 'nip']));
    expect(await anchors('all')).toEqual(new Set(['kp', 'mr', 'nip']));
  });

  it('refuses an unknown --profile with exit 2, naming the valid ones', async () => {
    const run = await kpsuite(['check', '--url', reference.url, '--profile', 'kp-relay,nostr-relay', '--no-reports']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/unknown profile "nostr-relay"; valid profiles: kp-relay, marmot-relay, all/);
  });

  it('exits 2 before checking anything when one of the URLs is not ws:// or wss://', async () => {
    const run = await kpsuite(['check', '--url', reference.url, '--url', 'http://127.0.0.1:1', '--json', '--no-reports']);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/--url must start with ws:\/\/ or wss:\/\/, got "http:\/\/127\.0\.0\.1:1"/);
  });
});
