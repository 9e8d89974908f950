/**
 * `kpsuite load --driver k6`: find k6, pick the bundle its version can run,
 * make a fixture for the run into a file, and run `k6 run` with the summary
 * going into the run folder; with --instances, one k6 per execution segment.
 */
import { execFile, spawn } from 'node:child_process';
import { closeSync, openSync, readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, relative } from 'node:path';
import { envInstance } from '../core/instance.js';
import type { ScenarioName } from '../core/scenario.js';
import type { Fixture } from '../core/fixture.js';
import { writeFixture } from './fixture.js';
import { packageRoot } from '../../package-info.js';
import { VARIANTS, type Variant } from './variants.js';

export class K6NotFoundError extends Error {}

export interface K6Binary {
  path: string;
  version: string;
  major: number;
  minor: number;
}

/** Runs `<bin> version`; rejects with K6NotFoundError when there is no such program. */
export function findK6(bin = 'k6'): Promise<K6Binary> {
  return new Promise((resolve, reject) => {
    execFile(bin, ['version'], { timeout: 15_000 }, (err, stdout) => {
      if (err) {
        const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
        reject(new K6NotFoundError(missing ? `${bin} is not on PATH` : `\`${bin} version\` failed: ${err.message}`));
        return;
      }
      const m = /v(\d+)\.(\d+)\.(\d+)\S*/.exec(stdout);
      if (!m) {
        reject(new K6NotFoundError(`\`${bin} version\` printed no version: ${stdout.trim().slice(0, 200)}`));
        return;
      }
      resolve({ path: bin, version: m[0], major: Number(m[1]), minor: Number(m[2]) });
    });
  });
}

/** k6 ≥ 1.6 has k6/websockets; older ones only the experimental module. */
export function variantFor(k6: Pick<K6Binary, 'major' | 'minor'>): Variant {
  const modern = k6.major > 1 || (k6.major === 1 && k6.minor >= 6);
  const v = VARIANTS.find((x) => (modern ? x.websockets === 'k6/websockets' : x.websockets === 'k6/experimental/websockets'));
  if (v === undefined) throw new Error('no bundle variant');
  return v;
}

/** The default bundles' folder: load/dist of this package (compat/ inside it). */
export const defaultBundlesDir = (): string => join(packageRoot(), 'load', 'dist');

export function bundlePath(name: ScenarioName, variant: Variant, bundlesDir = defaultBundlesDir()): string {
  return join(bundlesDir, relative(join('load', 'dist'), variant.outDir), `${name}.js`);
}

export function writeFixtureFile(dir: string, fixture: Fixture): string {
  const path = join(dir, 'fixture.json');
  writeFixture(path, fixture);
  return path;
}

/**
 * `k6 run [flags] -e K=V … <bundle>`; resolves to k6's exit code. Its output
 * goes to the terminal, or into `log` (instances running side by side).
 */
export function runK6(k6: K6Binary, bundle: string, env: Record<string, string>, more: { flags?: string[]; log?: string } = {}): Promise<number> {
  const args = ['run', ...(more.flags ?? []), ...Object.entries(env).flatMap(([k, v]) => ['-e', `${k}=${v}`]), bundle];
  const fd = more.log === undefined ? undefined : openSync(more.log, 'w');
  return new Promise<number>((resolve, reject) => {
    const child = spawn(k6.path, args, { stdio: fd === undefined ? 'inherit' : ['ignore', fd, fd] });
    child.once('error', reject);
    child.once('exit', (code, signal) => resolve(code ?? (signal ? 130 : 1)));
  }).finally(() => {
    if (fd !== undefined) closeSync(fd);
  });
}

/** k6's flags for instance `i` (from 1) of `n`: the execution segment and its sequence, as k6-operator passes them. */
export function segmentFlags(i: number, n: number): string[] {
  const inst = envInstance({ INSTANCE: String(i), INSTANCES: String(n) });
  if (inst === undefined || inst.source === 'whole') return [];
  return ['--execution-segment', inst.segment, '--execution-segment-sequence', inst.sequence ?? ''];
}

/** A free loopback port, for the REST API each k6 opens (6565 by default: two on one host would clash). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** The summary JSON files of `scenario` in `dir` (tagged with an instance when the test was split). */
export function summaryFilesIn(dir: string, scenario: string): string[] {
  const pattern = new RegExp(`^load-${scenario}(\\.[a-z0-9_.-]+)?\\.json$`);
  return readdirSync(dir)
    .filter((f) => pattern.test(f))
    .sort()
    .map((f) => join(dir, f));
}
