/**
 * The Node binding of the load runtime: sockets on `ws`, signing with
 * nostr-wasm (protocol/crypto.ts; faster than the k6 signer, so the load
 * generator is not what saturates), metrics in memory.
 */
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { keysFromHex, newKeys, secretHex, sign } from '../../protocol/crypto.js';
import { randomBytes } from 'node:crypto';
import type { HttpReply, LoadRuntime, RelayMessage, Signer, Socket } from '../core/runtime.js';
import type { MetricStore } from './metrics.js';

interface Waiter {
  match: (m: RelayMessage) => boolean;
  resolve: (m: RelayMessage | undefined) => void;
}

/** Unmatched frames kept for a later next(); past this the oldest go (live traffic nobody waits for). */
const BACKLOG_LIMIT = 2000;

export class NodeSocket implements Socket {
  private readonly backlog: RelayMessage[] = [];
  private readonly waiters: Waiter[] = [];
  private readonly closed: Promise<void>;

  constructor(private readonly ws: WebSocket) {
    ws.on('message', (data) => this.onFrame(data.toString()));
    this.closed = new Promise((resolve) => ws.once('close', () => resolve()));
    void this.closed.then(() => {
      for (const w of this.waiters.splice(0)) w.resolve(undefined);
    });
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  send(message: readonly unknown[]): void {
    if (this.isOpen) this.ws.send(JSON.stringify(message));
  }

  private onFrame(text: string): void {
    let message: unknown;
    try {
      message = JSON.parse(text);
    } catch {
      return;
    }
    if (!Array.isArray(message)) return;
    const m = message as RelayMessage;
    const i = this.waiters.findIndex((w) => w.match(m));
    if (i >= 0) this.waiters.splice(i, 1)[0]?.resolve(m);
    else {
      this.backlog.push(m);
      if (this.backlog.length > BACKLOG_LIMIT) this.backlog.shift();
    }
  }

  next(match: (m: RelayMessage) => boolean, timeoutMs: number): Promise<RelayMessage | undefined> {
    const idx = this.backlog.findIndex(match);
    if (idx >= 0) return Promise.resolve(this.backlog.splice(idx, 1)[0]);
    if (!this.isOpen) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const waiter: Waiter = {
        match,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
      };
      const timer = setTimeout(() => {
        const at = this.waiters.indexOf(waiter);
        if (at >= 0) this.waiters.splice(at, 1);
        resolve(undefined);
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    this.ws.close();
    const inTime = await Promise.race([this.closed.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 1000).unref())]);
    if (!inTime) this.ws.terminate();
  }

  /** Ends the connection now (the executor uses it when a role overruns its grace period). */
  terminate(): void {
    this.ws.terminate();
  }
}

export const wasmSigner: Signer = {
  newSecretKey: () => secretHex(newKeys()),
  publicKey: (secret) => keysFromHex(secret).pubkey,
  sign: (template, secret) => sign(template, keysFromHex(secret)),
  randomHex: (bytes) => randomBytes(bytes).toString('hex'),
};

export class NodeRuntime implements LoadRuntime {
  readonly driver = 'node' as const;
  private readonly open = new Set<NodeSocket>();

  constructor(
    private readonly metrics: MetricStore,
    readonly signer: Signer = wasmSigner,
    private readonly logLine: (line: string) => void = () => undefined,
  ) {}

  now(): number {
    return performance.now();
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }

  connect(url: string, timeoutMs: number): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { handshakeTimeout: timeoutMs });
      const sock = new NodeSocket(ws);
      ws.once('open', () => {
        this.open.add(sock);
        ws.once('close', () => this.open.delete(sock));
        resolve(sock);
      });
      // 'on', not 'once': a socket may report more than one error and each must be handled.
      ws.on('error', (err) => reject(new Error(`cannot connect to ${url}: ${err.message}`)));
    });
  }

  async httpGet(url: string, headers: Record<string, string>, timeoutMs: number): Promise<HttpReply | undefined> {
    try {
      const res = await fetch(url, { headers, signal: AbortSignal.timeout(timeoutMs) });
      return { status: res.status, body: await res.text() };
    } catch {
      return undefined;
    }
  }

  add(metric: string, value: number | boolean): void {
    this.metrics.add(metric, value);
  }

  log(line: string): void {
    this.logLine(line);
  }

  /** Ends every open connection: pending next() calls resolve undefined and the iterations finish. */
  terminateAll(): void {
    for (const sock of this.open) sock.terminate();
  }
}
