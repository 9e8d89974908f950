/**
 * Where this package is installed and what it is called, read from its own
 * package.json: the one source of the suite's version (reports, NIP-11, --version).
 * Node-only; nothing bundled for k6 imports it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root: the nearest folder above this file with a package.json (the clone, or node_modules/kp-relay-suite). */
export function packageRoot(from = dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}

const manifest = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { name: string; version: string };

export const SUITE_NAME = 'kpsuite';
export const PACKAGE_NAME: string = manifest.name;
export const VERSION: string = manifest.version;
