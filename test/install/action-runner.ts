/**
 * Runs the composite action's `run:` steps the way the GitHub runner does:
 * `${{ … }}` expressions are substituted into each step's `env:` (never into
 * the script, which must hold none), the script runs under `bash -e` with
 * GITHUB_OUTPUT, GITHUB_STEP_SUMMARY, GITHUB_ACTION_PATH and RUNNER_TEMP set,
 * and a step's outputs are read back from its GITHUB_OUTPUT file. `uses:` steps
 * (setup-node, cache, upload-artifact) are GitHub's own and are not run here.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

export const ACTION_PATH = new URL('../../', import.meta.url).pathname.replace(/\/$/, '');

export interface ActionInput {
  description: string;
  required?: boolean;
  default?: string;
}

export interface ActionStep {
  id?: string;
  name?: string;
  if?: string;
  uses?: string;
  run?: string;
  shell?: string;
  env?: Record<string, string>;
  with?: Record<string, string>;
}

export interface ActionFile {
  inputs: Record<string, ActionInput>;
  outputs: Record<string, { value: string }>;
  runs: { using: string; steps: ActionStep[] };
}

export function loadAction(): ActionFile {
  return parse(readFileSync(join(ACTION_PATH, 'action.yml'), 'utf8')) as ActionFile;
}

export interface StepRun {
  step: ActionStep;
  code: number;
  stdout: string;
  stderr: string;
  outputs: Record<string, string>;
}

export interface RunContext {
  action: ActionFile;
  /** Inputs as the workflow's `with:` gives them; defaults fill the rest. */
  inputs: Record<string, string>;
  /** runner.temp */
  temp: string;
  /** The job's working directory. */
  cwd: string;
  summaryFile: string;
  outputs: Record<string, Record<string, string>>;
}

export function newContext(inputs: Record<string, string>, temp: string, cwd: string): RunContext {
  mkdirSync(temp, { recursive: true });
  const summaryFile = join(temp, 'step-summary.md');
  writeFileSync(summaryFile, '');
  return { action: loadAction(), inputs, temp, cwd, summaryFile, outputs: {} };
}

/** Evaluates the expressions this action uses: inputs.*, runner.temp, github.action_path, steps.<id>.outputs.<name>. */
export function evaluate(expression: string, ctx: RunContext): string {
  return expression.replace(/\$\{\{\s*([^}]+?)\s*\}\}/g, (_all, expr: string) => {
    let m = /^inputs\.([\w-]+)$/.exec(expr);
    if (m) {
      const name = m[1]!;
      const declared = ctx.action.inputs[name];
      if (declared === undefined) throw new Error(`action.yml uses undeclared input ${name}`);
      return ctx.inputs[name] ?? declared.default ?? '';
    }
    if (expr === 'runner.temp') return ctx.temp;
    if (expr === 'github.action_path') return ACTION_PATH;
    m = /^steps\.([\w-]+)\.outputs\.([\w-]+)$/.exec(expr);
    if (m) return ctx.outputs[m[1]!]?.[m[2]!] ?? '';
    throw new Error(`expression the test runner does not know: ${expr}`);
  });
}

function readOutputs(file: string): Record<string, string> {
  if (!existsSync(file)) return {};
  const out: Record<string, string> = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

/** Called with each piece of a step's standard output as it arrives. */
export type OnStdout = (step: ActionStep, chunk: string) => void;

export function runStep(step: ActionStep, ctx: RunContext, timeoutMs = 300_000, onStdout?: OnStdout): Promise<StepRun> {
  if (step.run === undefined) throw new Error(`step ${step.name ?? step.uses} has no run:`);
  const outputFile = join(ctx.temp, `output-${step.id ?? 'step'}-${Date.now()}`);
  writeFileSync(outputFile, '');
  const env: Record<string, string | undefined> = {
    // Steps inherit the runner's environment (CA certificates, npm settings), not vitest's own variables.
    ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VITEST') && k !== 'NODE_OPTIONS' && k !== 'NODE_ENV')),
    GITHUB_ACTION_PATH: ACTION_PATH,
    GITHUB_OUTPUT: outputFile,
    GITHUB_STEP_SUMMARY: ctx.summaryFile,
    RUNNER_TEMP: ctx.temp,
    RUNNER_OS: 'Linux',
    CI: 'true',
  };
  for (const [k, v] of Object.entries(step.env ?? {})) env[k] = evaluate(String(v), ctx);
  return new Promise((resolve, reject) => {
    // The runner runs `shell: bash` steps as `bash --noprofile --norc -eo pipefail {0}`.
    const child = spawn('bash', ['--noprofile', '--norc', '-eo', 'pipefail', '-c', step.run!], { cwd: ctx.cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      onStdout?.(step, d.toString());
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      const outputs = readOutputs(outputFile);
      if (step.id !== undefined) ctx.outputs[step.id] = outputs;
      resolve({ step, code: code ?? (signal ? 128 : 1), stdout, stderr, outputs });
    });
  });
}

/** The action's `run:` steps in order, as a job would run them (a failed step stops the job except for `if: always()`). */
export async function runAction(ctx: RunContext, timeoutMs?: number, onStdout?: OnStdout): Promise<StepRun[]> {
  const runs: StepRun[] = [];
  let failed = false;
  for (const step of ctx.action.runs.steps) {
    if (step.run === undefined) continue;
    if (failed && step.if !== 'always()') continue;
    const run = await runStep(step, ctx, timeoutMs, onStdout);
    runs.push(run);
    if (run.code !== 0) failed = true;
  }
  return runs;
}
