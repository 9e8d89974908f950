/**
 * The relay without its transport: text frames in, messages out through each
 * Session. The WebSocket server feeds it; the in-process property target can
 * drive it directly with an injected clock.
 */
import type { NostrEvent } from '../../protocol/messages.js';
import { PREFIX, reason } from '../../protocol/profile.js';
import { nowSecondsOf } from '../clock.js';
import type { RelayConfig } from '../config.js';
import { rulesFor, storeFor } from '../fault-wiring.js';
import { RelayMetrics } from '../metrics.js';
import type { Rules } from '../rules/index.js';
import type { EventStore } from '../store/store.js';
import { IN_THREAD, type Verifier } from '../verify/verifier.js';
import { WorkerVerifier } from '../verify/worker-verifier.js';
import { handleAuth } from './auth.js';
import { holdsUntilAuth } from './auth-grace.js';
import type { RelayContext } from './context.js';
import { handleEvent } from './event.js';
import { handleClose, handleReq } from './req.js';
import { Session, type SessionTransport } from './session.js';
import { challengeBeforeFirstRefusal, closeUnderLoad, crashOnBadFilter } from './transport-faults.js';

/** A frame's JSON, parsed once on arrival; undefined when it is not JSON. */
type Parsed = { message: unknown } | undefined;

function parse(text: string): Parsed {
  try {
    return { message: JSON.parse(text) as unknown };
  } catch {
    return undefined;
  }
}

export class RelayCore implements RelayContext {
  readonly sessions = new Set<Session>();
  readonly metrics: RelayMetrics;
  readonly rules: Rules;
  readonly store: EventStore;
  readonly verifier: Verifier;
  private nextSessionId = 1;

  constructor(
    readonly config: RelayConfig,
    store: EventStore,
  ) {
    this.rules = rulesFor(config);
    this.store = storeFor(config.faults, store);
    this.metrics = new RelayMetrics(() => store.countKeyPackages(this.nowSeconds()));
    this.verifier = config.verifyThreads > 0 ? new WorkerVerifier(config.verifyThreads) : IN_THREAD;
  }

  /** Stops what the core started beyond its sessions: the verification threads. */
  async shutdown(): Promise<void> {
    await this.verifier.close();
  }

  nowMs(): number {
    return this.config.clock.nowMs();
  }

  nowSeconds(): number {
    return nowSecondsOf(this.config.clock);
  }

  log(line: string): void {
    if (this.config.verbose) process.stderr.write(`[relay] ${line}\n`);
  }

  /**
   * NIP-40 (mr-445-expiration, kp-pub-expired): deletes the events whose
   * expiration passed, and the charges older than the rate-limit window.
   * The server runs it every `sweepIntervalMs`; returns how many events went.
   */
  sweep(): number {
    return this.store.sweep(this.nowSeconds(), this.nowMs() - this.config.limits.window_seconds * 1000);
  }

  /** A new connection: kp-auth-challenge, the challenge before anything else (mr-protected keeps it). */
  open(relayHost: string, sendFrame: (text: string) => void, transport: SessionTransport = {}): Session {
    const { faults } = this.config;
    const lazy = faults.has('lazy-challenge') || faults.has('marmot-protected-no-challenge');
    // kp-robust-durable: every frame waits for the writes made before it (its OK, its hand-out, what its answer read) to be on disk.
    const durableFrame = (text: string): void => this.store.whenDurable(() => sendFrame(text));
    const { sendWritten } = transport;
    const durableTransport: SessionTransport = {
      ...transport,
      ...(sendWritten && { sendWritten: (text: string) => new Promise<void>((resolve) => this.store.whenDurable(() => resolve(sendWritten(text)))) }),
    };
    const session: Session = new Session(
      this.nextSessionId++,
      relayHost,
      lazy ? challengeBeforeFirstRefusal(durableFrame, () => session.challenge) : durableFrame,
      durableTransport,
    );
    this.sessions.add(session);
    this.metrics.connections.set(this.sessions.size);
    if (!lazy && !faults.has('no-challenge')) {
      session.send(['AUTH', session.challenge]);
      session.challengeSentOnConnect = true;
    }
    return session;
  }

  close(session: Session): void {
    session.end();
    this.sessions.delete(session);
    this.metrics.connections.set(this.sessions.size);
  }

  /** Handles one frame; frames of one session are handled in order (kp-auth-grace makes the one exception). */
  receive(session: Session, text: string): Promise<void> {
    const parsed = parse(text);
    const schedule = (): Promise<void> => this.schedule(session, text, parsed);
    return this.config.faults.has('close-under-load') ? closeUnderLoad(session, parsed?.message, schedule) : schedule();
  }

  private schedule(session: Session, text: string, parsed: Parsed): Promise<void> {
    const message = parsed?.message;
    if (Array.isArray(message) && message[0] === 'AUTH') {
      session.authArrived = true;
      // An AUTH is handled at once while messages are held for one: queued behind them, it could never release them.
      if (session.held.size > 0) return this.handle(session, text, parsed).finally(() => session.held.releaseAll());
    } else if (holdsUntilAuth(this, session, message)) {
      const held = session.held.add(this.config.authGraceMs);
      // Queued like any message, so the ones after it wait behind it.
      return this.inOrder(session, async () => {
        await held;
        if (!session.ended) await this.handle(session, text, parsed);
      });
    }
    return this.inOrder(session, () => this.handle(session, text, parsed));
  }

  /** One message at a time per connection; side by side under fault concurrent-messages, as a relay that spawns a task per message. */
  private inOrder(session: Session, task: () => Promise<void>): Promise<void> {
    return this.config.faults.has('concurrent-messages') ? task() : session.enqueue(task);
  }

  private handle(session: Session, text: string, parsed: Parsed): Promise<void> {
    return this.dispatch(session, text, parsed).catch((err: unknown) => {
      this.log(`session ${session.id}: internal error: ${String(err)}`);
      session.send(['NOTICE', reason(PREFIX.error, 'the relay failed to handle that message')]);
    });
  }

  private async dispatch(session: Session, text: string, parsed: Parsed): Promise<void> {
    if (parsed === undefined) {
      session.send(['NOTICE', reason(PREFIX.invalid, 'the message is not valid JSON')]);
      return;
    }
    const { message } = parsed;
    if (Buffer.byteLength(text) > this.config.maxMessageLength) {
      this.refuseOversized(session, message, Buffer.byteLength(text));
      return;
    }
    if (!Array.isArray(message) || typeof message[0] !== 'string') {
      session.send(['NOTICE', reason(PREFIX.invalid, 'a message is a JSON array whose first element is its type')]);
      return;
    }
    if (this.config.faults.has('crash-on-bad-filter') && crashOnBadFilter(this, message)) return;
    switch (message[0]) {
      case 'EVENT':
        return handleEvent(this, session, message[1]);
      case 'REQ':
        return handleReq(this, session, message);
      case 'CLOSE':
        return handleClose(session, message);
      case 'AUTH':
        return handleAuth(this, session, message[1]);
      default:
        session.send(['NOTICE', reason(PREFIX.invalid, `unknown message type "${message[0].slice(0, 32)}"; this relay speaks EVENT, REQ, CLOSE and AUTH`)]);
    }
  }

  /** kp-robust-bad-input: answer an oversized frame where the client waits for an answer. */
  private refuseOversized(session: Session, message: unknown, bytes: number): void {
    const text = reason(PREFIX.invalid, `message is ${bytes} bytes; max_message_length is ${this.config.maxMessageLength}`);
    if (Array.isArray(message)) {
      const [type, second] = message as [unknown, unknown];
      const id = (second as Partial<NostrEvent> | null)?.id;
      if (type === 'EVENT' && typeof id === 'string') return session.send(['OK', id, false, text]);
      if (type === 'REQ' && typeof second === 'string') return session.send(['CLOSED', second, text]);
    }
    session.send(['NOTICE', text]);
  }
}
