/* global process */
// Prints one GitHub error annotation per failing requirement of the runs under the given reports folder.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const reports = process.argv[2] ?? '.';
const lines = [];
const checkReport = join(reports, 'check', 'latest', 'report.json');
if (existsSync(checkReport)) {
  const report = JSON.parse(readFileSync(checkReport, 'utf8'));
  if (report.summary?.exitCode === 2) {
    lines.push(`profile ${report.profile} not checked: the relay advertises no NIP-11 keypackages limits and none were given (inputs max-per-query … window-seconds), so its MUSTs went untested`);
  }
  for (const t of report.tests ?? []) {
    // Untested MUSTs stop the run when the report says so (summary.untestedMust.gating; README, "The gate").
    const untestedGates = report.summary?.untestedMust?.gating === true && t.outcome === 'untested' && t.level === 'MUST';
    const failing = t.outcome === 'fail' || t.outcome === 'error' || untestedGates || (report.run?.strict && t.outcome === 'non-strict');
    if (failing && !t.expectedFailure) lines.push(`${t.outcome.toUpperCase()} ${t.id} [${t.level}]: ${t.message ?? t.requirement}`);
  }
}
const propsDir = join(reports, 'props');
if (existsSync(propsDir)) {
  for (const run of readdirSync(propsDir)) {
    const file = join(propsDir, run, 'props.json');
    if (!existsSync(file)) continue;
    const failure = JSON.parse(readFileSync(file, 'utf8')).result?.failure;
    if (failure && !failure.expected) lines.push(`FAIL props ${failure.anchor}: ${failure.invariant} (${failure.detail})`);
  }
}
for (const line of lines) process.stdout.write(`::error title=kpsuite::${line.replace(/\r?\n/g, ' ')}\n`);
if (lines.length === 0) process.stdout.write('kpsuite: no failing requirement recorded in the reports (see the kpsuite check step log)\n');
