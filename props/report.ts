/**
 * props.json and props.md: one property run, written into its own folder under
 * `<reportsDir>/runs/`, next to the conformance runs. The `latest` pointer is
 * left to conformance reports, whose readers expect report.json there.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RelayInformation } from '../protocol/messages.js';
import type { KeyPackageLimits } from '../protocol/profile.js';
import { anchorHref, profileLink } from '../report/text.js';
import { createRunDir, relaySlug } from '../report/write.js';
import type { PropertyFailure } from './property.js';

export const PROPS_SCHEMA = 'kpsuite-props/1';

export interface PropsReport {
  schema: typeof PROPS_SCHEMA;
  suite: { name: 'kpsuite'; version: string };
  profile: string;
  relay: { url: string | undefined; description: string; nip11: RelayInformation | undefined };
  run: {
    startedAt: string;
    durationMs: number;
    target: 'in-process' | 'embedded' | 'url';
    runs: number;
    seed: number;
    /** Given to replay a failure. */
    path: string | undefined;
    maxCommands: number;
    limits: KeyPackageLimits;
    limitsSource: 'nip11' | 'flags' | 'nip11+flags' | 'suite';
    faults: string[];
  };
  result: {
    /** 0 no invariant violated, 1 one was, 2 the relay could not be used. */
    exitCode: 0 | 1 | 2;
    numRuns: number;
    failure: (PropertyFailure & { invariant: string; replay: string; /** Listed as a known failure (--expect-fail). */ expected: boolean }) | undefined;
    error: string | undefined;
  };
  /** The invariants checked after every command and at the end, by anchor. */
  invariants: Record<string, string>;
  /** What the sequences exercised, summed over every run. */
  stats: Record<string, number>;
}

export function toMarkdown(report: PropsReport, profileUrl: string | undefined): string {
  const { run, result } = report;
  const link = (anchor: string): string => `[\`${anchor}\`](${anchorHref(anchor, profileUrl === undefined ? {} : { profileUrl })})`;
  const lines = [
    `# kpsuite props: ${report.relay.description}`,
    '',
    `- Profile: ${report.profile}; suite ${report.suite.version}`,
    `- Started: ${run.startedAt}, ${(run.durationMs / 1000).toFixed(1)} s`,
    `- Sequences run: ${result.numRuns}${result.failure ? ' (until the first failure)' : ''} of ${run.runs}, up to ${run.maxCommands} commands each; seed ${run.seed}`,
    `- Limits (${run.limitsSource}): max_per_query ${run.limits.max_per_query}, queries_per_window ${run.limits.queries_per_window}, served_per_window ${run.limits.served_per_window}, window_seconds ${run.limits.window_seconds}`,
    ...(run.faults.length > 0 ? [`- Faults switched on: ${run.faults.join(', ')}`] : []),
    '',
  ];
  if (result.failure) {
    const f = result.failure;
    lines.push(
      `## FAIL ${link(f.anchor)}`,
      '',
      `> ${f.invariant}`,
      '',
      f.detail,
      '',
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
  } else if (result.error) {
    lines.push('## ERROR: the relay could not be used', '', result.error, '');
  } else {
    lines.push('## PASS: no invariant was violated', '');
  }
  lines.push('## Invariants', '', ...Object.entries(report.invariants).map(([a, text]) => `- ${link(a)}: ${text}`), '');
  lines.push('## Exercised (every sequence run, shrinking included)', '', '| what | count |', '| --- | ---: |', ...Object.entries(report.stats).map(([k, v]) => `| ${k} | ${v} |`), '');
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
