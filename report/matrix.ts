/**
 * The matrix of a `kpsuite check` over several relays: tests × relays, as the
 * Autobahn|Testsuite index page shows cases × agents. Each cell links to the
 * test's row in that relay's index.html, where its wire log is; matrix.json is
 * this model as written, matrix.md and matrix.html render it (matrix-render.ts).
 */
import { join, relative, sep } from 'node:path';
import type { ConformanceReport, Outcome, TestRecord } from './schema.js';
import { unionIds } from './compare.js';
import { countOutcomes, relayIdentity } from './text.js';

export const MATRIX_SCHEMA = 'kpsuite-matrix/1';

export type ExitCode = 0 | 1 | 2;

/** One relay's run as the CLI ended it: a report, or why there is none (unreachable, never ready). */
export interface RelayRun {
  url: string;
  exitCode: ExitCode;
  report?: ConformanceReport;
  /** The run folder holding index.html; absent when the run wrote none. */
  runDir?: string;
  error?: string;
}

export interface MatrixRelay {
  url: string;
  /** NIP-11 name and software, when the relay served them. */
  identity?: string;
  exitCode: ExitCode;
  /** Zero everywhere when the relay was not checked (see `error`). */
  counts: Record<Outcome, number>;
  /** The run's index.html, relative to the matrix folder. */
  report?: string;
  error?: string;
}

export interface MatrixCell {
  outcome: Outcome;
  /** The test's row in the run's index.html, relative to the matrix folder. */
  href?: string;
  expectedFailure?: true;
}

export interface MatrixRow extends Pick<TestRecord, 'id' | 'anchor' | 'section' | 'level'> {
  /** One per relay, in the relays' order; null where that relay's run has no such test. */
  cells: (MatrixCell | null)[];
}

export interface Matrix {
  schema: typeof MATRIX_SCHEMA;
  createdAt: string;
  /** The worst of the relays' exit codes: what the process exits with. */
  exitCode: ExitCode;
  relays: MatrixRelay[];
  /** Every test some relay ran (not skipped), in the suite's order. */
  rows: MatrixRow[];
}

/** 2 (usage, unreachable, profile not checked) over 1 (a test stopped the run) over 0. */
export function worstExitCode(codes: readonly ExitCode[]): ExitCode {
  return codes.reduce<ExitCode>((worst, code) => (code > worst ? code : worst), 0);
}

/** The id index.html gives a test's row (`test-<id>`), as a URL fragment. */
export function testFragment(id: string): string {
  // `/` is legal in a fragment and keeps the link readable.
  return `#${encodeURIComponent(`test-${id}`).replace(/%2F/g, '/')}`;
}

/** A path from the matrix folder, with `/` on every platform (it goes into links). */
const linkFrom = (matrixDir: string, path: string): string => relative(matrixDir, path).split(sep).join('/');

/** Tests by outcome; zero everywhere for a relay that was not checked. */
export function relayCounts(run: Pick<RelayRun, 'report'>): Record<Outcome, number> {
  return countOutcomes(run.report?.tests ?? []);
}

function relayColumn(run: RelayRun, index: string | undefined): MatrixRelay {
  const identity = relayIdentity(run.report?.relay.nip11);
  return {
    url: run.url,
    ...(identity !== undefined ? { identity } : {}),
    exitCode: run.exitCode,
    counts: relayCounts(run),
    ...(index !== undefined ? { report: index } : {}),
    ...(run.error !== undefined ? { error: run.error } : {}),
  };
}

export function buildMatrix(runs: readonly RelayRun[], matrixDir: string, createdAt: Date = new Date()): Matrix {
  const indexes = runs.map((r) => (r.report && r.runDir !== undefined ? linkFrom(matrixDir, join(r.runDir, 'index.html')) : undefined));
  const byId = runs.map((r) => new Map((r.report?.tests ?? []).map((t) => [t.id, t])));
  const reports = runs.flatMap((r) => (r.report ? [r.report] : []));
  const rows = unionIds(reports).map((id): MatrixRow => {
    const first = byId.map((m) => m.get(id)).find((t) => t !== undefined)!;
    const cells = byId.map((m, i): MatrixCell | null => {
      const test = m.get(id);
      if (!test) return null;
      const index = indexes[i];
      return {
        outcome: test.outcome,
        ...(index !== undefined ? { href: `${index}${testFragment(id)}` } : {}),
        ...(test.expectedFailure ? { expectedFailure: true as const } : {}),
      };
    });
    return { id, anchor: first.anchor, section: first.section, level: first.level, cells };
  });
  // A test every relay skipped was deselected (--only, --exclude): a row of it would say nothing.
  const checked = rows.filter((row) => row.cells.some((c) => c !== null && c.outcome !== 'skipped'));
  return {
    schema: MATRIX_SCHEMA,
    createdAt: createdAt.toISOString(),
    exitCode: worstExitCode(runs.map((r) => r.exitCode)),
    relays: runs.map((r, i) => relayColumn(r, indexes[i])),
    rows: checked,
  };
}
