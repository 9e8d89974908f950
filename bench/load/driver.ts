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
 * driver process uses one core at most; `kpsuite load --instances N` runs
 * one process per instance, and more hosts add more (load/README.md,
 * "Splitting a test").
 *
 * Then the driver alone, against a relay that answers at once
 * (stub-relay.ts): KeyPackage REQ round trips and kind 447 requests per
 * driver CPU-second, with 1 and with 2 driver processes (measureStub).
 *
 * `node dist/bench/load/driver.js [--seconds 5] [--rates 20,40,80,160] [--stub-seconds 3]`;
 * writes bench/results/load-driver.json and load-driver.md.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { settingsFrom } from '../../load/core/settings.js';
import { fixtureFor } from '../../load/node/fixture.js';
import { runNode } from '../../load/node/run.js';
import { machine, writeResult } from '../machine.js';
import { spawnRelay } from './drive.js';
import type { WorkerResult } from './driver-worker.js';
import { startStubRelay } from './stub-relay.js';

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
  /** The driver alone, against a relay that answers at once (stub-relay.ts), with 1 and 2 driver processes. */
  stub?: StubCapacity;
}

export interface StubStep {
  /** Driver processes (driver-worker.ts), side by side. */
  instances: number;
  connections: number;
  reqRoundTrips: number;
  requests447: number;
  failed: number;
  wallSeconds: number;
  /** CPU the driver processes used over their loops (process.cpuUsage, summed). */
  driverCpuSeconds: number;
  reqPerDriverCpuSecond: number;
  requests447PerDriverCpuSecond: number;
  reqPerSecond: number;
  requests447PerSecond: number;
  /** % of one core the stub (this process) used meanwhile: near 100, it was the limit of the wall rates, not of the per-CPU-second ones. */
  stubCpuPercent: number;
}

export interface StubCapacity {
  method: string;
  steps: StubStep[];
}

/** Runs `instances` driver-worker processes at once against `url`; their results. */
async function runWorkers(url: string, instances: number, seconds: number, connections: number): Promise<WorkerResult[]> {
  const script = fileURLToPath(new URL('./driver-worker.js', import.meta.url));
  return Promise.all(
    Array.from(
      { length: instances },
      () =>
        new Promise<WorkerResult>((done, fail) => {
          const child = spawn(process.execPath, [script, url, String(seconds), String(connections)], { stdio: ['ignore', 'pipe', 'pipe'] });
          let out = '';
          let err = '';
          child.stdout.on('data', (d) => (out += String(d)));
          child.stderr.on('data', (d) => (err += String(d)));
          child.once('error', fail);
          child.once('exit', (code) => (code === 0 ? done(JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as WorkerResult) : fail(new Error(`driver worker exited with ${code}: ${err.trim().slice(-500)}`))));
        }),
    ),
  );
}

/** KeyPackage REQ round trips and 447 requests per driver CPU-second against the stub relay, with each count of driver processes. */
export async function measureStub(seconds: number, counts: readonly number[] = [1, 2], connections = 8, log: (line: string) => void = () => undefined): Promise<StubCapacity> {
  const stub = await startStubRelay();
  const steps: StubStep[] = [];
  try {
    for (const instances of counts) {
      const cpu0 = ownCpuSeconds();
      const t0 = performance.now();
      const results = await runWorkers(stub.url, instances, seconds, connections);
      const stubCpu = ownCpuSeconds() - cpu0;
      const span = (performance.now() - t0) / 1000;
      const sum = (f: (r: WorkerResult) => number): number => results.reduce((n, r) => n + f(r), 0);
      const wall = Math.max(...results.map((r) => r.wallSeconds));
      const cpu = sum((r) => r.cpuSeconds);
      const step: StubStep = {
        instances,
        connections: instances * connections,
        reqRoundTrips: sum((r) => r.reqs),
        requests447: sum((r) => r.requests447),
        failed: sum((r) => r.failed),
        wallSeconds: Math.round(wall * 100) / 100,
        driverCpuSeconds: Math.round(cpu * 100) / 100,
        reqPerDriverCpuSecond: cpu > 0 ? Math.round(sum((r) => r.reqs) / cpu) : 0,
        requests447PerDriverCpuSecond: cpu > 0 ? Math.round(sum((r) => r.requests447) / cpu) : 0,
        reqPerSecond: Math.round(sum((r) => r.reqs) / wall),
        requests447PerSecond: Math.round(sum((r) => r.requests447) / wall),
        // Over the whole step (process start-up included, when the stub idles): a lower bound of its share during the loops.
        stubCpuPercent: Math.round((100 * stubCpu) / span),
      };
      steps.push(step);
      log(`  stub relay, ${instances} driver process${instances === 1 ? '' : 'es'}: ${step.reqPerDriverCpuSecond} REQ + ${step.requests447PerDriverCpuSecond} 447 per driver CPU-second (${step.reqPerSecond} + ${step.requests447PerSecond}/s wall, stub ${step.stubCpuPercent}% of a core)`);
    }
  } finally {
    await stub.close();
  }
  return {
    method: `bench/load/driver-worker.js processes (the load suite's NodeRuntime sockets and nostr-wasm signer, query() and request447() of load/core/nostr.ts), ${connections} connections each after NIP-42 AUTH, closed loop for ${seconds} s: half KeyPackage REQs (2 EVENTs + EOSE back), half kind 447 requests on an open inbox (2 deliveries + OK back, the 447 signed once per connection), against bench/load/stub-relay.ts in the bench process (canned answers, no checks, no storage); driver CPU is process.cpuUsage() of each driver process over its loop, summed`,
    steps,
  };
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

function stubMarkdown(st: StubCapacity, m: Record<string, string | number>): string[] {
  return [
    '## The driver alone: against a relay that answers at once',
    '',
    `${st.method}. Measured once, briefly, on a busy machine (load average ${m.loadAverageBefore} before the bench): the per-CPU-second figures hold better than the wall rates, which other work on the machine and the one-core stub cap. Both kinds run at once in one mix, so each per-CPU-second figure is that kind's count over the CPU of the whole mix (their sum is the round trips of either kind one driver CPU-second carries). Two processes give more wall throughput only where there are free cores; their per-CPU-second figure shows what the second process costs.`,
    '',
    '| driver processes | connections | KeyPackage REQ round trips | 447 requests | failed | driver CPU s | REQ per driver CPU-second | 447 per driver CPU-second | REQ/s wall | 447/s wall | stub CPU |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...st.steps.map((s) => `| ${s.instances} | ${s.connections} | ${s.reqRoundTrips} | ${s.requests447} | ${s.failed} | ${s.driverCpuSeconds} | ${s.reqPerDriverCpuSecond} | ${s.requests447PerDriverCpuSecond} | ${s.reqPerSecond} | ${s.requests447PerSecond} | ${s.stubCpuPercent}% |`),
    '',
  ];
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
    ...(d.stub === undefined ? [] : stubMarkdown(d.stub, m)),
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
  const log = (line: string): void => void process.stderr.write(`${line}\n`);
  const d = await measureDriver(seconds, rates, log);
  d.stub = await measureStub(Number(arg('stub-seconds') ?? 3), [1, 2], 8, log);
  writeResult('load-driver.json', `${JSON.stringify(d, null, 2)}\n`);
  const text = driverMarkdown(d);
  writeResult('load-driver.md', text);
  process.stdout.write(text);
  process.exit(0);
}
