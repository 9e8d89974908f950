/**
 * Where a worker thread's script is: the compiled file beside the module that
 * starts it (dist/), or, run from TypeScript source (the tests), the built one
 * in the package's dist/.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { packageRoot } from '../package-info.js';

/** `file` beside `moduleUrl` if compiled there, else dist/`distDir`/`file`; `what` names it in the error. */
export function workerScript(moduleUrl: string, distDir: string, file: string, what: string): string {
  const beside = fileURLToPath(new URL(`./${file}`, moduleUrl));
  if (existsSync(beside)) return beside;
  const built = join(packageRoot(), 'dist', distDir, file);
  if (existsSync(built)) return built;
  throw new Error(`${what} needs the compiled ${built}; build the package (npm run build)`);
}
