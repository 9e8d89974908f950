/**
 * The package as a user gets it: the tarball holds the compiled CLI, the k6
 * bundles, PROFILE.md and the README and nothing of the tests or CI; installed
 * with `npm install --global --omit=dev` (by the action's own install step, in
 * global-setup.ts) every command starts, and runs write into the working
 * directory, never into the installed package.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { ACTION_PATH } from './action-runner.js';

const tarball = inject('tarball');
const prefix = join(inject('runnerTemp'), 'kpsuite');
const bin = join(prefix, 'bin', 'kpsuite');
const installed = join(prefix, 'lib', 'node_modules', 'kp-relay-suite');
const manifest = JSON.parse(readFileSync(join(ACTION_PATH, 'package.json'), 'utf8')) as {
  version: string;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};
const work = mkdtempSync(join(tmpdir(), 'kpsuite-user-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function kpsuite(args: string[], timeout = 90_000): Promise<Run> {
  return new Promise((resolve) => {
    // A user's shell: the installed bin on PATH, the working directory their own.
    execFile(bin, args, { cwd: work, timeout, env: { ...process.env, PATH: `${join(prefix, 'bin')}:${process.env.PATH ?? ''}` } }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

/** Every package folder directly under node_modules (scoped ones included). */
function installedPackages(modules: string): string[] {
  return readdirSync(modules)
    .filter((name) => !name.startsWith('.'))
    .flatMap((name) => (name.startsWith('@') ? readdirSync(join(modules, name)).map((sub) => join(modules, name, sub)) : [join(modules, name)]))
    .filter((dir) => existsSync(join(dir, 'package.json')));
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => statSync(join(dir, f)).isFile())
    .sort();
}

describe('the packed tarball', () => {
  const files = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' })
    .split('\n')
    .filter((f) => f !== '')
    .map((f) => f.replace(/^package\//, ''));

  it('ships the compiled CLI, the k6 bundles of both variants, PROFILE.md and the README', () => {
    for (const f of ['dist/cli/kpsuite.js', 'dist/package-info.js', 'load/dist/contend.js', 'load/dist/compat/contend.js', 'PROFILE.md', 'README.md', 'package.json']) {
      expect(files, f).toContain(f);
    }
  });

  it('leaves out sources, tests, CI files, benchmarks and source maps', () => {
    const unwanted = files.filter((f) => /\.ts$|(^|\/)test\/|\.test\.|^\.ci\/|^action\/|^scripts\/|^dist\/bench\/|\.map$/.test(f));
    expect(unwanted).toEqual([]);
  });
});

describe('installed with npm install --global --omit=dev', () => {
  it('has every runtime dependency and none of the devDependencies', () => {
    const modules = join(installed, 'node_modules');
    for (const dep of Object.keys(manifest.dependencies)) expect(existsSync(join(modules, dep)), dep).toBe(true);
    // A devDependency may still arrive as a runtime dependency's own dependency (nostr-tools brings @noble/*).
    const wanted = new Set(installedPackages(modules).flatMap((dir) => Object.keys((JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { dependencies?: object }).dependencies ?? {})));
    const devOnly = Object.keys(manifest.devDependencies).filter((dep) => !wanted.has(dep));
    expect(devOnly).toContain('vitest');
    expect(devOnly.filter((dep) => existsSync(join(modules, dep)))).toEqual([]);
  });

  it('answers --help and --version', async () => {
    const help = await kpsuite(['--help']);
    expect(help.stderr).toBe('');
    expect(help.code).toBe(0);
    for (const command of ['check', 'props', 'load', 'relay', 'report']) expect(help.stdout).toMatch(new RegExp(`^\\s+${command}\\b`, 'm'));
    const version = await kpsuite(['--version']);
    expect(version.stdout.trim()).toBe(manifest.version);
  });

  it('runs check against the embedded relay, writing the run into ./kpsuite-runs and nothing into the package', async () => {
    const before = filesUnder(installed);
    const run = await kpsuite(['check']);
    expect(run.stderr, run.stdout).toBe('');
    expect(run.code).toBe(0);
    const report = JSON.parse(readFileSync(join(work, 'kpsuite-runs', 'latest', 'report.json'), 'utf8')) as { summary: { fail: number; pass: number } };
    expect(report.summary.fail).toBe(0);
    expect(report.summary.pass).toBeGreaterThan(100);
    expect(filesUnder(installed)).toEqual(before);
  });

  it('runs props in process (fast-check is a runtime dependency)', async () => {
    const run = await kpsuite(['props', '--in-process', '--runs', '5', '--no-reports']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/PASS kp-relay\/0\.2: 5 sequences/);
  });

  it('runs load contend for 2 s with the Node driver', async () => {
    const before = filesUnder(installed);
    const run = await kpsuite(['load', 'contend', '--duration', '2s']);
    expect(run.code, `${run.stdout}${run.stderr}`).toBe(0);
    const runs = readdirSync(join(work, 'kpsuite-runs')).filter((f) => existsSync(join(work, 'kpsuite-runs', f, 'load-contend.json')));
    expect(runs).toHaveLength(1);
    expect(filesUnder(installed)).toEqual(before);
  });

  it('points --driver k6 at the bundles it ships', async () => {
    // No k6 here: the message must name k6, not `npm run build`, which cannot run inside node_modules.
    const run = await kpsuite(['load', 'contend', '--driver', 'k6', '--k6', join(work, 'no-such-k6'), '--duration', '1s']);
    expect(run.code).not.toBe(0);
    expect(`${run.stdout}${run.stderr}`).not.toMatch(/npm run build/);
    expect(`${run.stdout}${run.stderr}`).toMatch(/k6/);
  });
});
