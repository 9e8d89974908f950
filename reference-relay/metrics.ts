/**
 * Prometheus metrics for the KeyPackage paths (GET /metrics). One registry per
 * relay, so several relays in one test process do not collide. No per-pubkey
 * labels: pubkeys are unbounded and identifying.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Commit durations, in seconds: fine below 10 ms, where a durable commit on a local disk normally ends. */
const COMMIT_BUCKETS = [0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1];

export class RelayMetrics {
  readonly registry = new Registry();
  readonly requestsReceived;
  readonly requestsFulfilled;
  readonly requestsEmpty;
  readonly handedOut;
  readonly consumed;
  readonly lastResortServed;
  readonly rateLimited;
  readonly authRefused;
  readonly deliveryLatency;
  readonly connections;
  readonly slowClientCloses;

  constructor(countStored: () => number) {
    const registers = [this.registry];
    const labelNames = ['path'] as const;
    this.requestsReceived = new Counter({
      name: 'keypackage_requests_received_total',
      help: 'KeyPackage queries received: REQ filters asking for an owner (path=req) and kind 447 requests (path=447)',
      labelNames,
      registers,
    });
    this.requestsFulfilled = new Counter({
      name: 'keypackage_requests_fulfilled_total',
      help: 'KeyPackage queries that handed out at least one KeyPackage',
      labelNames,
      registers,
    });
    this.requestsEmpty = new Counter({
      name: 'keypackage_requests_empty_total',
      help: 'KeyPackage queries that found nothing to hand out',
      labelNames,
      registers,
    });
    this.handedOut = new Counter({
      name: 'keypackages_handed_out_total',
      help: 'KeyPackage events handed out to requesters other than their owner',
      labelNames,
      registers,
    });
    this.consumed = new Counter({
      name: 'keypackages_consumed_total',
      help: 'KeyPackages consumed (deleted) by a hand-out',
      labelNames,
      registers,
    });
    this.lastResortServed = new Counter({
      name: 'keypackages_last_resort_served_total',
      help: "Hand-outs of an owner's last KeyPackage, which is kept",
      labelNames,
      registers,
    });
    this.rateLimited = new Counter({
      name: 'keypackage_rate_limited_total',
      help: 'KeyPackage queries refused with rate-limited:',
      labelNames: ['path', 'limit'] as const,
      registers,
    });
    this.authRefused = new Counter({
      name: 'keypackage_auth_required_total',
      help: 'KeyPackage queries refused with auth-required:',
      labelNames,
      registers,
    });
    this.deliveryLatency = new Histogram({
      name: 'keypackage_delivery_latency_seconds',
      help: "From receiving a KeyPackage query (before it waits behind its connection's earlier messages) to writing its last KeyPackage (REQ) or its OK (447), after the commit they wait for",
      labelNames,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    });
    this.connections = new Gauge({ name: 'relay_connections', help: 'Open WebSocket connections', registers });
    this.slowClientCloses = new Counter({
      name: 'relay_slow_client_closes_total',
      help: 'Connections closed because more than max_send_buffer bytes waited to be sent to a client that was not reading',
      registers,
    });
    new Gauge({
      name: 'keypackages_stored',
      help: 'Stored, unexpired KeyPackages (kind 443)',
      registers,
      collect() {
        this.set(countStored());
      },
    });
  }

  /**
   * The store's commits and the transactions they held: more transactions than commits is group commit at work.
   * With group commit, also how long each COMMIT took: nothing it holds is sent before it ends, so its tail is
   * the floor of a hand-out's latency tail.
   */
  includeCommits(
    commits: { readonly groups: number; readonly transactions: number },
    checkpoints?: { readonly checkpoints: number; readonly catchUps: number },
    observeCommits?: (observe: (seconds: number) => void) => void,
  ): void {
    const registers = [this.registry];
    if (observeCommits) {
      const commitSeconds = new Histogram({
        name: 'relay_store_commit_seconds',
        help: "Duration of each group commit's COMMIT, its fsync included; what it holds is sent after it",
        buckets: COMMIT_BUCKETS,
        registers,
      });
      observeCommits((seconds) => commitSeconds.observe(seconds));
    }
    new Gauge({
      name: 'relay_store_commits',
      help: 'SQLite commits (each one fsync) since the relay started',
      registers,
      collect() {
        this.set(commits.groups);
      },
    });
    new Gauge({
      name: 'relay_store_transactions',
      help: 'Store transactions since the relay started, committed alone or in groups',
      registers,
      collect() {
        this.set(commits.transactions);
      },
    });
    if (!checkpoints) return;
    new Gauge({
      name: 'relay_store_wal_checkpoints',
      help: "WAL checkpoints: by the checkpoint thread, and catch-ups by the relay's thread that let the WAL start over",
      labelNames: ['by'],
      registers,
      collect() {
        this.set({ by: 'thread' }, checkpoints.checkpoints);
        this.set({ by: 'relay' }, checkpoints.catchUps);
      },
    });
  }

  /** Node's process metrics (memory, event loop): once per served relay, not per in-process core. */
  includeProcessMetrics(): void {
    collectDefaultMetrics({ register: this.registry });
  }
}
