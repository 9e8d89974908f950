/**
 * What the Node load driver itself can generate on this machine: the
 * `groups` scenario (inviters fetching 2–50 members' KeyPackages by REQ or
 * kind 447, members' stock checks, a little kind 1) through `runNode`,
 * against the reference relay in its own process (rate limits out of the
 * way), at rising invite rates. For each rate it states what was done
 * (invites/s, KeyPackage hand-outs/s, dropped arrivals, REQ p95) beside the
 * CPU the driver process and the relay process used while the roles ran, in
 * % of one core, so a reader can tell the relay's ceiling from the driver's:
 * a step that did not keep the rate asked was limited by the driver when
 * the driver neared a full core, else by the relay (its latency grew: CPU,
 * or SQLite's fsync, which is no CPU time). The driver's CPU per hand-out
 * also gives the rate one driver core would reach (an extrapolation, said
 * as such). Node is single-threaded: one
 * driver process uses one core at most, whatever --instances says (they run
 * in one event loop); more load needs more processes or hosts
 * (load/README.md, "Splitting a test").
 *
 * `node dist/bench/load/driver.js [--seconds 5] [--rates 20,40,80,160]`;
 * writes bench/results/load-driver.json and load-driver.md.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { settingsFrom } from '../../load/core/settings.js';
import { fixtureFor } from '../../load/node/fixture.js';
import { runNode } from '../../load/node/run.js';
import { machine, writeResult } from '../machine.js';
import { spawnRelay } from './drive.js';

const USER_HZ = 100;

/** CPU seconds a process has used (utime + stime of /proc/<pid>/stat); undefined off Linux. */
function cpuSecondsOf(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / USER_HZ;
  } catch {
    return undefined;
  }
}

const ownCpuSeconds = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

export interface DriverStep {
  invitesPerSecondAsked: number;
  invitesPerSecond: number;
  handoutsPerSecond: number;
  droppedIterations: number;
  reqP95Ms: number | null;
  /** % of one core while the roles ran. */
  driverCpuPercent: number;
  relayCpuPercent: number | null;
  /** Who held the rate back, if it was not kept (done < 90% of asked, or arrivals dropped). */
  limitedBy: 'driver' | 'relay' | 'neither';
  /** Hand-outs/s one driver core would reach at this mix: hand-outs/s × 100 / driver CPU % (extrapolated). */
  driverCoreHandoutsPerSecond: number;
  passed: boolean;
}

export interface DriverCapacity {
  benchmark: 'load-driver';
  when: string;
  machine: Record<string, string | number>;
  method: string;
  steps: DriverStep[];
}

const MEMBERS = 200;

export async function measureDriver(seconds: number, rates: readonly number[], log: (line: string) => void = () => undefined): Promise<DriverCapacity> {
  const loadBefore = loadavg().map((x) => x.toFixed(2)).join(' ');
  const knobs = { MEMBERS: String(MEMBERS), INITIAL_KPS: '2', LOW_WATER: '1', REFILL_TO: '3', CHECK_RATE: '2', NOTE_RATE: '2', DURATION: `${seconds}s`, P95_MS: '2000' };
  // One fixture for every step: each runs on a fresh relay, which has not seen it.
  const fixture = await fixtureFor('groups', settingsFrom({ ...knobs, RATE: String(Math.max(...rates)) }));
  const work = mkdtempSync(join(tmpdir(), 'kpsuite-bench-driver-'));
  const steps: DriverStep[] = [];
  try {
    for (const rate of rates) {
      const relay = await spawnRelay('reference', mkdtempSync(join(work, `r${rate}-`)));
      let marks: { wall: number; own: number; relay: number | undefined }[] = [];
      const mark = (): void => void marks.push({ wall: performance.now(), own: ownCpuSeconds(), relay: cpuSecondsOf(relay.pid) });
      try {
        marks = [];
        const r = await runNode({ scenario: 'groups', env: { ...knobs, RATE: String(rate), RELAY_URL: relay.url }, fixture, onRoles: mark });
        const [a, b] = marks;
        if (a === undefined || b === undefined) throw new Error('the roles did not run');
        const wall = (b.wall - a.wall) / 1000;
        const m = (name: string): Record<string, number> => r.summary.metrics[name]?.values ?? {};
        const driverCpu = (100 * (b.own - a.own)) / wall;
        const relayCpu = a.relay !== undefined && b.relay !== undefined ? (100 * (b.relay - a.relay)) / wall : null;
        // Over the roles, trailing iterations included: what was sustained.
        const invites = (m('groups_invites').count ?? 0) / wall;
        const handouts = (m('groups_members_fetched').count ?? 0) / wall;
        const dropped = r.summary.droppedIterations ?? 0;
        const kept = invites >= 0.9 * rate && dropped === 0;
        const step: DriverStep = {
          invitesPerSecondAsked: rate,
          invitesPerSecond: Math.round(invites * 10) / 10,
          handoutsPerSecond: Math.round(handouts),
          droppedIterations: dropped,
          reqP95Ms: m('kp_req_eose_ms')['p(95)'] ?? null,
          driverCpuPercent: Math.round(driverCpu),
          relayCpuPercent: relayCpu === null ? null : Math.round(relayCpu),
          limitedBy: kept ? 'neither' : driverCpu >= 85 ? 'driver' : 'relay',
          driverCoreHandoutsPerSecond: driverCpu > 0 ? Math.round((handouts * 100) / driverCpu) : 0,
          passed: r.exitCode === 0,
        };
        steps.push(step);
        log(`  ${rate} invites/s asked: ${step.invitesPerSecond}/s done, ${step.handoutsPerSecond} hand-outs/s, driver ${step.driverCpuPercent}% / relay ${step.relayCpuPercent ?? '?'}% of a core`);
      } finally {
        await relay.stop();
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return {
    benchmark: 'load-driver',
    when: new Date().toISOString(),
    machine: { ...machine(), loadAverageBefore: loadBefore, loadAverageAfter: loadavg().map((x) => x.toFixed(2)).join(' ') },
    method: `kpsuite's Node driver (runNode, one process) running groups for ${seconds} s per rate (${MEMBERS} members, REQ or kind 447 invites of 2–50 members, stock checks 2/s, kind 1 2/s) against the reference relay in its own process with rate limits out of the way; CPU from process.cpuUsage() and /proc/<relay>/stat over the roles only`,
    steps,
  };
}

export function driverMarkdown(d: DriverCapacity): string {
  const m = d.machine;
  const cell = (x: number | null): string => (x === null ? '–' : String(x));
  return [
    '# Load driver capacity',
    '',
    `${m.cpu}, ${m.cores} cores, Node ${m.node}; load average ${m.loadAverageBefore} before, ${m.loadAverageAfter} after.`,
    `${d.method}.`,
    '',
    '| invites/s asked | invites/s sustained | KeyPackage hand-outs/s | dropped | REQ p95 ms | driver CPU | relay CPU | rate held back by | one driver core ≈ hand-outs/s |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...d.steps.map(
      (s) =>
        `| ${s.invitesPerSecondAsked} | ${s.invitesPerSecond} | ${s.handoutsPerSecond} | ${s.droppedIterations} | ${cell(s.reqP95Ms === null ? null : Math.round(s.reqP95Ms * 10) / 10)} | ${s.driverCpuPercent}% | ${cell(s.relayCpuPercent)}% | ${s.limitedBy} | ${s.driverCoreHandoutsPerSecond} |`,
    ),
    '',
    'Sustained rates are over the roles, trailing iterations included. CPU is % of one core while the roles ran. A rate not kept was held back by the driver when it neared a full core, else by the relay (its latency grew: CPU, or SQLite fsync, which shows as no CPU). The last column extrapolates the driver’s CPU per hand-out to a full core: what one Node driver process could generate against a relay that keeps up. Past it, split the test (`--instances`, `--instance i` on more hosts, k6-operator).',
    '',
  ].join('\n');
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const arg = (name: string): string | undefined => {
    const i = process.argv.indexOf(`--${name}`);
    return i >= 0 ? process.argv[i + 1] : undefined;
  };
  const seconds = Number(arg('seconds') ?? 5);
  const rates = (arg('rates') ?? '20,40,80,160').split(',').map(Number).filter((x) => x > 0);
  const d = await measureDriver(seconds, rates, (line) => process.stderr.write(`${line}\n`));
  writeResult('load-driver.json', `${JSON.stringify(d, null, 2)}\n`);
  const text = driverMarkdown(d);
  writeResult('load-driver.md', text);
  process.stdout.write(text);
  process.exit(0);
}
