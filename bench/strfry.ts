/**
 * The reference relay and strfry side by side, with the same driver in one
 * run (issue: the reference relay at the machine's limit): kind 443 publishes
 * of genuine KeyPackages, every signature checked, and the NIP-01 mix of
 * bench/load.ts, in alternate rounds on fresh relays. Needs a strfry binary:
 * `--strfry PATH`, or `strfry` on PATH; without one it writes that strfry was
 * not measured, and why.
 *
 * `node dist/bench/strfry.js [--strfry PATH] [--seconds 4] [--rounds 3]`
 * Writes bench/results/strfry.json and strfry.md.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { newKeys } from '../protocol/crypto.js';
import type { NostrEvent } from '../protocol/messages.js';
import { figure, keyPackagePool, mixPhase, notePool, publishPhase, type Figure } from './load.js';
import { spawnRelay, type Measured, type RelayKind } from './load/drive.js';
import { strfryBinary } from './load/strfry.js';
import { machine, runBench, writeResult } from './machine.js';

const num = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  return Number.isFinite(v) && v > 0 ? v : fallback;
};
const SECONDS = num('seconds', 4);
const ROUNDS = num('rounds', 3);
const log = (line: string): void => void process.stderr.write(`${line}\n`);

type Side = Extract<RelayKind, 'reference' | 'strfry'>;

/** ROUNDS rounds of `phase` per side, alternating, each on a fresh relay. */
async function sideBySide(work: string, binary: string, name: string, phase: (url: string) => Promise<Measured>, items: boolean): Promise<Record<Side, Figure>> {
  const rounds: Record<Side, Measured[]> = { reference: [], strfry: [] };
  for (let i = 0; i < ROUNDS; i++) {
    for (const side of ['reference', 'strfry'] as const) {
      const child = await spawnRelay(side, mkdtempSync(join(work, `${name}-${side}-`)), side === 'strfry' ? binary : '');
      try {
        rounds[side].push(await phase(child.url));
        log(`  ${name} ${side} round ${i + 1}: ${Math.round(items ? rounds[side].at(-1)!.itemsPerSecond : rounds[side].at(-1)!.opsPerSecond)}/s`);
      } finally {
        await child.stop();
      }
    }
  }
  return { reference: figure(rounds.reference, items), strfry: figure(rounds.strfry, items) };
}

const ratio = (a: Figure, b: Figure): number => Math.round((100 * a.perSecondMedian) / Math.max(1, b.perSecondMedian)) / 100;

async function main(): Promise<void> {
  const m: Record<string, string | number> = { ...machine(), loadAverageBefore: loadavg().map((x) => x.toFixed(2)).join(' ') };
  const binary = strfryBinary();
  if (binary === undefined) {
    const why = 'no strfry binary: give --strfry PATH or put strfry on PATH';
    log(`strfry: not measured (${why})`);
    writeResult('strfry.json', `${JSON.stringify({ benchmark: 'strfry', when: new Date().toISOString(), machine: m, measured: false, why }, null, 2)}\n`);
    writeResult('strfry.md', `# Reference relay and strfry\n\nNot measured on ${m.cpu}, ${m.cores} cores: ${why}.\n`);
    return;
  }
  const work = mkdtempSync(join(tmpdir(), 'kpsuite-bench-strfry-'));
  try {
    log('making genuine KeyPackages…');
    const pool = (await keyPackagePool(Math.ceil((4000 * SECONDS) / 4 / 3))).events;
    log('443 publishes (reference / strfry):');
    const publishes = await sideBySide(work, binary, 'publish-443', (url) => publishPhase(url, pool, SECONDS), true);
    const authors = Array.from({ length: 50 }, () => newKeys());
    const notes = (): NostrEvent[] => notePool(20_000 * SECONDS, authors);
    log('NIP-01 mix (reference / strfry):');
    const mix = await sideBySide(work, binary, 'mix', (url) => mixPhase(url, notes(), authors.map((a) => a.pubkey), SECONDS), false);
    const result = {
      benchmark: 'strfry',
      when: new Date().toISOString(),
      machine: { ...m, loadAverageAfter: loadavg().map((x) => x.toFixed(2)).join(' ') },
      measured: true,
      strfry: binary,
      seconds: SECONDS,
      rounds: ROUNDS,
      keyPackagePublishes: { ...publishes, referenceOverStrfry: ratio(publishes.reference, publishes.strfry) },
      nip01Mix: { ...mix, referenceOverStrfry: ratio(mix.reference, mix.strfry) },
    };
    const row = (what: string, f: Figure): string => `| ${what} | ${f.perSecondMedian}/s | ${f.p50MsMedian} | ${f.p99MsMedian} | ${f.errors} |`;
    const text = [
      '# Reference relay and strfry',
      '',
      `${m.cpu}, ${m.cores} cores, ${m.os}, Node ${m.node}; strfry ${binary}; medians of ${ROUNDS} alternate rounds of up to ${SECONDS} s, fresh relay each.`,
      '',
      '| | rate | p50 ms | p99 ms | errors |',
      '| --- | --- | --- | --- | --- |',
      row('reference: kind 443 publishes', publishes.reference),
      row('strfry: kind 443 publishes', publishes.strfry),
      row('reference: NIP-01 mix', mix.reference),
      row('strfry: NIP-01 mix', mix.strfry),
      '',
      `Reference ÷ strfry: 443 publishes ${result.keyPackagePublishes.referenceOverStrfry}, NIP-01 mix ${result.nip01Mix.referenceOverStrfry}.`,
      '',
    ].join('\n');
    writeResult('strfry.json', `${JSON.stringify(result, null, 2)}\n`);
    writeResult('strfry.md', text);
    process.stdout.write(text);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

runBench('strfry', import.meta.url, main);
