import type { RelayConfig } from '../config.js';
import type { RelayMetrics } from '../metrics.js';
import type { EventStore } from '../store/store.js';
import type { Session } from './session.js';

/** What every handler may use: configuration, storage, metrics, the other sessions, the clock. */
export interface RelayContext {
  readonly config: RelayConfig;
  readonly store: EventStore;
  readonly metrics: RelayMetrics;
  readonly sessions: ReadonlySet<Session>;
  nowMs(): number;
  nowSeconds(): number;
  log(line: string): void;
}
