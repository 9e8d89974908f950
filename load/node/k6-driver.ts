/**
 * `kpsuite load --driver k6`: find k6, pick the bundle its version can run,
 * make a fixture for the run into a file, and run `k6 run` with the summary
 * going into the run folder.
 */
import { execFile, spawn } from 'node:child_process';
import { join, relative } from 'node:path';
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

/** `k6 run -e K=V … <bundle>` with the terminal attached; resolves to k6's exit code. */
export function runK6(k6: K6Binary, bundle: string, env: Record<string, string>): Promise<number> {
  const args = ['run', ...Object.entries(env).flatMap(([k, v]) => ['-e', `${k}=${v}`]), bundle];
  return new Promise((resolve, reject) => {
    const child = spawn(k6.path, args, { stdio: 'inherit' });
    child.once('error', reject);
    child.once('exit', (code, signal) => resolve(code ?? (signal ? 130 : 1)));
  });
}
