/**
 * The property suite's speed: 1,000 in-process command sequences against the
 * reference relay, three times. Writes bench/results/props.json with the
 * machine and the median.
 */
import { inProcessFactory } from '../props/in-process-target.js';
import { DEFAULT_MAX_COMMANDS, runProperty } from '../props/property.js';
import { PROPERTY_LIMITS } from '../props/props.js';
import { machine, median, writeResult } from './machine.js';

const SEQUENCES = 1000;
const ROUNDS = 3;

export async function benchProps(): Promise<Record<string, unknown>> {
  const factory = inProcessFactory({ limits: PROPERTY_LIMITS });
  const seconds: number[] = [];
  let commands = 0;
  for (let r = 0; r < ROUNDS; r++) {
    const outcome = await runProperty({ factory, runs: SEQUENCES, seed: r + 1 });
    if (outcome.failure || outcome.error) throw new Error(`the reference relay failed the property: ${outcome.failure?.detail ?? outcome.error?.message}`);
    seconds.push(outcome.durationMs / 1000);
    commands += Object.entries(outcome.stats).reduce((n, [k, v]) => (k.startsWith('command ') ? n + v : n), 0);
  }
  const mid = median(seconds);
  const result = {
    benchmark: 'props-in-process',
    when: new Date().toISOString(),
    machine: machine(),
    sequences: SEQUENCES,
    maxCommands: DEFAULT_MAX_COMMANDS,
    rounds: ROUNDS,
    seeds: Array.from({ length: ROUNDS }, (_, r) => r + 1),
    secondsPerRound: seconds.map((s) => Number(s.toFixed(2))),
    medianSeconds: Number(mid.toFixed(2)),
    sequencesPerSecondMedian: Math.round(SEQUENCES / mid),
    commandsPerRoundMean: Math.round(commands / ROUNDS),
  };
  writeResult('props.json', `${JSON.stringify(result, null, 2)}\n`);
  return result;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.stdout.write(`${JSON.stringify(await benchProps(), null, 2)}\n`);
}
