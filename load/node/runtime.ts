/**
 * The Node binding of the load runtime: sockets on `ws`, signing with
 * nostr-wasm (protocol/crypto.ts; faster than the k6 signer, so the load
 * generator is not what saturates), metrics in memory.
 */
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { keysFromHex, newKeys, secretHex, sign } from '../../protocol/crypto.js';
import type { HttpReply, LoadRuntime, RelayMessage, Signer, Socket } from '../core/runtime.js';
import type { MetricStore } from './metrics.js';
import { FrameInbox } from '../core/inbox.js';
import { note, type Ledger } from '../core/ledger.js';

export class NodeSocket implements Socket {
  private readonly inbox = new FrameInbox({ setTimeout, clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) });
  private readonly closed: Promise<void>;

  constructor(private readonly ws: WebSocket) {
    ws.on('message', (data) => this.inbox.push(data.toString()));
    this.closed = new Promise((resolve) => ws.once('close', () => resolve()));
    void this.closed.then(() => this.inbox.closed());
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  send(message: readonly unknown[]): void {
    if (this.isOpen) this.ws.send(JSON.stringify(message));
  }

  next(match: (m: RelayMessage) => boolean, timeoutMs: number): Promise<RelayMessage | undefined> {
    return this.inbox.next(match, timeoutMs, this.isOpen);
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
};

export class NodeRuntime implements LoadRuntime {
  readonly driver = 'node' as const;
  /** What record() collected: the run's ledger facts. */
  readonly ledger: Ledger = {};
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

  record(fact: string): void {
    note(this.ledger, fact);
  }

  log(line: string): void {
    this.logLine(line);
  }

  /** Ends every open connection: pending next() calls resolve undefined and the iterations finish. */
  terminateAll(): void {
    for (const sock of this.open) sock.terminate();
  }
}
