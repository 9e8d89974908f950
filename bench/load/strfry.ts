/**
 * strfry (C++, LMDB) for the side-by-side figures of bench/strfry.ts, when a
 * binary is at hand: `--strfry PATH`, or `strfry` on PATH. Started with a
 * config of our own (its database in the round's folder, loopback, a free
 * port, nofiles 0 so it does not raise its file limit), otherwise its defaults.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, mkdirSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { delimiter, join } from 'node:path';

const START_TIMEOUT_MS = 15_000;

/** The strfry binary `--strfry PATH` names, else the first `strfry` on PATH, else undefined. */
export function strfryBinary(argv: readonly string[] = process.argv): string | undefined {
  const i = argv.indexOf('--strfry');
  if (i >= 0) return argv[i + 1];
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, 'strfry');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this folder
    }
  }
  return undefined;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

const accepts = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });

/** Starts `binary relay` on a fresh database in `dir`; resolves once it accepts connections. */
export async function startStrfry(binary: string, dir: string): Promise<{ url: string; close(): Promise<void> }> {
  const port = await freePort();
  const db = join(dir, 'strfry-db');
  mkdirSync(db, { recursive: true });
  const config = join(dir, 'strfry.conf');
  writeFileSync(config, `db = "${db}/"\n\nrelay {\n    bind = "127.0.0.1"\n    port = ${port}\n    nofiles = 0\n}\n`);
  const child = spawn(binary, [`--config=${config}`, 'relay'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const started = Date.now();
  while (!(await accepts(port))) {
    if (child.exitCode !== null) throw new Error(`strfry exited (${child.exitCode}): ${stderr.trim()}`);
    if (Date.now() - started > START_TIMEOUT_MS) {
      child.kill('SIGKILL');
      throw new Error(`strfry did not accept connections on port ${port} within ${START_TIMEOUT_MS} ms: ${stderr.trim()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    url: `ws://127.0.0.1:${port}`,
    async close() {
      if (child.exitCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}
