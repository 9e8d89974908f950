/**
 * The transport: one HTTP server on one port serving the WebSocket relay,
 * NIP-11 (for Accept: application/nostr+json) and GET /metrics.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { PREFIX, reason } from '../protocol/profile.js';
import { resolveConfig, type RelayConfig, type RelayOptions } from './config.js';
import { RelayCore } from './core/relay-core.js';
import type { Session } from './core/session.js';
import { relayInformation } from './nip11.js';
import { socketTransport } from './socket-transport.js';
import { SqliteStore } from './store/sqlite-store.js';

export interface RunningRelay {
  /** ws://host:port */
  url: string;
  /** http://host:port, for NIP-11 and /metrics */
  httpUrl: string;
  port: number;
  config: RelayConfig;
  core: RelayCore;
  close(): Promise<void>;
}

const CORS = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Allow-Headers': '*',
  'Access-Control-Allow-Methods': 'GET, OPTIONS',
};

const HARD_FRAME_LIMIT = 16 * 1024 * 1024;

function normalHost(host: string): string {
  try {
    return new URL(`ws://${host}`).host.toLowerCase();
  } catch {
    return host.toLowerCase();
  }
}

async function serveHttp(core: RelayCore, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = (req.url ?? '/').split('?')[0];
  if (req.method === 'OPTIONS') {
    res.writeHead(204, CORS).end();
  } else if (req.method === 'GET' && path === '/metrics') {
    const body = await core.metrics.registry.metrics();
    res.writeHead(200, { 'Content-Type': core.metrics.registry.contentType }).end(body);
  } else if (req.method === 'GET' && (req.headers.accept ?? '').includes('application/nostr+json')) {
    res.writeHead(200, { ...CORS, 'Content-Type': 'application/nostr+json' }).end(JSON.stringify(relayInformation(core.config)));
  } else {
    res.writeHead(200, { ...CORS, 'Content-Type': 'text/plain' }).end('kpsuite reference relay: connect with a Nostr client over WebSocket.\n');
  }
}

export async function startRelay(opts: RelayOptions = {}): Promise<RunningRelay> {
  const config = resolveConfig(opts);
  const store = new SqliteStore(config.db, { groupCommit: config.groupCommit, checkpointThread: config.checkpointThread });
  const core = new RelayCore(config, store);
  core.metrics.includeProcessMetrics();
  core.metrics.includeCommits(store.commits, store.checkpointer?.counts, config.groupCommit ? (observe) => store.observeCommits(observe) : undefined);
  const http = createServer((req, res) => {
    serveHttp(core, req, res).catch(() => res.writeHead(500).end());
  });
  // Frames over max_message_length get a readable refusal (kp-robust-bad-input); only
  // past HARD_FRAME_LIMIT does ws close the connection with 1009.
  const wss = new WebSocketServer({ server: http, maxPayload: Math.max(HARD_FRAME_LIMIT, config.maxMessageLength * 4) });
  const publicHost = config.publicUrl ? new URL(config.publicUrl).host.toLowerCase() : undefined;

  wss.on('connection', (ws: WebSocket, req: IncomingMessage) => {
    const conn: { session?: Session } = {};
    const { send, transport } = socketTransport(ws, config.maxSendBufferBytes, (bytes) => {
      core.metrics.slowClientCloses.inc();
      core.log(`a connection was closed with ${bytes} bytes waiting to be sent`);
      // Ends the session at once (the challenge on connect comes before it exists): nothing more is handled or queued for it.
      if (conn.session) core.close(conn.session);
    });
    const session = core.open(publicHost ?? normalHost(req.headers.host ?? ''), send, transport);
    conn.session = session;
    core.log(`session ${session.id} connected from ${req.socket.remoteAddress ?? '?'}`);
    ws.on('message', (data, isBinary) => {
      if (isBinary) session.send(['NOTICE', reason(PREFIX.invalid, 'binary frames are not Nostr messages; send text frames')]);
      else void core.receive(session, data.toString());
    });
    ws.on('close', () => core.close(session));
    ws.on('error', () => core.close(session));
  });

  // ws re-emits the HTTP server's errors; listen's own promise reports them.
  wss.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    http.once('error', (err: NodeJS.ErrnoException) => {
      void core.shutdown();
      store.close();
      reject(err.code === 'EADDRINUSE' ? new Error(`port ${config.port} on ${config.host} is in use; pick another with --port`) : err);
    });
    http.listen(config.port, config.host, () => resolve());
  });
  // mr-445-expiration: expired events are left out of answers at once, and deleted here; cleared on close.
  const sweep = setInterval(() => core.sweep(), config.sweepIntervalMs);
  sweep.unref();

  const { port } = http.address() as AddressInfo;
  const hostForUrl = config.host.includes(':') ? `[${config.host}]` : config.host;
  let closing: Promise<void> | undefined;
  return {
    url: `ws://${hostForUrl}:${port}`,
    httpUrl: `http://${hostForUrl}:${port}`,
    port,
    config,
    core,
    close() {
      closing ??= (async () => {
        clearInterval(sweep);
        for (const client of wss.clients) client.terminate();
        await new Promise<void>((resolve) => wss.close(() => resolve()));
        await new Promise<void>((resolve) => http.close(() => resolve()));
        // Let handlers already running finish before the database goes away.
        await Promise.all([...core.sessions].map((s) => s.enqueue(() => undefined)));
        await core.shutdown();
        store.close();
      })();
      return closing;
    },
  };
}
