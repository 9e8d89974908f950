/**
 * A relay in its own process for bench/load.ts, so the relay and the load
 * driver do not share a thread: `node relay-process.js reference|reference-no-mls|reference-single-commit|reference-checkpoint-in-commits|reference-main-thread|nostr-relay|strfry <dir> [root]`
 * (`root`: the clone whose node_modules holds @nostr-relay/*, for nostr-relay; for strfry, its binary)
 * (`reference-no-mls`: the reference relay with its MLS checks, kp-pub-mls, off;
 * `reference-single-commit`: with group commit off, one commit and fsync per transaction;
 * `reference-checkpoint-in-commits`: no checkpoint thread, SQLite's own checkpoints inside commits;
 * `reference-main-thread`: signature and MLS checks on the main thread, no verification threads).
 * Prints {"url": …} on its first stdout line, then answers commands on
 * stdin, one a line, with `ok`: `start-profile`, `stop-profile <file>`
 * (V8's CPU profiler through the inspector, for one timed phase), `stop`.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { defaultVerifyThreads } from '../../reference-relay/config.js';
import { startRelay } from '../../reference-relay/server.js';
import { startNostrRelay } from './nostr-relay.js';
import { startStrfry } from './strfry.js';

const [kind, dir, root] = process.argv.slice(2);

async function start(): Promise<{ url: string; close(): Promise<void> }> {
  if (dir === undefined) throw new Error('usage: relay-process.js reference|reference-no-mls|reference-single-commit|reference-checkpoint-in-commits|reference-main-thread|nostr-relay|strfry <dir> [root|strfry binary]');
  // Limits high enough never to refuse: saturation measures the hand-out path with its rate-limit bookkeeping.
  const limits = { queries_per_window: 1e9, served_per_window: 1e9 };
  // As `kpsuite relay` runs by default: verification threads beside the main thread, group commit, the checkpoint thread, MLS checks.
  const relay = { port: 0, db: join(dir, 'reference.sqlite'), limits, verifyThreads: defaultVerifyThreads(), checkpointThread: true };
  if (kind === 'reference') return startRelay(relay);
  if (kind === 'reference-single-commit') return startRelay({ ...relay, groupCommit: false });
  if (kind === 'reference-checkpoint-in-commits') return startRelay({ ...relay, checkpointThread: false });
  if (kind === 'reference-main-thread') return startRelay({ ...relay, verifyThreads: 0 });
  if (kind === 'reference-no-mls') return startRelay({ ...relay, mlsChecks: false });
  if (kind === 'nostr-relay' && root) return startNostrRelay(root, join(dir, 'nostr-relay.sqlite'));
  if (kind === 'strfry' && root) return startStrfry(root, dir);
  throw new Error(`unknown relay kind ${kind ?? ''}`);
}

async function main(): Promise<void> {
  const relay = await start();
  const session = new Session();
  session.connect();
  process.stdout.write(`${JSON.stringify({ url: relay.url })}\n`);
  for await (const line of createInterface({ input: process.stdin })) {
    const [cmd, ...rest] = line.trim().split(' ');
    if (cmd === 'start-profile') {
      await session.post('Profiler.enable');
      await session.post('Profiler.setSamplingInterval', { interval: 200 });
      await session.post('Profiler.start');
    } else if (cmd === 'stop-profile') {
      const { profile } = await session.post('Profiler.stop');
      writeFileSync(rest.join(' '), JSON.stringify(profile));
    } else if (cmd === 'stop') break;
    process.stdout.write('ok\n');
  }
  session.disconnect();
  await relay.close();
  process.exit(0);
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exit(1);
});
