/** One WebSocket connection's protocol state. */
import { randomBytes } from 'node:crypto';
import type { Filter, RelayMessage } from '../../protocol/messages.js';
import { HeldMessages } from './auth-grace.js';

/** What a transport can do beyond sending a frame; the in-process target has neither. */
export interface SessionTransport {
  /** Sends a frame and resolves once it was written to the socket (its write callback). */
  sendWritten?(text: string): Promise<void>;
  close?(code: number, reason: string): void;
  /** While more than the transport's high-water mark waits to be written to the client: a promise of when it has been; else undefined. */
  backpressure?(): Promise<void> | undefined;
  /** Stops (true) or resumes (false) reading the client's frames, for messages queued faster than they are handled. */
  holdReading?(hold: boolean): void;
}

/** The text JSON.stringify(['EVENT', subId, event]) gives, built around the event's own JSON text. */
export function eventFrame(subId: string, eventJson: string): string {
  return `["EVENT",${JSON.stringify(subId)},${eventJson}]`;
}

/** How long one connection's queued messages run before the other connections get theirs read and handled. */
const SLICE_MS = 2;
/**
 * Messages one connection may have queued before the relay stops reading its socket (TCP then
 * holds the client back), resumed at half: a client that sends faster than it is answered cannot
 * grow the relay's memory without bound. Past it by at most the frames of one socket read.
 */
export const MAX_QUEUED_MESSAGES = 256;

export class Session {
  readonly challenge = randomBytes(16).toString('hex');
  /** NIP-42: every pubkey that authenticated on this connection (kp-auth-multi). */
  readonly authenticated = new Set<string>();
  readonly subscriptions = new Map<string, Filter[]>();
  /** Whether the challenge went out on connect (kp-auth-challenge's SHOULD), which opens the grace of kp-auth-grace. */
  challengeSentOnConnect = false;
  /** Whether any AUTH frame arrived on the connection, valid or not: the challenge was answered. */
  authArrived = false;
  /** Messages waiting for the first AUTH (kp-auth-grace). */
  readonly held = new HeldMessages();
  /** Set when the connection closed: nothing more is handled for it. */
  ended = false;
  private queue: Promise<void> = Promise.resolve();
  /** Messages queued and not yet handled, and when the current run of them began (see enqueue). */
  private waiting = 0;
  private sliceStartedMs: number | undefined;
  private readingHeld = false;
  /** When the message being handled was queued (process.hrtime), while enqueue runs it. */
  private handlingReceivedAt: bigint | undefined;

  constructor(
    readonly id: number,
    /** host[:port] clients use to reach the relay, checked against NIP-42 relay tags. */
    readonly relayHost: string,
    private readonly sendFrame: (text: string) => void,
    private readonly transport: SessionTransport = {},
  ) {}

  send(message: RelayMessage): void {
    this.sendFrame(JSON.stringify(message));
  }

  /** An EVENT frame around a stored event's JSON text, as stored: never parsed and serialised again (kp-handout-intact). */
  sendEvent(subId: string, eventJson: string): void {
    this.sendFrame(eventFrame(subId, eventJson));
  }

  /** Sends and waits until the transport wrote the frame out; in process a frame is delivered when sent. */
  async sendWritten(message: RelayMessage): Promise<void> {
    await this.sendTextWritten(JSON.stringify(message));
  }

  /** sendEvent, waiting like sendWritten. */
  async sendEventWritten(subId: string, eventJson: string): Promise<void> {
    await this.sendTextWritten(eventFrame(subId, eventJson));
  }

  private async sendTextWritten(text: string): Promise<void> {
    if (this.transport.sendWritten) await this.transport.sendWritten(text);
    else this.sendFrame(text);
  }

  /**
   * Undefined while the client keeps up; else resolves once what waits for it has been written.
   * A long answer awaits it between events, so a slow reader is sent to no faster than it reads.
   */
  flowing(): Promise<void> | undefined {
    return this.transport.backpressure?.();
  }

  /** Ends the connection (only fault switches do); in process there is nothing to end. */
  closeConnection(code: number, reason: string): void {
    this.transport.close?.(code, reason);
  }

  /**
   * Messages of one connection are handled one at a time, in arrival order. They run back to back
   * as promise callbacks, which Node finishes before it reads any other socket: so after SLICE_MS of
   * them the connection lets the event loop go round (taking its turn again behind the others'), and
   * a client that sends faster than it is answered cannot hold everyone else's answers behind its own.
   */
  enqueue(task: () => Promise<void> | void): Promise<void> {
    const receivedAt = process.hrtime.bigint();
    this.waiting += 1;
    if (this.waiting > MAX_QUEUED_MESSAGES && !this.readingHeld) this.holdReading(true);
    const run = async (): Promise<void> => {
      try {
        await this.turn();
        this.handlingReceivedAt = receivedAt;
        await task();
      } finally {
        this.handlingReceivedAt = undefined;
        this.waiting -= 1;
        if (this.waiting === 0) this.sliceStartedMs = undefined;
        if (this.readingHeld && this.waiting <= MAX_QUEUED_MESSAGES / 2) this.holdReading(false);
      }
    };
    this.queue = this.queue.then(run, run);
    return this.queue;
  }

  /**
   * When the message being handled arrived (process.hrtime): before it waited its turn behind the
   * connection's earlier messages. A message handled outside the queue counts from now.
   */
  receivedAt(): bigint {
    return this.handlingReceivedAt ?? process.hrtime.bigint();
  }

  /** Messages queued and not yet handled (MAX_QUEUED_MESSAGES bounds it). */
  get queued(): number {
    return this.waiting;
  }

  private holdReading(hold: boolean): void {
    this.readingHeld = hold;
    this.transport.holdReading?.(hold);
  }

  private async turn(): Promise<void> {
    const now = performance.now();
    if (this.sliceStartedMs !== undefined && now - this.sliceStartedMs >= SLICE_MS) {
      await new Promise((resolve) => setImmediate(resolve));
      this.sliceStartedMs = performance.now();
    } else {
      this.sliceStartedMs ??= now;
    }
  }

  /** The connection closed: held messages are let go (and dropped), their timers cleared. */
  end(): void {
    this.ended = true;
    this.held.releaseAll();
  }
}
