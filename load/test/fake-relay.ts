/**
 * A relay the load suite cannot use: it accepts connections and answers
 * EVENT with OK true and REQ with EOSE, but never sends an AUTH challenge
 * (so NIP-42 AUTH never succeeds) and serves no NIP-11 document (so no
 * limits are advertised). Loopback only.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';

export interface FakeRelay {
  url: string;
  close(): Promise<void>;
}

export async function startAuthlessRelay(): Promise<FakeRelay> {
  const server: Server = createServer((_req, res) => {
    res.writeHead(404).end();
  });
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws) => {
    ws.on('message', (raw) => {
      let msg: unknown;
      try {
        msg = JSON.parse(raw.toString());
      } catch {
        return;
      }
      if (!Array.isArray(msg)) return;
      const event = msg[1] as { id?: unknown } | undefined;
      if (msg[0] === 'EVENT' && typeof event?.id === 'string') ws.send(JSON.stringify(['OK', event.id, true, '']));
      if (msg[0] === 'REQ' && typeof msg[1] === 'string') ws.send(JSON.stringify(['EOSE', msg[1]]));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `ws://127.0.0.1:${port}`,
    close: async () => {
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
