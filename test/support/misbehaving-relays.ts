/**
 * Small servers on 127.0.0.1 that misbehave the ways real relays do (REFERENCE.md §7),
 * for showing that `kpsuite check` ends and says what happened.
 */
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';

export interface MisbehavingRelay {
  url: string;
  /** Terminates every connection and stops listening. */
  close(): Promise<void>;
}

async function wsServer(onConnection: (ws: WebSocket) => void): Promise<MisbehavingRelay> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  wss.on('connection', onConnection);
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
    },
  };
}

/** Accepts WebSocket connections and never sends a frame. */
export function silentRelay(): Promise<MisbehavingRelay> {
  return wsServer(() => undefined);
}

/** Sends every frame straight back. */
export function echoRelay(): Promise<MisbehavingRelay> {
  return wsServer((ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
}

/** Closes every connection right after it opens. */
export function closingRelay(code = 1008, reason = 'go away'): Promise<MisbehavingRelay> {
  return wsServer((ws) => ws.close(code, reason));
}

/** Accepts TCP connections and never answers the WebSocket handshake. */
export async function deafServer(): Promise<MisbehavingRelay> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `ws://127.0.0.1:${port}`,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Closes a connection when its first frame arrives, with this code and reason. */
export function hangUpRelay(code = 1011, reason = 'bye'): Promise<MisbehavingRelay> {
  return wsServer((ws) => ws.once('message', () => ws.close(code, reason)));
}

/**
 * A stand-in relay written for one test: `http` answers plain HTTP (NIP-11 requests),
 * `onMessage` each client message that parses as a JSON array (others are ignored).
 */
export async function standInRelay(opts: {
  http: (req: IncomingMessage, res: ServerResponse) => void;
  onMessage: (ws: WebSocket, message: unknown[]) => void;
}): Promise<MisbehavingRelay> {
  const http = createHttpServer(opts.http);
  const wss = new WebSocketServer({ server: http });
  wss.on('connection', (ws) => {
    ws.on('message', (data) => {
      let message: unknown;
      try {
        message = JSON.parse(data.toString());
      } catch {
        return;
      }
      if (Array.isArray(message)) opts.onMessage(ws, message);
    });
  });
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = http.address() as AddressInfo;
  return {
    url: `ws://127.0.0.1:${port}`,
    close: async () => {
      for (const ws of wss.clients) ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}
