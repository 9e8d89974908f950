import type { RelayConfig } from '../config.js';
import type { RelayMetrics } from '../metrics.js';
import type { Rules } from '../rules/index.js';
import type { EventStore } from '../store/store.js';
import type { Verifier } from '../verify/verifier.js';
import type { Session } from './session.js';

/** What every handler may use: configuration, the rules, storage, metrics, the other sessions, the clock. */
export interface RelayContext {
  readonly config: RelayConfig;
  /** The profile's rules, as this relay's faults wired them. */
  readonly rules: Rules;
  /** The store, as this relay's faults wired it. */
  readonly store: EventStore;
  readonly metrics: RelayMetrics;
  /** Signature and MLS checks, on this thread or on worker threads (config.verifyThreads). */
  readonly verifier: Verifier;
  readonly sessions: ReadonlySet<Session>;
  nowMs(): number;
  nowSeconds(): number;
  log(line: string): void;
}
