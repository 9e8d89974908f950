/**
 * props.json and props.md: one property run, written into its own folder under
 * `<reportsDir>/runs/`, next to the conformance runs. The `latest` pointer is
 * left to conformance reports, whose readers expect report.json there.
 *
 * Still `kpsuite-props/1`: a run of several profiles only adds fields
 * (`run.profiles`, `profiles`). The top-level `result` is the whole run's
 * (its exit code, the failure that decided it, sequences summed), so readers
 * of the first version (`kpsuite report list`, the GitHub action) keep
 * working; `run.limits` is there only when kp-relay ran.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RelayInformation } from '../protocol/messages.js';
import type { KeyPackageLimits, ProfileName } from '../protocol/profile.js';
import { anchorHref, profileLink } from '../report/text.js';
import { createRunDir, relaySlug } from '../report/write.js';

export const PROPS_SCHEMA = 'kpsuite-props/1';

/** A violated invariant, shrunk: the same shape for every profile. */
export interface ProfileFailure {
  /** A PROFILE.md (`kp-`) or PROFILE-MARMOT.md (`mr-`) anchor. */
  anchor: string;
  /** The invariant of that anchor, in a line. */
  invariant: string;
  detail: string;
  /** The shrunk sequence, as run. */
  commands: string[];
  seed: number;
  path: string;
  /** Runs until the first failure, and shrink steps after it. */
  numRuns: number;
  numShrinks: number;
  /** The shell command that replays it. */
  replay: string;
  /** Listed as a known failure (--expect-fail). */
  expected: boolean;
}

/** Which profiles ran, and why: as asked (`option`), claimed in NIP-11 (`nip11`), all for a relay that claims none (`no-claim`), kp-relay alone in process. */
export interface PropsProfiles {
  checked: ProfileName[];
  by: 'option' | 'nip11' | 'no-claim' | 'in-process';
}

/** One profile's property over the run. */
export interface ProfileRun {
  profile: ProfileName;
  /** `kp-relay/0.2`, `marmot-relay/1`. */
  version: string;
  durationMs: number;
  runs: number;
  seed: number;
  maxCommands: number;
  /** kp-relay: the limits the model judges by, and where they came from. */
  limits?: KeyPackageLimits;
  limitsSource?: 'nip11' | 'flags' | 'nip11+flags' | 'suite';
  /** marmot-relay: a fresh embedded relay per sequence (the run's keys), or the same relay with fresh keys per sequence. */
  isolation?: 'fresh-relay' | 'fresh-keys';
  result: {
    /** 0 no invariant violated, 1 one was, 2 the relay could not be used. */
    exitCode: 0 | 1 | 2;
    numRuns: number;
    failure: ProfileFailure | undefined;
    error: string | undefined;
  };
  /** The invariants checked after every command, by anchor. */
  invariants: Record<string, string>;
  /** What the sequences exercised, summed over every run (shrinking included). */
  stats: Record<string, number>;
}

export interface PropsReport {
  schema: typeof PROPS_SCHEMA;
  suite: { name: 'kpsuite'; version: string };
  /** The versions of the profiles run: `kp-relay/0.2 + marmot-relay/1`. */
  profile: string;
  relay: { url: string | undefined; description: string; nip11: RelayInformation | undefined };
  run: {
    startedAt: string;
    durationMs: number;
    target: 'in-process' | 'embedded' | 'url';
    /** Sequences per profile. */
    runs: number;
    /** The run's seed, every profile's. */
    seed: number;
    /** Given to replay a failure. */
    path: string | undefined;
    /** The first profile's (each profile's is in `profiles`). */
    maxCommands: number;
    /** kp-relay's limits: absent when kp-relay did not run. */
    limits?: KeyPackageLimits;
    limitsSource?: 'nip11' | 'flags' | 'nip11+flags' | 'suite';
    faults: string[];
    /** Absent in reports written before marmot-relay ran here. */
    profiles: PropsProfiles;
  };
  /** The whole run. */
  result: {
    /** 0 no invariant violated, 1 one was (an unexpected one), 2 a relay could not be used. */
    exitCode: 0 | 1 | 2;
    /** Sequences run, over every profile. */
    numRuns: number;
    /** The failure that decided the run: the first not listed as expected, else the first. */
    failure: ProfileFailure | undefined;
    error: string | undefined;
  };
  /** The invariants of every profile run, by anchor. */
  invariants: Record<string, string>;
  /** Every profile's stats (their keys do not overlap: marmot-relay's start `marmot`). */
  stats: Record<string, number>;
  /** One entry per profile, in the order they ran; absent in reports written before marmot-relay ran here. */
  profiles: ProfileRun[];
}

function limitsText(l: KeyPackageLimits): string {
  return `max_per_query ${l.max_per_query}, queries_per_window ${l.queries_per_window}, served_per_window ${l.served_per_window}, window_seconds ${l.window_seconds}`;
}

/** How a marmot-relay run kept its sequences apart, in words. */
export const ISOLATION_TEXT: Record<NonNullable<ProfileRun['isolation']>, string> = {
  'fresh-relay': 'a fresh embedded relay per sequence',
  'fresh-keys': 'fresh owner keys per sequence',
};

export function toMarkdown(report: PropsReport, profileUrl: string | undefined): string {
  const { run } = report;
  const link = (anchor: string): string => `[\`${anchor}\`](${anchorHref(anchor, profileUrl === undefined ? {} : { profileUrl })})`;
  const lines = [
    `# kpsuite props: ${report.relay.description}`,
    '',
    `- Profile: ${report.profile}; suite ${report.suite.version}`,
    `- Started: ${run.startedAt}, ${(run.durationMs / 1000).toFixed(1)} s; seed ${run.seed}`,
    ...(run.faults.length > 0 ? [`- Faults switched on: ${run.faults.join(', ')}`] : []),
    `- Result: exit ${report.result.exitCode}`,
    '',
  ];
  for (const p of report.profiles) {
    const { result } = p;
    const verdict = result.failure ? `FAIL ${link(result.failure.anchor)}` : result.error !== undefined ? 'ERROR: the relay could not be used' : 'PASS: no invariant was violated';
    lines.push(
      `## ${p.version}: ${verdict}`,
      '',
      `- Sequences run: ${result.numRuns}${result.failure ? ' (until the first failure)' : ''} of ${p.runs}, up to ${p.maxCommands} commands each, in ${(p.durationMs / 1000).toFixed(1)} s`,
      ...(p.limits ? [`- Limits (${p.limitsSource}): ${limitsText(p.limits)}`] : []),
      ...(p.isolation ? [`- Sequences kept apart by ${ISOLATION_TEXT[p.isolation]}`] : []),
      '',
    );
    if (result.failure) {
      const f = result.failure;
      lines.push(
        `> ${f.invariant}`,
        '',
        f.detail,
        '',
        ...(f.expected ? ['Listed as a known failure (--expect-fail): it does not fail the run.', ''] : []),
        `Shrunk sequence (${f.commands.length} command${f.commands.length === 1 ? '' : 's'}, after ${f.numShrinks} shrink steps):`,
        '',
        ...f.commands.map((c, i) => `${i + 1}. \`${c}\``),
        '',
        'Replay:',
        '',
        '```sh',
        f.replay,
        '```',
        '',
      );
    } else if (result.error !== undefined) {
      lines.push(result.error, '');
    }
    lines.push(`### Invariants (${p.version})`, '', ...Object.entries(p.invariants).map(([a, text]) => `- ${link(a)}: ${text}`), '');
    lines.push(`### Exercised (${p.version}, every sequence run, shrinking included)`, '', '| what | count |', '| --- | ---: |', ...Object.entries(p.stats).map(([k, v]) => `| ${k} | ${v} |`), '');
  }
  return `${lines.join('\n')}`;
}

export function writePropsReport(report: PropsReport, baseDir: string): { dir: string; files: string[] } {
  const slug = report.relay.url === undefined ? 'in-process' : relaySlug(report.relay.url);
  const dir = createRunDir(baseDir, slug, new Date(report.run.startedAt), 'props');
  const files = [join(dir, 'props.json'), join(dir, 'props.md')];
  writeFileSync(files[0]!, `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(files[1]!, toMarkdown(report, profileLink(dir)));
  return { dir, files };
}
