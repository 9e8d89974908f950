/**
 * `kpsuite load contend --instances 2` (Node driver, one process per
 * instance) against a reference relay that hands a KeyPackage out twice
 * (double-handout) and against a clean one: the merged verdict fails on the
 * duplicates, judged over all instances' ledgers, and passes on the clean
 * relay. Needs the built CLI (the instance processes run dist/cli/kpsuite.js).
 *
 * Why the duplicates are within an instance and not across: contend splits
 * the test by owner (load/core/instance.ts, scenarios/contend.ts): each
 * instance takes whole owners with their racers, so two instances never race
 * for the same owner's KeyPackages and a KeyPackage handed out on two
 * instances cannot happen against one relay (merge still catches it when a
 * ledger says so: split.test.ts forges one). What the merge judges here is
 * `merge_duplicate_handouts count==0`: every non-last KeyPackage's hand-outs
 * summed over the ledgers of all instances, minus one each. Each instance
 * also fails its own `contend_duplicates`, re-judged on the merged counts.
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runLoad, type Io, type LoadCommandOptions } from '../../cli/load-command.js';
import type { FaultName } from '../../reference-relay/faults.js';
import { startRelay } from '../../reference-relay/server.js';
import { factsOf } from '../core/ledger.js';
import type { LoadSummary } from '../core/summary.js';

const tmp = mkdtempSync(join(tmpdir(), 'kp-load-split-fault-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const quiet: Io = { stdout: () => undefined, stderr: () => undefined };
const readJson = (path: string): LoadSummary => JSON.parse(readFileSync(path, 'utf8')) as LoadSummary;

/** contend, 2 owners of 8 KeyPackages, 8 racers each, split into 2 instance processes; the exit code, the merged summary and the instances'. */
async function split(faults: FaultName[]): Promise<{ code: number; merged: LoadSummary; instances: LoadSummary[]; logs: boolean[] }> {
  const dir = mkdtempSync(join(tmp, faults.join('-') || 'clean-'));
  const relay = await startRelay({ port: 0, db: join(dir, 'relay.sqlite'), faults });
  try {
    const out = join(dir, 'runs');
    const o: LoadCommandOptions = { driver: 'node', env: ['OWNERS=2', 'KPS=8', 'RACERS=8', 'ROUNDS=3'], k6: 'k6', out, reports: true, instances: 2, url: relay.url };
    const code = await runLoad('contend', o, quiet);
    const run = join(out, readdirSync(out)[0] ?? '');
    return {
      code,
      merged: readJson(join(run, 'load-contend.json')),
      instances: [1, 2].map((i) => readJson(join(run, `instance-${i}`, `load-contend.instance-${i}-of-2.json`))),
      logs: [1, 2].map((i) => existsSync(join(run, `instance-${i}`, 'node.log'))),
    };
  } finally {
    await relay.close();
  }
}

const failedOf = (s: LoadSummary): string[] => s.thresholds.filter((t) => t.ok === false).map((t) => t.metric);

describe('kpsuite load contend --instances 2 (one process per instance) and the merged verdict', () => {
  it('fails (99) against double-handout on the duplicates counted over all instances', async () => {
    const { code, merged, instances, logs } = await split(['double-handout']);
    expect(logs).toEqual([true, true]);
    expect(merged.merged?.instances.map((i) => i.segment)).toEqual(['0:1/2', '1/2:1']);
    // Disjoint owners: each instance raced for its own.
    const owners = instances.map((s) => factsOf(s.ledger ?? {}, 'owner').map((f) => f.args[0]));
    expect(owners.map((o) => o.length)).toEqual([1, 1]);
    expect(owners[0]).not.toEqual(owners[1]);
    expect(code).toBe(99);
    expect(failedOf(merged)).toContain('merge_duplicate_handouts');
    expect(merged.metrics.merge_duplicate_handouts?.values.count).toBeGreaterThan(0);
    // The merged count is the instances' duplicates together, whichever instance saw them.
    const perInstance = instances.map((s) => s.metrics.contend_duplicates?.values.count ?? 0);
    expect(merged.metrics.contend_duplicates?.values.count).toBe(perInstance[0]! + perInstance[1]!);
    expect(failedOf(merged)).toContain('contend_duplicates');
  }, 180_000);

  it('passes (0) against the clean reference relay', async () => {
    const { code, merged, logs } = await split([]);
    expect(logs).toEqual([true, true]);
    expect(failedOf(merged)).toEqual([]);
    expect(code).toBe(0);
    expect(merged.metrics.merge_duplicate_handouts?.values.count).toBe(0);
    expect(merged.metrics.merge_owner_left_one?.values).toMatchObject({ passes: 2, fails: 0 });
  }, 180_000);
});
