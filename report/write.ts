/**
 * Writes one run's reports into `<baseDir>/<relay>-<UTC time>/` and points
 * `<baseDir>/latest` at it, so the newest report has a fixed address.
 */
import { existsSync, lstatSync, mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { toHtml } from './html.js';
import { toJUnit } from './junit.js';
import { toMarkdown } from './markdown.js';
import type { ConformanceReport } from './schema.js';
import { compactUtc, profileLink, type LinkOptions } from './text.js';

export { readReport, ReportReadError, validateReport } from './read.js';

/** Where runs go unless `--out` says otherwise: relative to the working directory, never inside the package. */
export const DEFAULT_RUNS_DIR = 'kpsuite-runs';

const DEFAULT_PORT: Record<string, string> = { 'ws:': '80', 'wss:': '443', 'http:': '80', 'https:': '443' };

/** `127.0.0.1-7777` from `ws://127.0.0.1:7777` (the URL may carry a note after a space). */
export function relaySlug(url: string): string {
  const first = url.trim().split(/\s+/)[0] ?? '';
  let raw = first;
  try {
    const u = new URL(first);
    const host = u.hostname.replace(/^\[|\]$/g, '');
    const port = u.port || DEFAULT_PORT[u.protocol];
    raw = port ? `${host}-${port}` : host;
  } catch {
    // Not a URL: the sanitized text still tells runs apart.
  }
  const safe = raw.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^\.+/, '').slice(0, 100);
  return safe === '' ? 'relay' : safe;
}

/**
 * Creates `<baseDir>/<slug>[-<kind>]-<UTC time>/`, the one naming every
 * suite's runs share (check, props, load); a second run in the same second
 * gets `-2`, `-3`, …
 */
export function createRunDir(baseDir: string, slug: string, started: Date, kind?: string): string {
  const name = `${slug}${kind ? `-${kind}` : ''}-${compactUtc(Number.isNaN(started.getTime()) ? new Date() : started)}`;
  mkdirSync(baseDir, { recursive: true });
  for (let i = 1; ; i += 1) {
    const dir = join(baseDir, i === 1 ? name : `${name}-${i}`);
    try {
      mkdirSync(dir);
      return dir;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
}

/**
 * `<baseDir>/<name>` -> the newest folder: a new symlink renamed over the old
 * one, so readers never see it missing. Where symlinks fail (or `<name>` is a
 * real folder we must not clobber), `<baseDir>/<name>.txt` holds the path instead.
 */
export function pointLatest(baseDir: string, runDir: string, name = 'latest'): string {
  const link = join(baseDir, name);
  const note = `${link}.txt`;
  const target = relative(baseDir, runDir).split(sep).join('/');
  const temp = join(baseDir, `.${name}-${process.pid}-${Date.now()}`);
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

export interface WrittenRun {
  /** The run folder. */
  dir: string;
  /** report.json, junit.xml, report.md, index.html, in that order. */
  files: string[];
  /** `<baseDir>/latest` or, without symlinks, `<baseDir>/latest.txt`. */
  latest: string;
}

export function writeRunReports(report: ConformanceReport, baseDir = DEFAULT_RUNS_DIR, links: LinkOptions = {}): WrittenRun {
  const dir = createRunDir(baseDir, relaySlug(report.relay.url), new Date(report.run.startedAt));
  const profileUrl = links.profileUrl ?? profileLink(dir);
  const options: LinkOptions = profileUrl === undefined ? {} : { profileUrl };
  const outputs: [string, string][] = [
    ['report.json', `${JSON.stringify(report, null, 2)}\n`],
    ['junit.xml', toJUnit(report)],
    ['report.md', toMarkdown(report, options)],
    ['index.html', toHtml(report, options)],
  ];
  const files = outputs.map(([name, content]) => {
    const path = join(dir, name);
    writeFileSync(path, content);
    return path;
  });
  return { dir, files, latest: pointLatest(baseDir, dir) };
}
