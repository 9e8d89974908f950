/**
 * `kpsuite props --url` (the kp-relay property) against relays started
 * separately (`kpsuite relay`): exit 0 on the reference relay, 1 with the
 * anchor, shrunk sequence and replay line on a faulty one, 2 when the relay
 * cannot be reached or the options cannot be used. The Marmot property's
 * command line is in marmot-cli.test.ts. Runs the built CLI (dist/).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnRelay, type SpawnedRelay } from '../../test/support/spawn-relay.js';
import type { PropsReport } from '../report.js';
import { kpsuiteProps, SEED } from './support.js';

const out = mkdtempSync(join(tmpdir(), 'kpsuite-props-'));
const LIMITS = ['--queries-per-window', '3', '--served-per-window', '6'];
/**
 * A fixed seed (KPSUITE_PROPS_SEED=random explores others): against a URL the
 * relay's clock is not ours, so a sequence may wait out a real NIP-40 expiry
 * (up to about 5 s); an unseeded run of 25 sequences took 9 to over 30 s.
 */
const SEEDED = SEED === undefined ? [] : ['--seed', String(SEED)];
/** The bound for a run of 25 sequences: 14 s with the fixed seed on an idle machine. */
const RUN_TIMEOUT_MS = 90_000;
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
    const run = await kpsuiteProps(['--profile', 'kp-relay', '--url', good.url, '--runs', '25', ...SEEDED, '--out', out]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/limits \(nip11\): max_per_query 2, queries_per_window 3/);
    expect(run.stdout).toMatch(/PASS kp-relay\/0\.2: 25 sequences/);
    const json = /report: (.*props\.json)/.exec(run.stdout)?.[1];
    expect(json).toMatch(/\/127\.0\.0\.1-\d+-props-\d{8}T\d{6}Z/);
    const report = JSON.parse(readFileSync(json!, 'utf8')) as PropsReport;
    expect(report).toMatchObject({
      schema: 'kpsuite-props/1',
      profile: 'kp-relay/0.2',
      run: { target: 'url', runs: 25, limitsSource: 'nip11', profiles: { checked: ['kp-relay'], by: 'option' } },
      result: { exitCode: 0, numRuns: 25 },
      profiles: [{ profile: 'kp-relay', result: { exitCode: 0, numRuns: 25 } }],
    });
    expect(existsSync(json!.replace(/json$/, 'md'))).toBe(true);
  }, RUN_TIMEOUT_MS);

  it('exits 1 on a relay that consumes the last KeyPackage, printing the anchor, the shrunk sequence and its replay', async () => {
    const run = await kpsuiteProps(['--profile', 'kp-relay', '--url', faulty.url, '--runs', '100', ...SEEDED, '--out', out]);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/FAIL kp-handout-last-resort/);
    expect(run.stdout).toMatch(/shrunk sequence \(\d commands/);
    // The shrunk sequence starts by storing the owner's one KeyPackage: a plain publish or an expiring one.
    expect(run.stdout).toMatch(/ {2}1\. (publish\(A\d ×1\)|expire\(A\d, ttl 1 day\))/);
    const replay = /replay: (kpsuite props --profile kp-relay --url \S+ --seed -?\d+ --path '[^']+')/.exec(run.stdout)?.[1];
    expect(replay).toBeDefined();
    const md = /report: (.*props\.md)/.exec(run.stdout)?.[1];
    expect(readFileSync(md!, 'utf8')).toContain(replay!);

    // The printed seed and path replay the failure (fresh keys: the same relay, a new owner).
    const [, seed, path] = /--seed (-?\d+) --path '([^']+)'/.exec(replay!)!;
    const again = await kpsuiteProps(['--profile', 'kp-relay', '--url', faulty.url, '--seed', seed!, '--path', path!, '--no-reports']);
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
