/**
 * One client's WebSocket as the relay core sees it: frames out under a cap on
 * what may wait for the client, backpressure for long answers, and writes the
 * core can wait for (kp-447-ok-after-delivery).
 */
import type { WebSocket } from 'ws';
import { PREFIX, reason } from '../protocol/profile.js';
import type { SessionTransport } from './core/session.js';

export interface SocketTransport {
  /** Sends a frame; past the cap the connection is closed instead of holding more. */
  send(text: string): void;
  transport: SessionTransport;
}

/**
 * `maxSendBufferBytes`: past it, the client is closed with 1008 and `onSlowClient` is told; past a
 * quarter of it, a long answer waits (Session.flowing) and the client's frames are not read.
 */
export function socketTransport(ws: WebSocket, maxSendBufferBytes: number, onSlowClient: (bufferedBytes: number) => void): SocketTransport {
  const highWater = Math.floor(maxSendBufferBytes / 4);
  let draining: Promise<void> | undefined;
  // Reading stops while either asks it: a backlog to the client, or too many of its messages queued.
  const holds = new Set<'backlog' | 'queue'>();
  const hold = (why: 'backlog' | 'queue', on: boolean): void => {
    if (on) holds.add(why);
    else holds.delete(why);
    if (holds.size > 0) ws.pause();
    else ws.resume();
  };

  // A client that stops reading must not grow the relay's memory: past the cap it is closed, with the reason.
  const capped = (): void => {
    if (ws.bufferedAmount <= maxSendBufferBytes) return;
    onSlowClient(ws.bufferedAmount);
    ws.close(1008, reason(PREFIX.error, `the client is not reading: over ${maxSendBufferBytes} bytes waited to be sent`));
  };

  return {
    send(text) {
      if (ws.readyState !== ws.OPEN) return;
      ws.send(text);
      capped();
    },
    transport: {
      backpressure() {
        if (ws.bufferedAmount <= highWater || ws.readyState !== ws.OPEN) return undefined;
        if (!draining) {
          // Nothing more is read from a client we are waiting on, so it cannot queue work either.
          hold('backlog', true);
          // A ping is written after everything queued before it: its callback says the backlog is gone.
          draining = new Promise<void>((resolve) =>
            ws.ping(undefined, undefined, () => {
              draining = undefined;
              hold('backlog', false);
              resolve();
            }),
          );
        }
        return draining;
      },
      sendWritten: (text) =>
        new Promise<void>((resolve) => {
          // Resolves on the socket's write callback, error or not: the frame has left or never will.
          if (ws.readyState !== ws.OPEN) return resolve();
          ws.send(text, () => resolve());
          capped();
        }),
      close: (code, why) => ws.close(code, why),
      holdReading: (on) => hold('queue', on),
    },
  };
}
