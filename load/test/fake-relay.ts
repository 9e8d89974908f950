/**
 * A relay the load suite cannot use: it accepts connections and answers
 * EVENT with OK true and REQ with EOSE, but never sends an AUTH challenge
 * (so NIP-42 AUTH never succeeds) and serves no NIP-11 document (so no
 * limits are advertised). Loopback only.
 */
import { standInRelay, type MisbehavingRelay } from '../../test/support/misbehaving-relays.js';

export type FakeRelay = MisbehavingRelay;

export function startAuthlessRelay(): Promise<FakeRelay> {
  return standInRelay({
    http: (_req, res) => res.writeHead(404).end(),
    onMessage: (ws, msg) => {
      const event = msg[1] as { id?: unknown } | undefined;
      if (msg[0] === 'EVENT' && typeof event?.id === 'string') ws.send(JSON.stringify(['OK', event.id, true, '']));
      if (msg[0] === 'REQ' && typeof msg[1] === 'string') ws.send(JSON.stringify(['EOSE', msg[1]]));
    },
  });
}
