/**
 * `kpsuite check` over the relays given (`--url` repeated, `--urls FILE`), one
 * after another: relays on one machine would disturb each other's timing if
 * checked at once. A relay that cannot be checked (unreachable, never ready,
 * a run that overran its deadline) is recorded with its exit code and the
 * next one is checked all the same.
 */
import { readFileSync } from 'node:fs';
import { CheckUsageError, runCheck, type CheckOptions, type CheckResult } from '../conformance/check.js';
import { waitForRelay } from '../client/wait-for-relay.js';
import { relayCounts, type RelayRun } from '../report/matrix.js';
import type { TestRecord } from '../report/schema.js';

const WS_URL = /^wss?:\/\//;

/** `--urls FILE`: one URL a line; `#` starts a comment; blank lines are skipped. */
function readUrlsFile(path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new CheckUsageError(`cannot read --urls ${path}: ${(err as Error).message}`);
  }
  return text
    .split('\n')
    .map((line) => line.replace(/#.*/, '').trim())
    .filter((line) => line !== '');
}

/** Every `--url`, then the file's, in that order; each must be ws:// or wss://. */
export function relayUrls(urls: readonly string[], file: string | undefined): string[] {
  const bad = urls.find((u) => !WS_URL.test(u));
  if (bad !== undefined) throw new CheckUsageError(`--url must start with ws:// or wss://, got "${bad}"`);
  if (file === undefined) return [...urls];
  const listed = readUrlsFile(file);
  if (listed.length === 0) throw new CheckUsageError(`--urls ${file} lists no URL (one a line; # comments and blank lines are skipped)`);
  const badListed = listed.find((u) => !WS_URL.test(u));
  if (badListed !== undefined) throw new CheckUsageError(`--urls ${file}: "${badListed}" does not start with ws:// or wss://`);
  return [...urls, ...listed];
}

/** runCheck's options but the relay and the progress line: the same for every relay. */
export type RunSettings = Omit<CheckOptions, 'url' | 'progress'>;

/** Where a run's human output goes: stdout, or stderr when stdout carries --json. Errors always go to stderr. */
export interface RunConsole {
  say(text: string): void;
  progress(record: TestRecord): void;
  result(result: CheckResult): void;
}

/** After --deadline the runner ends the run itself; past this much more, the run is abandoned. */
const DEADLINE_GRACE_SECONDS = 15;

class RunOverran extends Error {}

/** The run, or RunOverran when it has not ended DEADLINE_GRACE_SECONDS after its deadline. */
async function guarded<T>(work: Promise<T>, deadlineSeconds: number | undefined, last: boolean): Promise<T> {
  if (deadlineSeconds === undefined) return work;
  let timer: NodeJS.Timeout | undefined;
  const next = last ? 'exiting' : 'going on with the next relay';
  const overrun = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new RunOverran(`the run's deadline of ${deadlineSeconds} s passed ${DEADLINE_GRACE_SECONDS} s ago and the run has not ended; ${next}`)),
      (deadlineSeconds + DEADLINE_GRACE_SECONDS) * 1000,
    );
  });
  try {
    return await Promise.race([work, overrun]);
  } finally {
    clearTimeout(timer);
  }
}

/** `--wait`: undefined once the relay accepts a connection, else why not (it is then not checked, exit 2). */
async function notReady(url: string | undefined, seconds: number, io: RunConsole): Promise<string | undefined> {
  if (url === undefined || seconds <= 0) return undefined;
  const r = await waitForRelay(url, seconds);
  const waited = `${(r.waitedMs / 1000).toFixed(1)} s, ${r.attempts} attempt${r.attempts === 1 ? '' : 's'}`;
  if (!r.ready) return `${url} did not accept a WebSocket connection within --wait ${seconds} (waited ${waited}; last error: ${r.lastError})`;
  if (r.attempts > 1) io.say(`kpsuite check: ${url} accepts connections (waited ${waited})\n`);
  return undefined;
}

/** One relay, start to end; never throws for the relay's sake, so the next relay still gets its turn. */
async function checkOne(url: string | undefined, settings: RunSettings, waitSeconds: number, io: RunConsole, last: boolean): Promise<RelayRun> {
  const name = url ?? 'embedded reference relay';
  try {
    const problem = await notReady(url, waitSeconds, io);
    if (problem !== undefined) throw new CheckUsageError(problem);
    const result = await guarded(runCheck({ ...settings, url, progress: io.progress }), settings.deadlineSeconds, last);
    io.result(result);
    return { url: url ?? result.report.relay.url, exitCode: result.exitCode, report: result.report, ...(result.reportDir !== undefined ? { runDir: result.reportDir } : {}) };
  } catch (err) {
    const message = (err as Error).message || String(err);
    // Errors the user can act on are the command's; anything else reads as it did before several relays were possible.
    const ours = err instanceof CheckUsageError || err instanceof RunOverran;
    process.stderr.write(`kpsuite${ours ? ' check' : ''}: ${message}\n`);
    return { url: name, exitCode: err instanceof RunOverran ? 1 : 2, error: message };
  }
}

/** Checks each relay in turn (undefined: the embedded reference relay); `onRun` hears of each as it ends. */
export async function checkRelays(
  targets: readonly (string | undefined)[],
  settings: RunSettings,
  waitSeconds: number,
  io: RunConsole,
  onRun: (run: RelayRun) => void = () => undefined,
): Promise<RelayRun[]> {
  const runs: RelayRun[] = [];
  for (const [i, url] of targets.entries()) {
    const of = targets.length > 1 ? ` (relay ${i + 1} of ${targets.length})` : '';
    io.say(`${i > 0 ? '\n' : ''}kpsuite check: ${url ?? 'embedded reference relay'}${of}\n`);
    const run = await checkOne(url, settings, waitSeconds, io, i === targets.length - 1);
    onRun(run);
    runs.push(run);
  }
  return runs;
}

/** `--json`: one line a relay, for scripts. */
export function jsonLine(run: RelayRun): string {
  const counts = relayCounts(run);
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  return JSON.stringify({ url: run.url, exitCode: run.exitCode, counts, total, runDir: run.runDir ?? null, ...(run.error !== undefined ? { error: run.error } : {}) });
}
