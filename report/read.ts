/**
 * Reading a report.json back (for `kpsuite report compare`): checks that the
 * file is a kpsuite report of the schema this version renders, and says what
 * to fix when it is not, since the file may come from anywhere.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { PROFILE_NAMES } from '../protocol/profile.js';
import { OUTCOMES } from './schema.js';
import { REPORT_SCHEMA, type ConformanceReport } from './schema.js';

export class ReportReadError extends Error {}

const HINT = 'give the report.json of a `kpsuite check` run, or its run folder (kpsuite-runs/<relay>-<time>/)';

/** report.json itself, or the report.json inside a run folder. */
function reportFile(path: string): string {
  if (!existsSync(path)) throw new ReportReadError(`${path}: no such file or folder; ${HINT}`);
  if (!statSync(path).isDirectory()) return path;
  const inside = join(path, 'report.json');
  if (!existsSync(inside)) throw new ReportReadError(`${path} is a folder without a report.json; ${HINT}`);
  return inside;
}

export function readReport(path: string): ConformanceReport {
  const file = reportFile(path);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ReportReadError(`cannot read ${file}: ${(err as Error).message}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ReportReadError(`${file} is not JSON (${(err as Error).message}); ${HINT}`);
  }
  return validateReport(value, file);
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Collects what is wrong, by JSON path, instead of stopping at the first problem. */
class Checker {
  readonly problems: string[] = [];

  /** The object, or undefined (one problem recorded, its fields not checked). */
  object(v: unknown, path: string): Json | undefined {
    if (isObject(v)) return v;
    this.problems.push(`${path} should be an object`);
    return undefined;
  }

  array(v: unknown, path: string): unknown[] {
    if (Array.isArray(v)) return v;
    this.problems.push(`${path} should be an array`);
    return [];
  }

  type(v: unknown, path: string, type: 'string' | 'number' | 'boolean', optional = false): void {
    if (optional && v === undefined) return;
    if (typeof v !== type || (type === 'number' && !Number.isFinite(v))) this.problems.push(`${path} should be a ${type}${optional ? ' or absent' : ''}`);
  }

  oneOf(v: unknown, path: string, allowed: readonly unknown[]): void {
    if (!allowed.includes(v)) this.problems.push(`${path} is ${JSON.stringify(v)}, not one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}`);
  }

  strings(v: unknown, path: string): void {
    this.array(v, path).forEach((s, i) => this.type(s, `${path}[${i}]`, 'string'));
  }
}

function checkSchema(value: unknown, source: string): Json {
  if (!isObject(value)) throw new ReportReadError(`${source} is not a kpsuite report (the JSON is not an object); ${HINT}`);
  const schema = value.schema;
  if (schema === REPORT_SCHEMA) return value;
  if (schema === undefined) throw new ReportReadError(`${source} is not a kpsuite report: it has no "schema" field (expected "${REPORT_SCHEMA}"); ${HINT}`);
  if (typeof schema === 'string' && schema.startsWith('kpsuite-report/')) {
    throw new ReportReadError(`${source} is a ${schema} report; this kpsuite reads ${REPORT_SCHEMA}: use the kpsuite version that wrote it, or re-run the check`);
  }
  throw new ReportReadError(`${source} is not a kpsuite report: "schema" is ${JSON.stringify(schema)}, expected "${REPORT_SCHEMA}"; ${HINT}`);
}

function checkRun(c: Checker, run: Json): void {
  c.type(run.startedAt, 'run.startedAt', 'string');
  c.type(run.durationMs, 'run.durationMs', 'number');
  c.type(run.strict, 'run.strict', 'boolean');
  c.strings(run.only, 'run.only');
  c.strings(run.exclude, 'run.exclude');
  c.oneOf(run.limitsSource, 'run.limitsSource', ['nip11', 'flags', 'nip11+flags', 'none']);
  c.type(run.timeoutMs, 'run.timeoutMs', 'number');
  c.type(run.quietMs, 'run.quietMs', 'number');
  c.type(run.expectFailFile, 'run.expectFailFile', 'string', true);
  // Absent in reports written before marmot-relay/1 was checked.
  const profiles = run.profiles === undefined ? undefined : c.object(run.profiles, 'run.profiles');
  if (profiles) {
    c.array(profiles.checked, 'run.profiles.checked').forEach((p, i) => c.oneOf(p, `run.profiles.checked[${i}]`, PROFILE_NAMES));
    c.oneOf(profiles.by, 'run.profiles.by', ['option', 'nip11', 'no-claim']);
  }
}

function checkSummary(c: Checker, summary: Json): void {
  for (const key of [...OUTCOMES, 'total', 'unexpectedFailures']) c.type(summary[key], `summary.${key}`, 'number');
  c.strings(summary.unexpectedPasses, 'summary.unexpectedPasses');
  c.oneOf(summary.exitCode, 'summary.exitCode', [0, 1, 2]);
}

function checkTest(c: Checker, test: Json, path: string): void {
  for (const key of ['id', 'anchor', 'section', 'requirement']) c.type(test[key], `${path}.${key}`, 'string');
  c.oneOf(test.level, `${path}.level`, ['MUST', 'SHOULD', 'MAY']);
  c.oneOf(test.outcome, `${path}.outcome`, OUTCOMES);
  c.type(test.durationMs, `${path}.durationMs`, 'number');
  for (const key of ['message', 'expected', 'observed']) c.type(test[key], `${path}.${key}`, 'string', true);
  c.type(test.waitedMs, `${path}.waitedMs`, 'number', true);
  c.type(test.expectedFailure, `${path}.expectedFailure`, 'boolean', true);
  c.array(test.wire, `${path}.wire`).forEach((w, i) => {
    const entry = c.object(w, `${path}.wire[${i}]`);
    if (!entry) return;
    c.type(entry.t, `${path}.wire[${i}].t`, 'number');
    c.oneOf(entry.dir, `${path}.wire[${i}].dir`, ['sent', 'received', 'note']);
    c.type(entry.frame, `${path}.wire[${i}].frame`, 'string');
    c.type(entry.decisive, `${path}.wire[${i}].decisive`, 'boolean', true);
    c.type(entry.quietAfterMs, `${path}.wire[${i}].quietAfterMs`, 'number', true);
  });
}

function checkHead(c: Checker, root: Json): void {
  const suite = c.object(root.suite, 'suite');
  if (suite) {
    c.oneOf(suite.name, 'suite.name', ['kpsuite']);
    c.type(suite.version, 'suite.version', 'string');
  }
  c.type(root.profile, 'profile', 'string');
  const relay = c.object(root.relay, 'relay');
  if (relay) {
    c.type(relay.url, 'relay.url', 'string');
    if (relay.nip11 !== undefined) c.object(relay.nip11, 'relay.nip11');
  }
}

/** The report, typed, or a ReportReadError listing (the first few) problems by JSON path. */
export function validateReport(value: unknown, source = 'the report'): ConformanceReport {
  const root = checkSchema(value, source);
  const c = new Checker();
  checkHead(c, root);
  const run = c.object(root.run, 'run');
  if (run) checkRun(c, run);
  const summary = c.object(root.summary, 'summary');
  if (summary) checkSummary(c, summary);
  c.array(root.tests, 'tests').forEach((t, i) => {
    const test = c.object(t, `tests[${i}]`);
    if (test) checkTest(c, test, `tests[${i}]`);
  });
  if (c.problems.length > 0) {
    const shown = c.problems.slice(0, 8).join('; ');
    const more = c.problems.length > 8 ? ` (and ${c.problems.length - 8} more)` : '';
    throw new ReportReadError(`${source} says it is ${REPORT_SCHEMA} but is malformed: ${shown}${more}`);
  }
  return root as unknown as ConformanceReport;
}
