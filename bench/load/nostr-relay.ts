/**
 * The comparison relay for bench/load.ts: @nostr-relay/core with its SQLite
 * repository and validator (v0.0.40), in a tiny ws server as its README
 * shows. Installed on demand into a git-ignored folder, never into the
 * project's dependencies (it brings a second better-sqlite3 major).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { WebSocketServer, type WebSocket } from 'ws';

export const NOSTR_RELAY_VERSION = '0.0.40';
export const NOSTR_RELAY_PACKAGES = ['@nostr-relay/core', '@nostr-relay/event-repository-sqlite', '@nostr-relay/validator'].map((p) => `${p}@${NOSTR_RELAY_VERSION}`);

function installedVersion(vendorDir: string): string | undefined {
  const pkg = join(vendorDir, 'node_modules', '@nostr-relay', 'core', 'package.json');
  if (!existsSync(pkg)) return undefined;
  return (JSON.parse(readFileSync(pkg, 'utf8')) as { version?: string }).version;
}

/** Installs the packages into `vendorDir` unless the right version is there; resolves to an error text or undefined. */
export function ensureNostrRelay(vendorDir: string, timeoutMs = 15 * 60_000): Promise<string | undefined> {
  if (installedVersion(vendorDir) === NOSTR_RELAY_VERSION) return Promise.resolve(undefined);
  mkdirSync(vendorDir, { recursive: true });
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const args = ['install', '--prefix', vendorDir, '--no-save', '--no-audit', '--no-fund', '--loglevel=error', ...NOSTR_RELAY_PACKAGES];
  return new Promise((resolve) => {
    execFile(npm, args, { timeout: timeoutMs, maxBuffer: 16 * 2 ** 20 }, (err, _stdout, stderr) => {
      if (err) resolve(`npm ${args.join(' ')} failed: ${(stderr || err.message).trim().split('\n').slice(-3).join(' / ')}`);
      else resolve(installedVersion(vendorDir) === NOSTR_RELAY_VERSION ? undefined : 'npm install finished but @nostr-relay/core is not there');
    });
  });
}

// The shapes used from the CommonJS packages (their types live outside this project).
interface NostrRelayCore {
  handleConnection(client: WebSocket): void;
  handleDisconnect(client: WebSocket): void;
  handleMessage(client: WebSocket, message: unknown): Promise<unknown>;
}
interface Repository {
  init(): Promise<void>;
}
interface ValidatorApi {
  validateIncomingMessage(data: unknown): Promise<unknown>;
}
interface Modules {
  NostrRelay: new (repo: Repository) => NostrRelayCore;
  EventRepositorySqlite: new (file: string) => Repository;
  Validator: new () => ValidatorApi;
}

async function load(vendorDir: string, pkg: string): Promise<Record<string, unknown>> {
  const file = join(vendorDir, 'node_modules', '@nostr-relay', pkg, 'dist', 'index.js');
  const mod = (await import(pathToFileURL(file).href)) as { default?: Record<string, unknown> } & Record<string, unknown>;
  return mod.default ?? mod;
}

/** Starts the wrapped relay on a free loopback port; resolves to its URL and a stop function. */
export async function startNostrRelay(vendorDir: string, dbFile: string): Promise<{ url: string; close(): Promise<void> }> {
  const m = {
    ...(await load(vendorDir, 'core')),
    ...(await load(vendorDir, 'event-repository-sqlite')),
    ...(await load(vendorDir, 'validator')),
  } as unknown as Modules;
  const repository = new m.EventRepositorySqlite(dbFile);
  await repository.init();
  const relay = new m.NostrRelay(repository);
  const validator = new m.Validator();
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  wss.on('connection', (ws) => {
    relay.handleConnection(ws);
    ws.on('message', async (data) => {
      try {
        await relay.handleMessage(ws, await validator.validateIncomingMessage(data));
      } catch (err) {
        ws.send(JSON.stringify(['NOTICE', (err as Error).message]));
      }
    });
    ws.on('close', () => relay.handleDisconnect(ws));
    ws.on('error', () => relay.handleDisconnect(ws));
  });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  const address = wss.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    url: `ws://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => wss.close(() => resolve())),
  };
}
