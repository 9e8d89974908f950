/**
 * A general-purpose relay to compare with: @nostr-relay/core 0.0.40 with its
 * SQLite repository and validator, in a tiny ws server wired as its README
 * shows. bench/load.ts measures it; test/general-purpose-relay.test.ts and
 * report/test/matrix-chromium.test.ts check it. The packages are this
 * project's devDependencies, so it runs from a clone only (dist/bench/ is
 * not packed).
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';

export const NOSTR_RELAY_VERSION = '0.0.40';

type Core = typeof import('@nostr-relay/core');
type Sqlite = typeof import('@nostr-relay/event-repository-sqlite');
type Validation = typeof import('@nostr-relay/validator');

export interface NostrRelayOptions {
  /**
   * Turns on its NIP-42 (it sends a challenge on connect and checks the
   * `relay` tag's host against this); off by default, as in its README.
   */
  hostname?: string;
}

export interface RunningNostrRelay {
  url: string;
  /** Terminates every connection, waits for the messages being handled, then closes the database. */
  close(): Promise<void>;
}

/**
 * Starts the relay on a free loopback port. `root` is the project whose
 * node_modules hold the packages (packageRoot(); bench/load/relay-process.js
 * is given it on its command line); `dbFile` a SQLite file or `:memory:`.
 */
export async function startNostrRelay(root: string, dbFile: string, options: NostrRelayOptions = {}): Promise<RunningNostrRelay> {
  const require = createRequire(join(root, 'package.json'));
  const { NostrRelay } = require('@nostr-relay/core') as Core;
  const { EventRepositorySqlite } = require('@nostr-relay/event-repository-sqlite') as Sqlite;
  const { Validator } = require('@nostr-relay/validator') as Validation;

  const repository = new EventRepositorySqlite(dbFile);
  await repository.init();
  const relay = new NostrRelay(repository, options);
  const validator = new Validator();
  // Messages still being handled: closing waits for them before it closes the database.
  const pending = new Set<Promise<void>>();

  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  wss.on('connection', (ws) => {
    relay.handleConnection(ws);
    ws.on('message', (data) => {
      const handled = (async () => {
        try {
          await relay.handleMessage(ws, await validator.validateIncomingMessage(data));
        } catch (err) {
          if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(['NOTICE', (err as Error).message]));
        }
      })();
      pending.add(handled);
      void handled.finally(() => pending.delete(handled));
    });
    ws.on('close', () => relay.handleDisconnect(ws));
    ws.on('error', () => relay.handleDisconnect(ws));
  });
  await new Promise<void>((resolve, reject) => {
    wss.once('listening', () => resolve());
    wss.once('error', reject);
  });
  const { port } = wss.address() as AddressInfo;

  return {
    url: `ws://127.0.0.1:${port}`,
    close: async () => {
      for (const ws of wss.clients) ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await Promise.all(pending);
      await relay.destroy();
      // Kysely's destroy closes the better-sqlite3 handle.
      await repository.destroy();
    },
  };
}
