import { availableParallelism } from 'node:os';
import { DEFAULT_AUTH_GRACE_MS, DEFAULT_KEYPACKAGE_LIMITS, type KeyPackageLimits } from '../protocol/profile.js';
import { systemClock, type Clock } from './clock.js';
import type { FaultName } from './faults.js';
import type { GiftWrapReads } from './rules/mr-1059-serve.js';

export interface RelayConfig {
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** A file path, or ':memory:'. */
  db: string;
  limits: KeyPackageLimits;
  /** Longest accepted WebSocket frame in bytes (NIP-11 max_message_length). */
  maxMessageLength: number;
  maxSubscriptions: number;
  maxSubIdLength: number;
  /** Largest `limit` honoured for ordinary queries (NIP-11 max_limit). */
  maxLimit: number;
  /** The URL clients use, checked against NIP-42 relay tags; by default taken from the Host header. */
  publicUrl: string | undefined;
  /**
   * kp-auth-grace: how long a KeyPackage REQ, kind 447 or protected event that came before the
   * connection answered its challenge waits for the AUTH, in ms (0: judged at once).
   */
  authGraceMs: number;
  /** kp-pub-mls: refuse KeyPackages whose content is not a usable MLS KeyPackage of the event's pubkey. */
  mlsChecks: boolean;
  /**
   * mr-1059-serve: who may read kind 1059 gift wraps: only the authenticated pubkey their p tag names
   * ('recipient', as NIP-17 inbox relays do), or anyone. Advertised as NIP-11 marmot.gift_wrap_reads.
   */
  giftWrapReads: GiftWrapReads;
  /** How often expired events (NIP-40, mr-445-expiration) and old charges are swept from the store, in ms. */
  sweepIntervalMs: number;
  /**
   * Worker threads for signature and MLS checks (reference-relay/verify/); 0 checks on the main
   * thread. `kpsuite relay` defaults to one fewer than the machine's cores.
   */
  verifyThreads: number;
  /** Writes that arrive together share one commit and one fsync (SqliteStore's group commit); off: one commit per transaction. */
  groupCommit: boolean;
  /** WAL checkpoints on a worker thread, not inside the commits of the relay's thread (SqliteStore). `kpsuite relay` turns it on. */
  checkpointThread: boolean;
  /**
   * Bytes a connection may have queued for sending; past it the relay closes the connection (1008)
   * rather than hold more for a client that does not read.
   */
  maxSendBufferBytes: number;
  faults: ReadonlySet<FaultName>;
  /** Time as the rules read it; the grace timers run on real time. */
  clock: Clock;
  /** Log one line per connection and refusal to stderr. */
  verbose: boolean;
}

/** What `kpsuite relay` runs: one verification thread per core beside the main thread's (one on 2 cores). */
export const defaultVerifyThreads = (): number => Math.max(0, availableParallelism() - 1);

export const DEFAULT_CONFIG: Readonly<RelayConfig> = Object.freeze({
  host: '127.0.0.1',
  port: 7777,
  db: './data/relay.sqlite',
  limits: { ...DEFAULT_KEYPACKAGE_LIMITS },
  maxMessageLength: 128 * 1024,
  maxSubscriptions: 20,
  maxSubIdLength: 64,
  maxLimit: 500,
  publicUrl: undefined,
  authGraceMs: DEFAULT_AUTH_GRACE_MS,
  mlsChecks: true,
  giftWrapReads: 'recipient',
  sweepIntervalMs: 30_000,
  verifyThreads: 0,
  groupCommit: true,
  checkpointThread: false,
  maxSendBufferBytes: 4 * 1024 * 1024,
  faults: new Set<FaultName>(),
  clock: systemClock,
  verbose: false,
});

export type RelayOptions = Partial<Omit<RelayConfig, 'limits' | 'faults'>> & {
  limits?: Partial<KeyPackageLimits>;
  faults?: Iterable<FaultName>;
};

export function resolveConfig(opts: RelayOptions = {}): RelayConfig {
  return {
    ...DEFAULT_CONFIG,
    ...opts,
    limits: { ...DEFAULT_CONFIG.limits, ...opts.limits },
    faults: new Set(opts.faults ?? []),
  };
}
