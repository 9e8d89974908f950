/**
 * `kpsuite props --profile marmot-relay`: the Marmot slot property against
 * relays started separately (`kpsuite relay`) and against the embedded relay
 * with a fault; the default choice of profiles (those the relay claims); and,
 * in process, a relay that takes writes only from authenticated authors.
 * Runs the built CLI (dist/).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRelay } from '../../reference-relay/server.js';
import { spawnRelay, type SpawnedRelay } from '../../test/support/spawn-relay.js';
import { runProps } from '../props.js';
import type { PropsReport } from '../report.js';
import { startAuthProxy } from './auth-proxy.js';
import { kpsuiteProps, SEED, type CliRun } from './support.js';

const out = mkdtempSync(join(tmpdir(), 'kpsuite-marmot-props-'));
const LIMITS = ['--queries-per-window', '3', '--served-per-window', '6'];
/** The teeth tests' fixed seed (KPSUITE_PROPS_SEED=random explores others). */
const SEEDED = SEED === undefined ? [] : ['--seed', String(SEED)];
let good: SpawnedRelay;
let faulty: SpawnedRelay;

beforeAll(async () => {
  [good, faulty] = await Promise.all([spawnRelay(['--db', ':memory:', ...LIMITS]), spawnRelay(['--db', ':memory:', '--fault', 'marmot-keep-older'])]);
});
afterAll(async () => {
  await Promise.all([good?.stop(), faulty?.stop()]);
  rmSync(out, { recursive: true, force: true });
});

const shown = (run: CliRun): string => `exit ${run.code} after ${run.ms} ms\n${run.stdout}\n${run.stderr}`;
const readReport = (run: CliRun): PropsReport => JSON.parse(readFileSync(/report: (.*props\.json)/.exec(run.stdout)![1]!, 'utf8')) as PropsReport;
/** The numbered lines of the shrunk sequence. */
const shrunk = (stdout: string): string[] => stdout.split('\n').filter((l) => /^ {2}\d+\. /.test(l));

describe('kpsuite props --profile marmot-relay', () => {
  it('exits 0 against the reference relay as a URL, fresh keys per sequence, and writes the profile into props.json', async () => {
    const run = await kpsuiteProps(['--profile', 'marmot-relay', '--url', good.url, '--runs', '15', '--out', out]);
    expect(run.code, shown(run)).toBe(0);
    expect(run.stderr).toBe('');
    expect(run.stdout).toMatch(/profiles: marmot-relay \(as asked\)/);
    expect(run.stdout).toMatch(/sequences kept apart by fresh owner keys per sequence/);
    expect(run.stdout).toMatch(/PASS marmot-relay\/1: 15 sequences/);
    expect(run.stdout).not.toMatch(/limits \(/);
    const report = readReport(run);
    expect(report).toMatchObject({
      schema: 'kpsuite-props/1',
      profile: 'marmot-relay/1',
      run: { target: 'url', runs: 15, profiles: { checked: ['marmot-relay'], by: 'option' } },
      result: { exitCode: 0, numRuns: 15 },
      profiles: [{ profile: 'marmot-relay', version: 'marmot-relay/1', isolation: 'fresh-keys', result: { exitCode: 0, numRuns: 15 } }],
    });
    expect(report.run.limits).toBeUndefined();
    expect(Object.keys(report.invariants)).toEqual(['mr-kp-store', 'mr-kp-replace', 'mr-kp-filters', 'mr-kp-no-consume', 'mr-kp-delete']);
    // The sequences raced and deleted, not only published.
    for (const c of ['race', 'delete-a', 'delete-e']) expect(report.stats[`marmot command ${c}`] ?? 0, c).toBeGreaterThan(0);
  });

  it('exits 1 against a relay that keeps the older version, naming mr-kp-replace, with a shrunk sequence and a replay that fails again', async () => {
    const run = await kpsuiteProps(['--profile', 'marmot-relay', '--url', faulty.url, '--runs', '50', ...SEEDED, '--out', out]);
    expect(run.code, shown(run)).toBe(1);
    expect(run.stdout).toMatch(/FAIL mr-kp-replace: at most one version per slot/);
    expect(run.stdout).toMatch(/shrunk sequence \([1-4] commands/);
    const steps = shrunk(run.stdout);
    expect(steps.length, shown(run)).toBeGreaterThan(0);
    // Two versions of one slot reach the relay: a race, or two publishes.
    expect(steps.join('\n')).toMatch(/race\(O\d\/s\d@\d[ab] on c0 ∥ O\d\/s\d@\d[ab] on c1\)|publish\(O\d\/s\d@\d[ab] on c\d\)/);
    const replay = /replay: (kpsuite props --profile marmot-relay --url \S+ --seed -?\d+ --path '[^']+')/.exec(run.stdout)?.[1];
    expect(replay, shown(run)).toBeDefined();
    const md = /report: (.*props\.md)/.exec(run.stdout)?.[1];
    expect(readFileSync(md!, 'utf8')).toContain(replay!);
    expect(readReport(run).result.failure).toMatchObject({ anchor: 'mr-kp-replace', replay, expected: false });

    // Fresh keys on replay: the same relay, new owners; the same commands fail the same way.
    const [, seed, path] = /--seed (-?\d+) --path '([^']+)'/.exec(replay!)!;
    const again = await kpsuiteProps(['--profile', 'marmot-relay', '--url', faulty.url, '--seed', seed!, '--path', path!, '--no-reports']);
    expect(again.code, shown(again)).toBe(1);
    expect(again.stdout).toMatch(/FAIL mr-kp-replace/);
    expect(shrunk(again.stdout)).toEqual(steps);
  });

  it('exits 1 with --fault marmot-keep-older on the embedded relay, naming mr-kp-replace', async () => {
    const run = await kpsuiteProps(['--profile', 'marmot-relay', '--fault', 'marmot-keep-older', '--runs', '50', ...SEEDED, '--no-reports']);
    expect(run.code, shown(run)).toBe(1);
    expect(run.stdout).toMatch(/sequences kept apart by a fresh embedded relay per sequence/);
    expect(run.stdout).toMatch(/FAIL mr-kp-replace/);
    expect(run.stdout).toMatch(/replay: kpsuite props --profile marmot-relay --fault marmot-keep-older --seed -?\d+ --path '[^']+'/);
  });

  it('runs the profiles the relay claims when none is given: both, on the reference relay', async () => {
    const run = await kpsuiteProps(['--url', good.url, '--runs', '4', ...SEEDED, '--out', out]);
    expect(run.code, shown(run)).toBe(0);
    expect(run.stdout).toMatch(/profiles: kp-relay, marmot-relay \(the profiles the relay claims in NIP-11\)/);
    expect(run.stdout).toMatch(/PASS kp-relay\/0\.2: 4 sequences[^]*PASS marmot-relay\/1: 4 sequences/);
    expect(run.stdout).toMatch(/result: exit 0; kp-relay\/0\.2 PASS, marmot-relay\/1 PASS/);
    const report = readReport(run);
    expect(report).toMatchObject({ profile: 'kp-relay/0.2 + marmot-relay/1', run: { profiles: { by: 'nip11' } }, result: { exitCode: 0, numRuns: 8 } });
    expect(report.profiles.map((p) => p.profile)).toEqual(['kp-relay', 'marmot-relay']);
    // One seed for the run: each profile's replay line takes it.
    expect(report.profiles.map((p) => p.seed)).toEqual([report.run.seed, report.run.seed]);
  });

  it('exits 2 on usage errors of --profile', async () => {
    const unknown = await kpsuiteProps(['--profile', 'marmot', '--no-reports']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown profile "marmot"; valid profiles: kp-relay, marmot-relay, all/);
    const inProcess = await kpsuiteProps(['--profile', 'marmot-relay', '--in-process', '--no-reports']);
    expect(inProcess.code).toBe(2);
    expect(inProcess.stderr).toMatch(/runs over WebSocket only/);
    // A path is one profile's: with both chosen (asked for, or claimed) it must name one.
    const both = await kpsuiteProps(['--profile', 'all', '--seed', '1', '--path', '0:1', '--no-reports']);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/a path replays one profile's sequence/);
    const claimed = await kpsuiteProps(['--url', good.url, '--seed', '1', '--path', '0:1', '--no-reports']);
    expect(claimed.code).toBe(2);
    expect(claimed.stderr).toMatch(/this relay would run kp-relay and marmot-relay: give the --profile/);
  });
});

describe('the Marmot property against a relay that takes writes only from authenticated authors', () => {
  it('authenticates each owner (NIP-42) when a write is refused auth-required:, and passes', async () => {
    const proxy = await startAuthProxy();
    const relay = await startRelay({ host: '127.0.0.1', port: 0, db: ':memory:', publicUrl: proxy.url });
    proxy.upstream = relay.url;
    try {
      const result = await runProps({ url: proxy.url, profiles: ['marmot-relay'], runs: 8, ...(SEED === undefined ? {} : { seed: SEED }), timeoutMs: 3000 });
      const f = result.report.result.failure;
      expect(result.report.result.error).toBeUndefined();
      expect(f && `${f.anchor}: ${f.detail}\n  ${f.commands.join('\n  ')}`).toBeUndefined();
      expect(result.exitCode).toBe(0);
      // The relay did ask, and the owners did authenticate.
      expect(proxy.refused).toBeGreaterThan(0);
      expect(proxy.authenticated).toBeGreaterThan(0);
      expect(result.report.profiles[0]!.stats['marmot AUTH']).toBe(proxy.authenticated);
    } finally {
      await relay.close();
      await proxy.close();
    }
  });
});
