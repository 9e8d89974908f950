/**
 * Schnorr verification of kind 443 events on one core: nostr-tools' pure-JS
 * path against nostr-tools/wasm on nostr-wasm. The relay uses the faster.
 * Writes bench/results/verify.json.
 */
import { verifyEvent as verifyPure } from 'nostr-tools/pure';
import { keyPackages } from '../fixtures/events.js';
import { eventProblem, newKeys } from '../protocol/crypto.js';
import { machine, median, writeResult } from './machine.js';

const EVENTS = 1000;
const ROUNDS = 5;

function perSecond(verify: (e: object) => unknown, events: readonly object[]): number {
  const t0 = process.hrtime.bigint();
  for (const e of events) verify({ ...e }); // fresh objects: nostr-tools caches a verified flag
  return events.length / (Number(process.hrtime.bigint() - t0) / 1e9);
}

export function benchVerify(): Record<string, unknown> {
  const events = keyPackages(newKeys(), EVENTS);
  const pure: number[] = [];
  const wasm: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    pure.push(perSecond((e) => verifyPure(e as never), events));
    wasm.push(perSecond((e) => eventProblem(e), events));
  }
  const result = {
    benchmark: 'verify-kind-443',
    when: new Date().toISOString(),
    machine: machine(),
    events: EVENTS,
    rounds: ROUNDS,
    pureJsPerSecondMedian: Math.round(median(pure)),
    wasmPerSecondMedian: Math.round(median(wasm)),
    ratio: Number((median(wasm) / median(pure)).toFixed(2)),
  };
  writeResult('verify.json', `${JSON.stringify(result, null, 2)}\n`);
  return result;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.stdout.write(`${JSON.stringify(benchVerify(), null, 2)}\n`);
}
