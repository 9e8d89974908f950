/**
 * `kpsuite report list` and `kpsuite report compare A.json B.json …`: the comparison matrix of several
 * runs, written as compare.md and compare.html; exit 1 when the last run
 * regressed against the first (a CI gate for releases), 2 on unusable input.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { listRuns, runsMarkdown } from '../report/list.js';
import { DEFAULT_RUNS_DIR } from '../report/write.js';
import { compareReports, type LabelledReport } from '../report/compare.js';
import { readReport, ReportReadError } from '../report/read.js';
import { compactUtc, profileLink } from '../report/text.js';

export interface CompareArgs {
  /** report.json files or run folders, first (baseline) to last. */
  paths: string[];
  /** Output folder; default `kpsuite-runs/compare-<UTC time>/`. */
  out?: string;
  /** Column labels by position; missing ones default to relay URL and date. */
  labels: string[];
  now?: Date;
}

export interface Io {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

const PROCESS_IO: Io = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
};

/** Input the user must fix: exit 2. */
class UsageError extends Error {}

function load(args: CompareArgs): LabelledReport[] {
  if (args.paths.length === 0) throw new UsageError('give at least one report.json or run folder');
  if (args.labels.length > args.paths.length) {
    throw new UsageError(`${args.labels.length} --label values for ${args.paths.length} reports: give at most one label per report, in the same order`);
  }
  return args.paths.map((path, i) => ({ label: args.labels[i] ?? '', report: readReport(path) }));
}

function writeOutputs(out: string, markdown: string, html: string): string[] {
  try {
    mkdirSync(out, { recursive: true });
    const files = [join(out, 'compare.md'), join(out, 'compare.html')];
    writeFileSync(files[0]!, markdown);
    writeFileSync(files[1]!, html);
    return files;
  } catch (err) {
    throw new UsageError(`cannot write to ${out}: ${(err as Error).message}; choose another folder with --out`);
  }
}

/** Runs the comparison; returns the exit code (0 no regression, 1 regressions, 2 unusable input). */
export function runCompare(args: CompareArgs, io: Io = PROCESS_IO): 0 | 1 | 2 {
  try {
    const reports = load(args);
    const out = args.out ?? join(DEFAULT_RUNS_DIR, `compare-${compactUtc(args.now ?? new Date())}`);
    const profileUrl = profileLink(out);
    const result = compareReports(reports, profileUrl === undefined ? {} : { profileUrl });
    const files = writeOutputs(out, result.markdown, result.html);
    io.stdout(result.summary);
    io.stdout(`\nWrote ${files.join(' and ')}\n`);
    if (result.regressions.length === 0) return 0;
    const lines = result.regressions.map((r) => `  ${r.id}: ${r.from} → ${r.to}`);
    io.stdout(`${result.regressions.length} regression(s) from the first report to the last:\n${lines.join('\n')}\n`);
    return 1;
  } catch (err) {
    if (!(err instanceof ReportReadError || err instanceof UsageError)) throw err;
    io.stderr(`kpsuite report compare: ${err.message}\n`);
    return 2;
  }
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

interface CompareOptions {
  out?: string;
  label: string[];
}

export function compareCommand(): Command {
  return new Command('compare')
    .description('compare conformance runs: a matrix of tests × runs, and what regressed from the first run to the last (exit 1 if anything did)')
    .argument('<reports...>', 'report.json files or run folders (kpsuite-runs/<relay>-<time>/), baseline first')
    .option('--out <dir>', 'where to write compare.md and compare.html (default: kpsuite-runs/compare-<time>/)')
    .option('--label <name>', 'column label for the report in the same position (repeatable)', collect, [])
    .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2))
    .action((paths: string[], o: CompareOptions) => {
      process.exitCode = runCompare({ paths, labels: o.label, ...(o.out !== undefined ? { out: o.out } : {}) });
    });
}

/** `kpsuite report …`; `compare` is its one subcommand for now. */
export function reportCommand(): Command {
  return new Command('report')
    .description('work with saved reports: list runs, compare conformance runs')
    .addCommand(listCommand())
    .addCommand(compareCommand());
}

function listCommand(): Command {
  return new Command('list')
    .description('list the conformance, property and load runs under the runs folder, newest first')
    .option('--out <dir>', 'the runs folder', DEFAULT_RUNS_DIR)
    .option('--limit <n>', 'show at most this many', (v) => Number(v), 30)
    .action((o: { out: string; limit: number }) => {
      const entries = listRuns(o.out).slice(0, o.limit);
      process.stdout.write(entries.length === 0 ? `no runs under ${o.out}\n` : `${runsMarkdown(entries)}\n`);
    });
}
