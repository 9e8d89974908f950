/**
 * Load run folders beside the conformance runs: reports/runs/<relay>-<UTC time>/
 * with load-<scenario>.json, .junit.xml and .md. (The `latest` pointer stays
 * with conformance runs.)
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { relaySlug } from '../../reports/write.js';
import { compactUtc } from '../../reports/text.js';
import { summaryFileNames, toJUnit, toJson, toMarkdown, type LoadSummary } from '../core/summary.js';

/** Creates `<baseDir>/runs/<relay>-<time>[-n]/` and returns it. */
export function createLoadRunDir(baseDir: string, relayUrl: string, started: Date): string {
  const runs = join(baseDir, 'runs');
  mkdirSync(runs, { recursive: true });
  const name = `${relaySlug(relayUrl)}-${compactUtc(started)}`;
  for (let i = 1; ; i++) {
    const dir = join(runs, i === 1 ? name : `${name}-${i}`);
    try {
      mkdirSync(dir);
      return dir;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
}

/** Writes the summary's JSON, JUnit and Markdown into `dir`; returns the paths. */
export function writeLoadSummary(dir: string, summary: LoadSummary): string[] {
  const names = summaryFileNames(summary.scenario);
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
