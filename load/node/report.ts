/**
 * Load run folders beside the conformance runs: kpsuite-runs/<relay>-<UTC time>/
 * with load-<scenario>.json, .junit.xml and .md. (The `latest` pointer stays
 * with conformance runs.)
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { summaryFileNames, toJUnit, toJson, toMarkdown, type LoadSummary } from '../core/summary.js';

/** Writes the summary's JSON, JUnit and Markdown into `dir`; returns the paths. */
export function writeLoadSummary(dir: string, summary: LoadSummary): string[] {
  const names = summaryFileNames(summary.scenario, summary.instance);
  const outputs: [string, string][] = [
    [names.json, toJson(summary)],
    [names.junit, toJUnit(summary)],
    [names.markdown, toMarkdown(summary)],
  ];
  return outputs.map(([name, content]) => {
    const path = join(dir, name);
    writeFileSync(path, content);
    return path;
  });
}
