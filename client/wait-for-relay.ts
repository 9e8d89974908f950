/**
 * `--wait SECONDS`: a relay started just before the suite (`docker compose up -d`
 * returns before it listens) gets that long to accept a WebSocket connection.
 * Each attempt is one handshake, closed at once; failures are retried every
 * `intervalMs` until the deadline, and the result says how long it waited.
 */
import WebSocket from 'ws';

export interface RelayWait {
  ready: boolean;
  waitedMs: number;
  attempts: number;
  /** The last attempt's error when the relay never accepted. */
  lastError?: string;
}

function tryOnce(url: string, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { handshakeTimeout: timeoutMs });
    const done = (error: string | undefined): void => {
      ws.removeAllListeners();
      ws.on('error', () => undefined);
      ws.terminate();
      resolve(error);
    };
    ws.once('open', () => done(undefined));
    ws.once('error', (err) => done(err.message));
    ws.once('unexpected-response', (_req, res) => done(`HTTP ${res.statusCode} instead of a WebSocket upgrade`));
  });
}

export async function waitForRelay(url: string, seconds: number, intervalMs = 250): Promise<RelayWait> {
  const started = Date.now();
  const deadline = started + seconds * 1000;
  let attempts = 0;
  for (;;) {
    attempts += 1;
    const left = Math.max(1, deadline - Date.now());
    const error = await tryOnce(url, Math.min(5000, left));
    if (error === undefined) return { ready: true, waitedMs: Date.now() - started, attempts };
    if (Date.now() + intervalMs >= deadline) return { ready: false, waitedMs: Date.now() - started, attempts, lastError: error };
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
