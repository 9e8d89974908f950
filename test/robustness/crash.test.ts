/**
 * kp-robust-durable (PROFILE.md §8.2): `kpsuite relay` on a file database,
 * owners publishing and requesters asking by REQ and by kind 447 on several
 * connections, SIGKILLed at a random moment of that load, restarted on the
 * same file, then audited over every frame every client received, before the
 * kill and after the restart, with no tolerance. bench/crash.ts holds the
 * trial and its audit (and runs 20 of them); what it checks:
 * (a) every KeyPackage that got `OK true` and that nobody received is still
 *     stored, or provably consumed by an ask the kill cut off before its
 *     frames left (a republish is refused `duplicate:`), no more of them than
 *     those asks could have taken;
 * (b) no KeyPackage reached requesters twice;
 * (c) nothing handed out is stored after the restart;
 * and every answered ask got exactly what it asked for.
 *
 * A SIGKILL leaves the kernel's page cache alone, so this passes with
 * synchronous=OFF as well: pragmas.test.ts is what pins synchronous=FULL.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { crashFixtures, crashTrial, type CrashFixtures, type CrashTrialOptions } from '../../bench/crash.js';
import { spawnRelay } from '../support/spawn-relay.js';

const TRIALS = 3;
let fx: CrashFixtures;
const trial = (seed: number): CrashTrialOptions => ({
  seed,
  // The load runs for longer than this (the owners still have KeyPackages to publish); the delay is the input, not the verdict.
  killAfterMs: [30, 250],
  seedPerOwner: 6,
  publishAfterRestart: 6,
  asksAfterRestart: 3,
  timeoutMs: 5000,
});

beforeAll(async () => {
  // 3 owners × 60 genuine KeyPackages (about 1 s to make), reused by every trial on its fresh database.
  fx = await crashFixtures(3, 60, 6);
}, 30_000);

describe('kp-robust-durable: SIGKILL under load', () => {
  for (let t = 0; t < TRIALS; t++) {
    it(`trial ${t + 1}: nothing acknowledged is lost, nothing is handed out twice, nothing consumed comes back`, async () => {
      const report = await crashTrial(spawnRelay, fx, trial(Date.now() + t));
      expect(report.violations, `seed ${report.seed}, killed after ${report.killAfterMs} ms`).toEqual([]);
      expect(report.loadRunningAtKill, `the kill after ${report.killAfterMs} ms came while the load was running`).toBe(true);
      expect(report.handedOutAfterRestart, 'requesters were served after the restart').toBeGreaterThan(0);
    });
  }

  it('the audit fails a relay that sends a hand-out before consuming it (--fault double-handout)', async () => {
    const report = await crashTrial((args) => spawnRelay([...args, '--fault', 'double-handout']), fx, trial(Date.now()));
    expect(report.violations.some((v) => v.startsWith('(b) '))).toBe(true);
  });
});
