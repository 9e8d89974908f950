/** Runs conformance tests against one relay and turns each into a TestRecord with an outcome. */
import { NoChallengeError, TimeoutError } from '../client/relay-client.js';
import { Informational, RuleBroken, TestContext, Untested, type RunOptions } from './context.js';
import type { Level, Outcome, TestRecord } from '../report/schema.js';
import type { ConformanceTest } from './types.js';

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

export function isSelected(id: string, sel: Selection): boolean {
  if (sel.only.length > 0 && !sel.only.some((g) => globMatch(g, id))) return false;
  return !sel.exclude.some((g) => globMatch(g, id));
}

/** What breaking the rule means at each level. */
const BROKEN: Record<Level, Outcome> = { MUST: 'fail', SHOULD: 'non-strict', MAY: 'info' };

/** No test may hang a run: past this, the test is an error. */
const TEST_DEADLINE_MS = 60_000;

export async function runTest(test: ConformanceTest, options: RunOptions): Promise<TestRecord> {
  const t = new TestContext(options);
  const base = { id: test.id, anchor: test.anchor, section: test.section, level: test.level, requirement: test.requirement };
  const started = Date.now();
  let outcome: Outcome = 'pass';
  let message: string | undefined;
  let expected: string | undefined;
  let observed: string | undefined;
  try {
    if (test.needsLimits && !options.limits) t.untested('the relay advertises no keypackages limits in NIP-11 and none were given as flags');
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new TimeoutError('the whole test', TEST_DEADLINE_MS)), TEST_DEADLINE_MS);
    });
    try {
      await Promise.race([test.run(t), deadline]);
    } finally {
      clearTimeout(timer);
    }
  } catch (err) {
    if (err instanceof RuleBroken) {
      outcome = BROKEN[test.level];
      ({ message, expected, observed } = err);
    } else if (err instanceof Untested) {
      outcome = 'untested';
      message = err.message;
    } else if (err instanceof NoChallengeError) {
      outcome = 'untested';
      message = 'the relay sends no NIP-42 ["AUTH", <challenge>] on connect (see kp-auth-challenge), so this test cannot authenticate';
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
  }
  return {
    ...base,
    outcome,
    durationMs: Date.now() - started,
    ...(message !== undefined ? { message } : {}),
    ...(expected !== undefined ? { expected } : {}),
    ...(observed !== undefined ? { observed } : {}),
    ...(t.waitedMs > 0 ? { waitedMs: t.waitedMs } : {}),
    wire: t.log,
  };
}

export interface SuiteRun {
  records: TestRecord[];
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
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < tests.length) {
      const i = next++;
      const test = tests[i]!;
      const record = isSelected(test.id, selection)
        ? await runTest(test, options)
        : { id: test.id, anchor: test.anchor, section: test.section, level: test.level, requirement: test.requirement, outcome: 'skipped' as const, durationMs: 0, wire: [] };
      records[i] = record;
      onRecord(record);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker));
  return { records };
}
