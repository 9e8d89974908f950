/**
 * A stand-in k6 binary for the k6 driver's wiring: `version` prints the
 * version given; `run` records its arguments and -e knobs (one JSON line
 * per run, in the order they ran) and exits with the code given, writing no
 * summary.
 */
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface FakeRun {
  args: string[];
  env: Record<string, string>;
  /** Whether the FIXTURE it was given existed while it ran. */
  fixture: boolean;
}

export function fakeK6(dir: string, version: string, exit: number): { path: string; runs(): FakeRun[] } {
  const log = join(dir, 'fake-k6.jsonl');
  const path = join(dir, 'fake-k6');
  writeFileSync(
    path,
    [
      `#!${process.execPath}`,
      "const fs = require('node:fs');",
      'const a = process.argv.slice(2);',
      `if (a[0] === 'version') { console.log('k6 ${version} (commit/devel, go1.24, linux/amd64)'); process.exit(0); }`,
      "const env = Object.fromEntries(a.filter((x, i) => a[i - 1] === '-e').map((kv) => kv.split(/=(.*)/s).slice(0, 2)));",
      `fs.appendFileSync(${JSON.stringify(log)}, JSON.stringify({ args: a, env, fixture: fs.existsSync(env.FIXTURE) }) + '\\n');`,
      `process.exit(${exit});`,
      '',
    ].join('\n'),
  );
  chmodSync(path, 0o755);
  const runs = (): FakeRun[] => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as FakeRun) : []);
  return { path, runs };
}
