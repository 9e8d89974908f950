/** Runs conformance tests against one relay and turns each into a TestRecord with an outcome. */
import { closeText, ConnectionClosedError, NoChallengeError, RelayClient, RelayUnreachableError, TimeoutError } from '../client/relay-client.js';
import { Informational, RuleBroken, TestContext, Untested, type Decisive, type RunOptions } from './context.js';
import type { Level, Outcome, RecordedWireEntry, TestRecord } from '../report/schema.js';
import type { ConformanceTest } from './types.js';
import { recordBase } from './requirements.js';

export interface Selection {
  /** Id globs; when given, only matching tests run. */
  only: readonly string[];
  /** Id globs of tests to skip. */
  exclude: readonly string[];
}

/** `*` matches any run of characters (slashes included), `?` one character. */
export function globMatch(glob: string, id: string): boolean {
  const re = new RegExp(`^${glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
  return re.test(id);
}

/** What a selection glob is matched against: a test's id, or its bare anchor (`--only kp-handout-last-resort`). */
export interface Selectable {
  id: string;
  anchor: string;
}

export function selectorMatches(glob: string, test: Selectable): boolean {
  return globMatch(glob, test.id) || globMatch(glob, test.anchor);
}

export function isSelected(test: Selectable, sel: Selection): boolean {
  if (sel.only.length > 0 && !sel.only.some((g) => selectorMatches(g, test))) return false;
  return !sel.exclude.some((g) => selectorMatches(g, test));
}

/** What breaking the rule means at each level. */
const BROKEN: Record<Level, Outcome> = { MUST: 'fail', SHOULD: 'non-strict', MAY: 'info' };

/** No test may hang a run: past this, the test is an error. */
const TEST_DEADLINE_MS = 60_000;

/** The relay stopped accepting connections after it had accepted them. */
export interface RelayLost {
  /** The test that found out. */
  during: string;
  /** Tests running at that moment: one of them may have brought the relay down. */
  alsoRunning: string[];
  message: string;
}

/** What the tests of one run learn about the relay as a whole. */
export class RunState {
  readonly running = new Set<string>();
  lost: RelayLost | undefined;
}

/** The run's deadline (--deadline) passed while the test ran or before it started. */
class RunDeadlinePassed extends Error {
  constructor(seconds: number) {
    super(`the run's deadline of ${seconds} s passed`);
  }
}

/** Sets run.lost when the relay no longer accepts connections. */
async function probeRelay(testId: string, options: RunOptions, run: RunState): Promise<void> {
  try {
    await (await RelayClient.connect(options.url, { timeoutMs: options.timeoutMs })).close();
  } catch (err) {
    if (err instanceof RelayUnreachableError) run.lost ??= { during: testId, alsoRunning: [...run.running], message: err.message };
  }
}

function lostText(lost: RelayLost): string {
  return `the relay stopped accepting connections during ${lost.during}`;
}

export async function runTest(test: ConformanceTest, options: RunOptions, run: RunState = new RunState()): Promise<TestRecord> {
  const t = new TestContext(options);
  const base = recordBase(test);
  const started = Date.now();
  let outcome: Outcome = 'pass';
  let message: string | undefined;
  let expected: string | undefined;
  let observed: string | undefined;
  let decisive: Decisive | undefined;
  run.running.add(test.id);
  try {
    // Nothing to learn from a relay that is gone or a run that is over: say so instead of timing out test by test.
    if (run.lost) throw new Error(`not run: ${lostText(run.lost)}`);
    const runLeftMs = options.deadline ? options.deadline.at - Date.now() : Infinity;
    if (options.deadline && runLeftMs <= 0) throw new RunDeadlinePassed(options.deadline.seconds);
    if (test.needsLimits && !options.limits) t.untested('the relay advertises no keypackages limits in NIP-11 and none were given as flags');
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      if (options.deadline && runLeftMs < TEST_DEADLINE_MS) {
        const seconds = options.deadline.seconds;
        timer = setTimeout(() => reject(new RunDeadlinePassed(seconds)), runLeftMs);
      } else timer = setTimeout(() => reject(new TimeoutError('the whole test', TEST_DEADLINE_MS)), TEST_DEADLINE_MS);
    });
    try {
      await Promise.race([test.run(t), deadline]);
    } finally {
      clearTimeout(timer);
    }
  } catch (err) {
    if (err instanceof RuleBroken) {
      outcome = BROKEN[test.level];
      ({ message, expected, observed, decisive } = err);
    } else if (err instanceof Untested) {
      outcome = 'untested';
      message = err.message;
    } else if (err instanceof NoChallengeError) {
      outcome = 'untested';
      message = `${err.message} (see kp-auth-challenge), so this test cannot authenticate`;
    } else if (err instanceof ConnectionClosedError) {
      // Not silence: the relay hung up on a client that was waiting.
      outcome = 'error';
      message = err.message;
      observed = `the relay closed the connection (${closeText(err.code, err.reason)})`;
    } else if (err instanceof RelayUnreachableError) {
      outcome = 'error';
      run.lost ??= { during: test.id, alsoRunning: [...run.running].filter((id) => id !== test.id), message: err.message };
      message = `${err.message}: ${lostText(run.lost)}`;
    } else if (err instanceof Informational) {
      outcome = 'info';
      message = err.message;
    } else {
      // Timeouts, refused connections, refused setup steps: the suite could not run the test.
      outcome = 'error';
      message = err instanceof Error ? err.message : String(err);
    }
  } finally {
    await t.closeAll();
    run.running.delete(test.id);
  }
  // A connection dropped and the test did not pass: before judging, see whether the relay is still there.
  if (!run.lost && t.sawDrop && outcome !== 'pass') await probeRelay(test.id, options, run);
  if (run.lost && outcome !== 'pass' && outcome !== 'error') {
    // Whatever this test saw may be the relay going down, not the rule it checks.
    message = `${lostText(run.lost)}, so this ${outcome} cannot be trusted: ${message ?? ''}`;
    outcome = 'error';
  }
  return {
    ...base,
    outcome,
    durationMs: Date.now() - started,
    ...(message !== undefined ? { message } : {}),
    ...(expected !== undefined ? { expected } : {}),
    ...(observed !== undefined ? { observed } : {}),
    ...(t.waitedMs > 0 ? { waitedMs: t.waitedMs } : {}),
    wire: outcome === 'fail' || outcome === 'non-strict' ? markDecisive(t.log, decisive) : t.log,
  };
}

/** The log with the frame the verdict rests on marked (a copy of that one entry; the rest as logged). */
function markDecisive(log: readonly RecordedWireEntry[], decisive: Decisive | undefined): RecordedWireEntry[] {
  return log.map((entry) =>
    entry === decisive?.entry ? { ...entry, decisive: true, ...(decisive.quietMs !== undefined ? { quietAfterMs: decisive.quietMs } : {}) } : entry,
  );
}

export interface SuiteRun {
  records: TestRecord[];
  /** Set when the relay stopped accepting connections during the run. */
  relayLost?: RelayLost;
}

/**
 * Runs the selected tests, `concurrency` at a time (each uses fresh keys, so
 * they do not disturb each other), reporting each as it finishes.
 */
export async function runSuite(
  tests: readonly ConformanceTest[],
  options: RunOptions,
  selection: Selection,
  concurrency: number,
  onRecord: (r: TestRecord) => void = () => undefined,
): Promise<SuiteRun> {
  const records: TestRecord[] = new Array(tests.length);
  const run = new RunState();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < tests.length) {
      const i = next++;
      const test = tests[i]!;
      const record = isSelected(test, selection)
        ? await runTest(test, options, run)
        : { ...recordBase(test), outcome: 'skipped' as const, durationMs: 0, wire: [] };
      records[i] = record;
      onRecord(record);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker));
  return { records, ...(run.lost ? { relayLost: run.lost } : {}) };
}
