/**
 * Checking genuine kind 443 KeyPackages on one core: Schnorr verification,
 * nostr-tools' pure-JS path against nostr-tools/wasm on nostr-wasm (the relay
 * uses the faster), and the MLS check the reference relay runs on each
 * publish (kp-pub-mls: decode, credential, both Ed25519 signatures).
 * Writes bench/results/verify.json.
 */
import { verifyEvent as verifyPure } from 'nostr-tools/pure';
import { keyPackages } from '../fixtures/events.js';
import { eventProblem, newKeys } from '../protocol/crypto.js';
import { keyPackageMlsProblem } from '../protocol/mls.js';
import type { NostrEvent } from '../protocol/messages.js';
import { machine, median, writeResult } from './machine.js';

const EVENTS = 1000;
const ROUNDS = 5;

function perSecond(verify: (e: object) => unknown, events: readonly object[]): number {
  const t0 = process.hrtime.bigint();
  for (const e of events) verify({ ...e }); // fresh objects: nostr-tools caches a verified flag
  return events.length / (Number(process.hrtime.bigint() - t0) / 1e9);
}

async function mlsPerSecond(events: readonly NostrEvent[]): Promise<number> {
  const t0 = process.hrtime.bigint();
  for (const e of events) if ((await keyPackageMlsProblem(e)) !== undefined) throw new Error('a fixture KeyPackage failed the MLS check');
  return events.length / (Number(process.hrtime.bigint() - t0) / 1e9);
}

export async function benchVerify(): Promise<Record<string, unknown>> {
  const events = await keyPackages(newKeys(), EVENTS);
  const pure: number[] = [];
  const wasm: number[] = [];
  const mls: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    pure.push(perSecond((e) => verifyPure(e as never), events));
    wasm.push(perSecond((e) => eventProblem(e), events));
    mls.push(await mlsPerSecond(events));
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
    mlsCheckPerSecondMedian: Math.round(median(mls)),
    mlsCheckMsMedian: Number((1000 / median(mls)).toFixed(3)),
    contentChars: events[0]?.content.length ?? 0,
  };
  writeResult('verify.json', `${JSON.stringify(result, null, 2)}\n`);
  return result;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.stdout.write(`${JSON.stringify(await benchVerify(), null, 2)}\n`);
}
