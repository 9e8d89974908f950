/** The `--wait SECONDS` every command that takes `--url` shares: wait for the relay, or exit 2 saying how long we waited. */
import { waitForRelay } from '../client/wait-for-relay.js';

export async function waitForUrl(command: string, url: string | undefined, seconds: number): Promise<void> {
  if (url === undefined || seconds <= 0) return;
  const r = await waitForRelay(url, seconds);
  const waited = `${(r.waitedMs / 1000).toFixed(1)} s, ${r.attempts} attempt${r.attempts === 1 ? '' : 's'}`;
  if (r.ready) {
    if (r.attempts > 1) process.stdout.write(`kpsuite ${command}: ${url} accepts connections (waited ${waited})\n`);
    return;
  }
  process.stderr.write(`kpsuite ${command}: ${url} did not accept a WebSocket connection within --wait ${seconds} (waited ${waited}; last error: ${r.lastError})\n`);
  process.exit(2);
}
