/**
 * A relay that answers at once and does nothing else, so a load driver
 * measured against it is the only limit: NIP-42 AUTH is OK true, a REQ for
 * KeyPackages (kind 443, limit above 0) gets two canned EVENTs and EOSE,
 * any other REQ (a 447 inbox, limit 0) EOSE and is remembered, a kind 447
 * gets the two canned EVENTs on each remembered inbox of its connection and
 * then OK true, any other EVENT OK true. No signature checks, no storage:
 * the canned KeyPackages are signed once, at start. Loopback only.
 */
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { newKeys, sign } from '../../protocol/crypto.js';
import { KIND } from '../../protocol/profile.js';

export interface StubRelay {
  url: string;
  close(): Promise<void>;
}

export async function startStubRelay(): Promise<StubRelay> {
  const owner = newKeys();
  const canned = [0, 1].map((k) => JSON.stringify(sign({ kind: KIND.keyPackage, created_at: Math.floor(Date.now() / 1000) - k, tags: [], content: `stub ${k}` }, owner)));
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  const sub = (id: unknown): string => JSON.stringify(id);
  wss.on('connection', (ws: WebSocket) => {
    const inboxes = new Set<string>();
    const send = (text: string): void => ws.send(text);
    send(`["AUTH","stub-${Math.random().toString(36).slice(2)}"]`);
    ws.on('message', (data) => {
      let m: unknown;
      try {
        m = JSON.parse(String(data));
      } catch {
        return;
      }
      if (!Array.isArray(m)) return;
      const [type, a, b] = m as [unknown, unknown, unknown];
      if (type === 'AUTH' || (type === 'EVENT' && (a as { kind?: number })?.kind !== KIND.keyPackageRequest)) {
        send(`["OK",${sub((a as { id?: string })?.id ?? '')},true,""]`);
      } else if (type === 'EVENT') {
        for (const inbox of inboxes) for (const e of canned) send(`["EVENT",${sub(inbox)},${e}]`);
        send(`["OK",${sub((a as { id?: string })?.id ?? '')},true,""]`);
      } else if (type === 'REQ') {
        const filter = (b ?? {}) as { kinds?: number[]; limit?: number };
        if (filter.limit === 0) inboxes.add(String(a));
        else if (filter.kinds?.includes(KIND.keyPackage)) for (const e of canned) send(`["EVENT",${sub(a)},${e}]`);
        send(`["EOSE",${sub(a)}]`);
      } else if (type === 'CLOSE') {
        inboxes.delete(String(a));
      }
    });
  });
  const { port } = wss.address() as AddressInfo;
  return {
    url: `ws://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => resolve());
      }),
  };
}
