/**
 * A relay that takes writes only from authenticated authors, for the tests:
 * a WebSocket proxy in front of a reference relay that answers an EVENT whose
 * author has not authenticated on that connection with
 * `["OK", <id>, false, "auth-required: ..."]` and passes everything else
 * through. The relay behind it does NIP-42 itself (its challenge on connect,
 * its OK for an AUTH); the proxy learns who authenticated from that OK. The
 * relay must be started with the proxy's URL as its public URL, since AUTH
 * events name the URL the client connected to.
 */
import type { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import type { NostrEvent } from '../../protocol/messages.js';

export interface AuthProxy {
  url: string;
  /** Where connections go: set before the first client connects. */
  upstream: string | undefined;
  /** EVENTs answered auth-required: by the proxy. */
  refused: number;
  /** AUTHs the relay behind accepted. */
  authenticated: number;
  close(): Promise<void>;
}

function parse(text: string): unknown[] | undefined {
  try {
    const m: unknown = JSON.parse(text);
    return Array.isArray(m) ? m : undefined;
  } catch {
    return undefined;
  }
}

export async function startAuthProxy(): Promise<AuthProxy> {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const proxy: AuthProxy = {
    url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}`,
    upstream: undefined,
    refused: 0,
    authenticated: 0,
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of server.clients) c.terminate();
        server.close(() => resolve());
      }),
  };
  server.on('connection', (client) => {
    const up = new WebSocket(proxy.upstream!);
    // Frames from the client before the relay's side opened, in order.
    const pending: string[] = [];
    const authed = new Set<string>();
    const authorOfAuth = new Map<string, string>();
    up.on('open', () => pending.splice(0).forEach((t) => up.send(t)));
    up.on('message', (data) => {
      const text = data.toString();
      const m = parse(text);
      if (m?.[0] === 'OK' && m[2] === true && typeof m[1] === 'string' && authorOfAuth.has(m[1])) {
        authed.add(authorOfAuth.get(m[1])!);
        proxy.authenticated += 1;
      }
      client.send(text);
    });
    client.on('message', (data) => {
      const text = data.toString();
      const m = parse(text);
      const event = m?.[1] as NostrEvent | undefined;
      if (m?.[0] === 'AUTH' && event) authorOfAuth.set(event.id, event.pubkey);
      if (m?.[0] === 'EVENT' && event && !authed.has(event.pubkey)) {
        proxy.refused += 1;
        client.send(JSON.stringify(['OK', event.id, false, 'auth-required: this relay takes events only from their authenticated author']));
        return;
      }
      if (up.readyState === WebSocket.OPEN) up.send(text);
      else pending.push(text);
    });
    client.on('close', () => up.close());
    up.on('close', () => client.close());
    up.on('error', () => client.terminate());
    client.on('error', () => up.terminate());
  });
  return proxy;
}
