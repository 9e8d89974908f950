/** `kpsuite relay`: the reference relay on a port, until SIGINT or SIGTERM. */
import { Command, InvalidArgumentError } from 'commander';
import { DEFAULT_CONFIG, defaultVerifyThreads } from '../reference-relay/config.js';
import { FAULTS, type FaultName } from '../reference-relay/faults.js';
import { GIFT_WRAP_READS, type GiftWrapReads } from '../reference-relay/rules/mr-1059-serve.js';
import { startRelay } from '../reference-relay/server.js';
import { faultName, port, positiveInt } from './options.js';

/** `--auth-grace-ms`: a whole number of milliseconds, 0 to judge at once. */
function graceMs(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError(`--auth-grace-ms must be a whole number of milliseconds (0 judges at once), got "${value}"`);
  return Number(value);
}

/** `--gift-wrap-reads`: who may read kind 1059 gift wraps (mr-1059-serve). */
function giftWrapReads(value: string): GiftWrapReads {
  const reads = GIFT_WRAP_READS.find((r) => r === value);
  if (reads === undefined) throw new InvalidArgumentError(`--gift-wrap-reads must be ${GIFT_WRAP_READS.join(' or ')}, got "${value}"`);
  return reads;
}

/** `--verify-threads`: a whole number, 0 for none. */
function verifyThreads(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) > 64) throw new InvalidArgumentError(`--verify-threads must be a whole number from 0 to 64 (0 checks on the main thread), got "${value}"`);
  return Number(value);
}

export function relayCommand(): Command {
  const d = DEFAULT_CONFIG;
  return new Command('relay')
    .description('run the reference relay (NIP-01/09/11/40/42/70, the KeyPackage profile of PROFILE.md and the Marmot profile of PROFILE-MARMOT.md)')
    .option('--host <host>', 'interface to listen on', d.host)
    .option('--port <n>', 'port to listen on (0 picks a free one)', port, d.port)
    .option('--db <path>', 'SQLite file, or :memory:', d.db)
    .option('--max-per-query <n>', 'KeyPackages per owner per query', positiveInt('--max-per-query'), d.limits.max_per_query)
    .option('--queries-per-window <n>', 'charged queries per requester and owner per window', positiveInt('--queries-per-window'), d.limits.queries_per_window)
    .option('--served-per-window <n>', 'KeyPackages handed out per requester per window', positiveInt('--served-per-window'), d.limits.served_per_window)
    .option('--window-seconds <n>', 'length of the sliding rate-limit window', positiveInt('--window-seconds'), d.limits.window_seconds)
    .option('--max-message-length <bytes>', 'longest accepted frame', positiveInt('--max-message-length'), d.maxMessageLength)
    .option('--max-subscriptions <n>', 'open subscriptions per connection', positiveInt('--max-subscriptions'), d.maxSubscriptions)
    .option('--auth-grace-ms <ms>', 'how long a KeyPackage request or protected event sent before AUTH waits for it (kp-auth-grace); 0 judges at once', graceMs, d.authGraceMs)
    .option(
      '--gift-wrap-reads <who>',
      `who may read kind 1059 gift wraps (mr-1059-serve): ${GIFT_WRAP_READS.map((r) => `"${r}"`).join(' or ')} (recipient: only the authenticated pubkey their p tag names)`,
      giftWrapReads,
      d.giftWrapReads,
    )
    .option('--no-mls-checks', 'accept KeyPackages whose content is not a usable MLS KeyPackage of their pubkey (kp-pub-mls)')
    .option('--verify-threads <n>', 'worker threads for signature and MLS checks; 0 checks on the main thread', verifyThreads, defaultVerifyThreads())
    .option('--no-group-commit', 'commit (and fsync) every transaction on its own instead of the writes of one moment together')
    .option('--no-checkpoint-thread', "copy the WAL into the database file inside the relay thread's commits, as SQLite does by default, instead of on a worker thread")
    .option('--max-send-buffer <bytes>', 'bytes queued for one connection before the relay closes it as not reading', positiveInt('--max-send-buffer'), d.maxSendBufferBytes)
    .option('--public-url <url>', 'the URL clients use (checked in NIP-42 relay tags); default: the Host header')
    .option('--fault <name>', `break one rule on purpose, for testing the suites (repeatable): ${Object.keys(FAULTS).join(', ')}`, faultName, [])
    .option('--verbose', 'log connections and internal errors to stderr', false)
    .action(async (o: RelayCommandOptions) => {
      const faults = new Set(o.fault);
      const relay = await startRelay({
        host: o.host,
        port: o.port,
        db: o.db,
        limits: {
          max_per_query: o.maxPerQuery,
          queries_per_window: o.queriesPerWindow,
          served_per_window: o.servedPerWindow,
          window_seconds: o.windowSeconds,
        },
        maxMessageLength: o.maxMessageLength,
        maxSubscriptions: o.maxSubscriptions,
        publicUrl: o.publicUrl,
        authGraceMs: o.authGraceMs,
        mlsChecks: o.mlsChecks,
        verifyThreads: o.verifyThreads,
        groupCommit: o.groupCommit,
        checkpointThread: o.checkpointThread,
        maxSendBufferBytes: o.maxSendBuffer,
        giftWrapReads: o.giftWrapReads,
        faults,
        verbose: o.verbose,
      });
      const broken = faults.size > 0 ? ` with faults ${[...faults].join(', ')} (NOT a conforming relay)` : '';
      process.stdout.write(`kpsuite relay listening on ${relay.url} (db ${o.db})${broken}\n`);
      const stop = (): void => {
        void relay.close().then(() => process.exit(0));
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
}

interface RelayCommandOptions {
  host: string;
  port: number;
  db: string;
  maxPerQuery: number;
  queriesPerWindow: number;
  servedPerWindow: number;
  windowSeconds: number;
  maxMessageLength: number;
  maxSubscriptions: number;
  publicUrl?: string;
  authGraceMs: number;
  mlsChecks: boolean;
  verifyThreads: number;
  groupCommit: boolean;
  checkpointThread: boolean;
  maxSendBuffer: number;
  giftWrapReads: GiftWrapReads;
  fault: FaultName[];
  verbose: boolean;
}
