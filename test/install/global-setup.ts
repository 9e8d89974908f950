/**
 * Packs this package (dist/ and the k6 bundles must be built: `npm test` builds
 * them first) and installs the tarball the way the composite action does: its
 * own `Resolve` and `Install kpsuite` steps, `npm install --global --omit=dev`
 * into a prefix under runner.temp. The package and action tests share that
 * install, since building better-sqlite3 from source takes minutes here.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { ACTION_PATH, newContext, runStep } from './action-runner.js';

declare module 'vitest' {
  export interface ProvidedContext {
    tarball: string;
    runnerTemp: string;
  }
}

export default async function setup(project: TestProject): Promise<() => void> {
  for (const built of ['dist/cli/kpsuite.js', 'load/dist/contend.js', 'load/dist/compat/contend.js']) {
    if (!existsSync(join(ACTION_PATH, built))) throw new Error(`${built} is missing: run npm run build (npm test does) before the install tests`);
  }
  const work = mkdtempSync(join(tmpdir(), 'kpsuite-install-'));
  const packed = JSON.parse(execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], { cwd: ACTION_PATH, encoding: 'utf8' })) as { filename: string }[];
  const tarball = join(work, packed[0]!.filename);
  const runnerTemp = join(work, 'runner-temp');
  const ctx = newContext({ url: 'ws://127.0.0.1:1', package: tarball }, runnerTemp, work);
  for (const id of ['package', undefined]) {
    const step = ctx.action.runs.steps.find((s) => (id === undefined ? s.name === 'Install kpsuite' : s.id === id));
    if (step === undefined) throw new Error(`action.yml has no step ${id ?? 'Install kpsuite'}`);
    const run = await runStep(step, ctx, 600_000);
    if (run.code !== 0) throw new Error(`action step ${step.name} failed (${run.code}):\n${run.stdout}\n${run.stderr}`);
  }
  project.provide('tarball', tarball);
  project.provide('runnerTemp', runnerTemp);
  return () => rmSync(work, { recursive: true, force: true });
}
