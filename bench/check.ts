/**
 * How long `kpsuite check` takes against the embedded reference relay
 * (target: under 10 s on these machines). Writes bench/results/check.json.
 */
import { runCheck } from '../conformance/check.js';
import { machine, median, writeResult } from './machine.js';

const ROUNDS = 3;

export async function benchCheck(): Promise<Record<string, unknown>> {
  const wall: number[] = [];
  let tests = 0;
  let passed = 0;
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = Date.now();
    const { report } = await runCheck({
      url: undefined,
      strict: true,
      only: [],
      exclude: [],
      expectFailFile: undefined,
      timeoutMs: 5000,
      quietMs: 300,
      concurrency: 4,
      limits: {},
      reportsDir: undefined,
      progress: () => undefined,
    });
    wall.push(Date.now() - t0);
    tests = report.summary.total;
    passed = report.summary.pass;
  }
  const result = {
    benchmark: 'kpsuite-check-embedded',
    when: new Date().toISOString(),
    machine: machine(),
    rounds: ROUNDS,
    tests,
    passedInLastRound: passed,
    wallSecondsMedian: Number((median(wall) / 1000).toFixed(2)),
    wallSeconds: wall.map((ms) => Number((ms / 1000).toFixed(2))),
    note: 'relay start, NIP-11, all tests at --concurrency 4 with --quiet 300, relay stop; reports not written',
  };
  writeResult('check.json', `${JSON.stringify(result, null, 2)}\n`);
  return result;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.stdout.write(`${JSON.stringify(await benchCheck(), null, 2)}\n`);
}
