/**
 * Writes a matrix into `<baseDir>/matrix-<UTC time>/` beside the run folders
 * it links to, and points `<baseDir>/latest-matrix` at it, as `latest` points
 * at the newest run.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildMatrix, type Matrix, type RelayRun } from './matrix.js';
import { toMatrixHtml, toMatrixMarkdown } from './matrix-render.js';
import { createRunDir, pointLatest } from './write.js';

export const LATEST_MATRIX = 'latest-matrix';

export interface WrittenMatrix {
  matrix: Matrix;
  dir: string;
  /** matrix.html, matrix.md, matrix.json, in that order. */
  files: string[];
  /** `<baseDir>/latest-matrix`, or `<baseDir>/latest-matrix.txt` where symlinks fail. */
  latest: string;
}

export function writeMatrix(runs: readonly RelayRun[], baseDir: string, now: Date = new Date()): WrittenMatrix {
  const dir = createRunDir(baseDir, 'matrix', now);
  const matrix = buildMatrix(runs, dir, now);
  const outputs: [string, string][] = [
    ['matrix.html', toMatrixHtml(matrix)],
    ['matrix.md', toMatrixMarkdown(matrix)],
    ['matrix.json', `${JSON.stringify(matrix, null, 2)}\n`],
  ];
  const files = outputs.map(([name, content]) => {
    const path = join(dir, name);
    writeFileSync(path, content);
    return path;
  });
  return { matrix, dir, files, latest: pointLatest(baseDir, dir, LATEST_MATRIX) };
}
