/**
 * The k6 binding of the load runtime: WebSocket from k6's websockets module
 * (the build swaps in k6/experimental/websockets for the compat bundles),
 * timers from k6/timers, metrics from k6/metrics, HTTP from k6/http, and the
 * noble signer. No Node API is used here or below.
 */
import { check } from 'k6';
import http from 'k6/http';
import { Counter, Gauge, Rate, Trend } from 'k6/metrics';
import { clearTimeout, setTimeout } from 'k6/timers';
import { WebSocket } from 'k6/websockets';
import { FrameInbox } from '../core/inbox.js';
import { CHECK_PREFIX } from '../core/ledger.js';
import { nobleSigner } from '../core/signer.js';
import type { HttpReply, LoadRuntime, MetricSpec, RelayMessage, Socket } from '../core/runtime.js';

const OPEN = 1;

class K6Socket implements Socket {
  private readonly inbox = new FrameInbox({ setTimeout, clearTimeout: (h) => clearTimeout(h as number) });
  private closed = false;
  private onClosed: (() => void)[] = [];

  constructor(private readonly ws: WebSocket) {
    ws.addEventListener('message', (e) => {
      if ('data' in e && typeof e.data === 'string') this.inbox.push(e.data);
    });
    ws.addEventListener('close', () => {
      this.closed = true;
      this.inbox.closed();
      for (const f of this.onClosed.splice(0)) f();
    });
  }

  get isOpen(): boolean {
    return !this.closed && this.ws.readyState === OPEN;
  }

  send(message: readonly unknown[]): void {
    if (this.isOpen) this.ws.send(JSON.stringify(message));
  }

  next(match: (m: RelayMessage) => boolean, timeoutMs: number): Promise<RelayMessage | undefined> {
    return this.inbox.next(match, timeoutMs, this.isOpen);
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    // An iteration ends only once its sockets are closed, so always close and wait a little.
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(), 1000);
      this.onClosed.push(() => {
        clearTimeout(timer);
        resolve();
      });
      try {
        this.ws.close();
      } catch {
        clearTimeout(timer);
        resolve();
      }
    });
  }
}

type K6Metric = Counter | Gauge | Rate | Trend;

function k6Metric(spec: MetricSpec): K6Metric {
  switch (spec.kind) {
    case 'counter':
      return new Counter(spec.name);
    case 'rate':
      return new Rate(spec.name);
    case 'gauge':
      return new Gauge(spec.name);
    case 'trend':
      return new Trend(spec.name, spec.time === true);
  }
}

export class K6Runtime implements LoadRuntime {
  readonly driver = 'k6' as const;
  readonly signer = nobleSigner;
  private readonly metrics = new Map<string, K6Metric>();

  /** Must run in k6's init context: custom metrics can only be created there. */
  constructor(specs: readonly MetricSpec[]) {
    for (const spec of specs) this.metrics.set(spec.name, k6Metric(spec));
  }

  now(): number {
    // `performance` is undefined in k6 1.3; Date.now() has 1 ms resolution everywhere.
    return Date.now();
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
  }

  connect(url: string, timeoutMs: number): Promise<Socket> {
    return new Promise((resolve, reject) => {
      let settled = false;
      const ws = new WebSocket(url);
      const sock = new K6Socket(ws);
      const timer = setTimeout(() => {
        if (settled) return;
        settled = true;
        void sock.close();
        reject(new Error(`cannot connect to ${url}: no answer in ${timeoutMs} ms`));
      }, timeoutMs);
      ws.addEventListener('open', () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(sock);
      });
      ws.addEventListener('error', (e) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(new Error(`cannot connect to ${url}: ${'error' in e ? e.error : 'error'}`));
      });
    });
  }

  httpGet(url: string, headers: Record<string, string>, timeoutMs: number): Promise<HttpReply | undefined> {
    const res = http.get(url, { headers, timeout: `${Math.ceil(timeoutMs)}ms`, tags: { name: 'kpsuite-http' } });
    // k6 reports a failed request as status 0 rather than throwing.
    if (res.status === 0) return Promise.resolve(undefined);
    return Promise.resolve({ status: res.status, body: typeof res.body === 'string' ? res.body : '' });
  }

  add(metric: string, value: number | boolean): void {
    const m = this.metrics.get(metric);
    if (m === undefined) throw new Error(`metric ${metric} is not declared by the scenario`);
    m.add(value);
  }

  record(fact: string): void {
    // A check named after the fact: k6 counts it by name and hands it to handleSummary (core/ledger.ts).
    check(true, { [`${CHECK_PREFIX}${fact}`]: (v) => v === true });
  }

  log(line: string): void {
    console.log(line);
  }
}
