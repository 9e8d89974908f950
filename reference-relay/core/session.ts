/** One WebSocket connection's protocol state. */
import { randomBytes } from 'node:crypto';
import type { Filter, RelayMessage } from '../../protocol/messages.js';

export class Session {
  readonly challenge = randomBytes(16).toString('hex');
  /** NIP-42: every pubkey that authenticated on this connection (kp-auth-multi). */
  readonly authenticated = new Set<string>();
  readonly subscriptions = new Map<string, Filter[]>();
  private queue: Promise<void> = Promise.resolve();

  constructor(
    readonly id: number,
    /** host[:port] clients use to reach the relay, checked against NIP-42 relay tags. */
    readonly relayHost: string,
    private readonly sendFrame: (text: string) => void,
  ) {}

  send(message: RelayMessage): void {
    this.sendFrame(JSON.stringify(message));
  }

  /** Messages of one connection are handled one at a time, in arrival order. */
  enqueue(task: () => Promise<void> | void): Promise<void> {
    this.queue = this.queue.then(task, task);
    return this.queue;
  }
}
