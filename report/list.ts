/**
 * Every run under the runs folder (kpsuite-runs/) — conformance checks,
 * property runs and load runs — in one table, newest first, so load and
 * property results sit beside the conformance results they go with.
 */
import { existsSync, readdirSync, readFileSync, lstatSync } from 'node:fs';
import { join } from 'node:path';
import { mdTable } from './md.js';

export interface RunEntry {
  folder: string;
  kind: string;
  relay: string;
  startedAt: string;
  ok: boolean;
  /** Set when the run could not use the relay: shown as not run, not as failed. */
  notRun?: string;
  result: string;
}

type Json = Record<string, unknown>;

function readJson(path: string): Json | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Json;
  } catch {
    return undefined;
  }
}

const field = (o: Json | undefined, ...keys: string[]): unknown =>
  keys.reduce<unknown>((v, k) => (v !== null && typeof v === 'object' ? (v as Json)[k] : undefined), o);

/** The runs one folder holds (a check, a props run, or load runs of one or more scenarios). */
function entriesIn(folder: string, dir: string): RunEntry[] {
  const out: RunEntry[] = [];
  const check = readJson(join(dir, 'report.json'));
  if (check?.schema === 'kpsuite-report/1') {
    const fails = Number(field(check, 'summary', 'fail') ?? 0);
    const total = Number(field(check, 'summary', 'total') ?? 0);
    const pass = Number(field(check, 'summary', 'pass') ?? 0);
    out.push({
      folder,
      kind: 'check',
      relay: String(field(check, 'relay', 'url') ?? '?'),
      startedAt: String(field(check, 'run', 'startedAt') ?? ''),
      ok: field(check, 'summary', 'exitCode') === 0,
      result: `${pass}/${total} pass, ${fails} fail`,
    });
  }
  const props = readJson(join(dir, 'props.json'));
  if (props?.schema === 'kpsuite-props/1') {
    const failure = field(props, 'result', 'failure', 'invariant');
    out.push({
      folder,
      kind: 'props',
      relay: String(field(props, 'relay', 'url') ?? field(props, 'relay', 'description') ?? '?'),
      startedAt: String(field(props, 'run', 'startedAt') ?? ''),
      ok: field(props, 'result', 'exitCode') === 0,
      result: failure ? `violated ${String(failure)}` : `${String(field(props, 'result', 'numRuns') ?? '?')} sequences, no violation`,
    });
  }
  for (const name of readdirSync(dir).filter((f) => /^load-.+\.json$/.test(f)).sort()) {
    const load = readJson(join(dir, name));
    if (load?.schema !== 'kpsuite-load/1') continue;
    const thresholds = Array.isArray(load.thresholds) ? (load.thresholds as Json[]) : [];
    const held = thresholds.filter((t) => t.ok === true).length;
    const failed = thresholds.filter((t) => t.ok === false).length;
    // A threshold on a metric without samples held nothing: not counted as held.
    const empty = thresholds.filter((t) => t.noSamples === true).length;
    const notRun = typeof load.notRun === 'string' ? load.notRun : undefined;
    const tallyText = [`${held}/${thresholds.length} thresholds held`, ...(failed > 0 && empty > 0 ? [`${failed} failed`] : []), ...(empty > 0 ? [`${empty} without samples`] : [])].join(', ');
    out.push({
      folder,
      kind: `load ${String(load.scenario)} (${String(load.driver)})`,
      relay: String(field(load, 'relay', 'url') ?? '?'),
      startedAt: String(load.startedAt ?? ''),
      ok: notRun === undefined && load.passed === true,
      ...(notRun !== undefined ? { notRun } : {}),
      result: notRun !== undefined ? `not run: ${notRun}` : tallyText,
    });
  }
  return out;
}

export function listRuns(baseDir: string): RunEntry[] {
  if (!existsSync(baseDir)) return [];
  return readdirSync(baseDir)
    // `latest` is a link to one of the others; dot-files are a pointer being replaced.
    .filter((f) => f !== 'latest' && !f.startsWith('.') && lstatSync(join(baseDir, f)).isDirectory())
    .flatMap((f) => entriesIn(f, join(baseDir, f)))
    .sort((a, b) => b.startedAt.localeCompare(a.startedAt));
}

export function runsMarkdown(entries: readonly RunEntry[]): string {
  return mdTable(
    ['when', 'what', 'relay', 'result', 'folder'],
    entries.map((e) => [e.startedAt.replace('T', ' ').slice(0, 19), e.kind, e.relay, e.notRun !== undefined ? `NOT RUN: ${e.notRun}` : `${e.ok ? 'ok' : 'FAILED'}: ${e.result}`, e.folder]),
  );
}
