/**
 * The gate of `kpsuite check` (README, "The gate"): a selection that matches
 * nothing is a usage error; untested MUSTs fail a relay that claims the
 * profile (unless --allow-untested) and leave a relay that claims nothing
 * "not checked", never "passed". Against a bare NIP-01 stand-in relay that
 * serves no NIP-11 document, with tests whose outcome is known.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { standInRelay, type MisbehavingRelay } from '../../test/support/misbehaving-relays.js';
import { CheckUsageError, runCheck, type CheckOptions } from '../check.js';
import { selectionProblem } from '../gate.js';
import { ALL_TESTS } from '../cases/index.js';
import type { ConformanceTest } from '../types.js';

let relay: MisbehavingRelay;
let url: string;

beforeAll(async () => {
  // No NIP-11 (HTTP 404), no AUTH challenge: a relay that claims nothing.
  relay = await standInRelay({
    http: (_, res) => res.writeHead(404).end(),
    onMessage: (ws, m) => {
      if (m[0] === 'REQ') ws.send(JSON.stringify(['EOSE', m[1]]));
    },
  });
  url = relay.url;
});
afterAll(() => relay.close());

const passing: ConformanceTest = {
  id: 'nip-01/stand-in-pass',
  anchor: 'nip-01',
  section: 'NIP-01',
  level: 'MUST',
  requirement: 'a stand-in requirement',
  async run() {},
};
const needsLimits: ConformanceTest = {
  id: 'kp-rate-queries/stand-in',
  anchor: 'kp-rate-queries',
  section: 'Rate limits',
  level: 'MUST',
  needsLimits: true,
  async run(t) {
    // Reached only when limits were given; then the stand-in relay is judged on nothing more.
    void t.limits;
  },
};
const needsAuth: ConformanceTest = {
  id: 'kp-req-owner/stand-in',
  anchor: 'kp-req-owner',
  section: 'REQ',
  level: 'MUST',
  async run(t) {
    t.untested('the stand-in relay cannot authenticate anyone');
  },
};
const TESTS = [passing, needsLimits, needsAuth];

function options(over: Partial<CheckOptions>): CheckOptions {
  return {
    url,
    strict: false,
    only: [],
    exclude: [],
    expectFailFile: undefined,
    timeoutMs: 300,
    quietMs: 50,
    concurrency: 2,
    limits: {},
    reportsDir: undefined,
    progress: () => undefined,
    tests: TESTS,
    ...over,
  };
}

describe('the gate', () => {
  it('a relay that claims nothing: the profile is reported not checked and the run exits 2 unless --allow-untested', async () => {
    const { report, exitCode } = await runCheck(options({}));
    expect(report.run.profileClaim).toEqual({ claimed: false, by: [] });
    expect(report.summary.untestedMust).toMatchObject({ count: 2, gating: false });
    expect(report.summary.untestedMust!.byReason.map((g) => g.ids).flat().sort()).toEqual(['kp-rate-queries/stand-in', 'kp-req-owner/stand-in']);
    expect(report.summary.profileChecked).toBe(false);
    expect(report.summary.failingRequirements).toEqual([]);
    expect(exitCode).toBe(2);
    expect((await runCheck(options({ allowUntested: true }))).exitCode).toBe(0);
  });

  it('limits given as flags claim the profile: an untested MUST fails the run, grouped by its reason', async () => {
    const limits = { max_per_query: 2, queries_per_window: 10, served_per_window: 50, window_seconds: 3600 };
    const { report, exitCode } = await runCheck(options({ limits }));
    expect(report.run.profileClaim).toEqual({ claimed: true, by: ['limit-flags'] });
    expect(report.summary.untestedMust).toEqual({
      count: 1,
      gating: true,
      byReason: [{ reason: 'the stand-in relay cannot authenticate anyone', ids: ['kp-req-owner/stand-in'] }],
    });
    expect(report.summary.failingRequirements).toEqual(['kp-req-owner']);
    expect(report.summary.profileChecked).toBe(true);
    expect(exitCode).toBe(1);

    const allowed = await runCheck(options({ limits, allowUntested: true }));
    expect(allowed.report.summary.untestedMust?.gating).toBe(false);
    expect(allowed.report.run.allowUntested).toBe(true);
    expect(allowed.exitCode).toBe(0);
  });

  it('a selection that matches no test is a usage error, before connecting', async () => {
    await expect(runCheck(options({ url: 'ws://127.0.0.1:1', only: ['kp-handout-lastresort'], tests: ALL_TESTS }))).rejects.toThrow(CheckUsageError);
    await expect(runCheck(options({ url: 'ws://127.0.0.1:1', only: ['kp-handout-lastresort'], tests: ALL_TESTS }))).rejects.toThrow(/kp-handout-last-resort\/\*/);
    expect(selectionProblem(ALL_TESTS, { only: [], exclude: ['kp-no-such-*'] })).toMatch(/--exclude 'kp-no-such-\*' matches no test/);
    expect(selectionProblem(ALL_TESTS, { only: ['kp-*'], exclude: ['kp-*'] })).toMatch(/leaves no test to run/);
  });

  it('a bare anchor selects that anchor\'s tests', async () => {
    expect(selectionProblem(ALL_TESTS, { only: ['kp-handout-last-resort'], exclude: [] })).toBeUndefined();
    const { report } = await runCheck(options({ only: ['nip-01'] }));
    expect(report.tests.filter((r) => r.outcome !== 'skipped').map((r) => r.id)).toEqual(['nip-01/stand-in-pass']);
  });
});
