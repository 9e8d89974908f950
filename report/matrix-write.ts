/**
 * Writes a matrix into `<baseDir>/matrix-<UTC time>/` beside the run folders
 * it links to, and points `<baseDir>/latest-matrix` at it, as `latest` points
 * at the newest run.
 */
import { existsSync, lstatSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { buildMatrix, type Matrix, type RelayRun } from './matrix.js';
import { toMatrixHtml, toMatrixMarkdown } from './matrix-render.js';
import { createRunDir } from './write.js';

export const LATEST_MATRIX = 'latest-matrix';

export interface WrittenMatrix {
  matrix: Matrix;
  dir: string;
  /** matrix.html, matrix.md, matrix.json, in that order. */
  files: string[];
  /** `<baseDir>/latest-matrix`, or `<baseDir>/latest-matrix.txt` where symlinks fail. */
  latest: string;
}

/**
 * A new symlink renamed over the old one, so readers never see it missing;
 * where that fails (no symlinks, or a real folder of that name we must not
 * clobber) a `.txt` file holds the path instead. write.ts does the same for `latest`.
 */
function pointLatestMatrix(baseDir: string, dir: string): string {
  const link = join(baseDir, LATEST_MATRIX);
  const note = `${link}.txt`;
  const target = relative(baseDir, dir).split(sep).join('/');
  const temp = join(baseDir, `.${LATEST_MATRIX}-${process.pid}-${Date.now()}`);
  try {
    if (existsSync(link) && !lstatSync(link).isSymbolicLink()) throw new Error(`${link} is not a symlink`);
    symlinkSync(target, temp, 'dir');
    renameSync(temp, link);
    rmSync(note, { force: true });
    return link;
  } catch {
    rmSync(temp, { force: true });
    writeFileSync(note, `${target}\n`);
    return note;
  }
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
  return { matrix, dir, files, latest: pointLatestMatrix(baseDir, dir) };
}
