/**
 * The small interface every load scenario is written against. Two bindings
 * implement it: k6 (load/k6/runtime.ts, WebSocket from k6's websockets module)
 * and Node (load/node/runtime.ts, ws). Scenarios never touch either directly,
 * so the same code runs under `k6 run` and `kpsuite load`.
 */
import type { NostrEvent, RelayMessage } from '../../protocol/messages.js';

export type { NostrEvent, RelayMessage };

export type MetricKind = 'counter' | 'rate' | 'trend' | 'gauge';

export interface MetricSpec {
  name: string;
  kind: MetricKind;
  /** Trends of durations are in milliseconds (k6 shows them as times). */
  time?: boolean;
  help: string;
}

/** One open WebSocket to the relay, with parsed relay messages. */
export interface Socket {
  send(message: readonly unknown[]): void;
  /**
   * The next not-yet-taken message that matches, waiting at most `timeoutMs`;
   * undefined on timeout or when the connection closed first.
   */
  next(match: (m: RelayMessage) => boolean, timeoutMs: number): Promise<RelayMessage | undefined>;
  close(): Promise<void>;
  readonly isOpen: boolean;
}

export interface EventTemplate {
  kind: number;
  created_at: number;
  tags: string[][];
  content: string;
}

/** Keys are lowercase hex, so they pass through setup data (JSON) unchanged. */
export interface Signer {
  newSecretKey(): string;
  publicKey(secretKeyHex: string): string;
  sign(template: EventTemplate, secretKeyHex: string): NostrEvent;
}

export interface HttpReply {
  status: number;
  body: string;
}

export interface LoadRuntime {
  readonly driver: 'k6' | 'node';
  /** Milliseconds; Date.now() under k6 (no `performance` before k6 1.4). */
  now(): number;
  sleep(ms: number): Promise<void>;
  /** Opens a socket or rejects with a readable error. */
  connect(url: string, timeoutMs: number): Promise<Socket>;
  /** GET with headers; undefined when the request fails outright. */
  httpGet(url: string, headers: Record<string, string>, timeoutMs: number): Promise<HttpReply | undefined>;
  /** Records a sample on a metric declared in the scenario's plan. */
  add(metric: string, value: number | boolean): void;
  /**
   * Records a ledger fact (core/ledger.ts) into the run's summary, counted:
   * what `kpsuite load merge` needs to judge invariants that span
   * instances. Under k6 a fact is a check() named after it (the one string
   * channel from a VU into handleSummary's data, in both summary shapes).
   */
  record(fact: string): void;
  readonly signer: Signer;
  log(line: string): void;
}

/** Where one iteration runs: which VU, which iteration of its role, until when. */
export interface IterationContext {
  role: string;
  vu: number;
  /**
   * Unique across the role's VUs in this instance, from 0 (k6:
   * exec.scenario.iterationInInstance): it indexes the instance's share of
   * the fixture, whatever the share of the other instances.
   */
  iteration: number;
  /** Epoch ms when the role's duration ends; loops inside an iteration stop there. */
  deadline: number;
}
