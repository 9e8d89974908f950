/**
 * The relay without its transport: text frames in, messages out through each
 * Session. The WebSocket server feeds it; the in-process property target can
 * drive it directly with an injected clock.
 */
import type { NostrEvent } from '../../protocol/messages.js';
import { KIND, PREFIX, prefixOf, reason } from '../../protocol/profile.js';
import { nowSecondsOf } from '../clock.js';
import type { RelayConfig } from '../config.js';
import { RelayMetrics } from '../metrics.js';
import type { EventStore } from '../store/store.js';
import { handleAuth } from './auth.js';
import type { RelayContext } from './context.js';
import { handleEvent } from './event.js';
import { handleClose, handleReq } from './req.js';
import { Session, type SessionTransport } from './session.js';

/**
 * Fault lazy-challenge (strfry's lazy AUTH): no challenge on connect; it goes
 * out immediately before the connection's first auth-required: refusal.
 */
function challengeBeforeFirstRefusal(sendFrame: (text: string) => void, challenge: () => string): (text: string) => void {
  let sent = false;
  return (text) => {
    if (!sent && isAuthRequiredRefusal(text)) {
      sent = true;
      sendFrame(JSON.stringify(['AUTH', challenge()]));
    }
    sendFrame(text);
  };
}

/** ["CLOSED", sub, "auth-required: ..."] or ["OK", id, false, "auth-required: ..."]. */
function isAuthRequiredRefusal(text: string): boolean {
  const m = JSON.parse(text) as unknown[];
  const reason = m[0] === 'CLOSED' ? m[2] : m[0] === 'OK' && m[2] === false ? m[3] : undefined;
  return typeof reason === 'string' && prefixOf(reason) === PREFIX.authRequired;
}

/** Fault close-under-load: a connection with more KeyPackage requests than this in flight is closed. */
const LOAD_SHED_IN_FLIGHT = 2;

/** A REQ for kind 443 that is not a limit:0 subscription, or a kind 447: what the close-under-load fault counts. */
function asksForKeyPackages(text: string): boolean {
  try {
    const m = JSON.parse(text) as unknown[];
    if (m[0] === 'EVENT') return (m[1] as { kind?: unknown } | null)?.kind === KIND.keyPackageRequest;
    if (m[0] !== 'REQ') return false;
    return m.slice(2).some((f) => {
      const filter = f as { kinds?: unknown; limit?: unknown } | null;
      return Array.isArray(filter?.kinds) && filter.kinds.includes(KIND.keyPackage) && filter.limit !== 0;
    });
  } catch {
    return false;
  }
}

export class RelayCore implements RelayContext {
  readonly sessions = new Set<Session>();
  readonly metrics: RelayMetrics;
  private nextSessionId = 1;

  constructor(
    readonly config: RelayConfig,
    readonly store: EventStore,
  ) {
    this.metrics = new RelayMetrics(() => store.countKeyPackages(this.nowSeconds()));
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

  /** A new connection: kp-auth-challenge, the challenge before anything else. */
  open(relayHost: string, sendFrame: (text: string) => void, transport: SessionTransport = {}): Session {
    const lazy = this.config.faults.has('lazy-challenge');
    const session: Session = new Session(
      this.nextSessionId++,
      relayHost,
      lazy ? challengeBeforeFirstRefusal(sendFrame, () => session.challenge) : sendFrame,
      transport,
    );
    this.sessions.add(session);
    this.metrics.connections.set(this.sessions.size);
    if (!this.config.faults.has('no-challenge') && !lazy) session.send(['AUTH', session.challenge]);
    return session;
  }

  close(session: Session): void {
    this.sessions.delete(session);
    this.metrics.connections.set(this.sessions.size);
  }

  /** Handles one frame; frames of one session are handled in order. */
  receive(session: Session, text: string): Promise<void> {
    const { faults } = this.config;
    const load = faults.has('close-under-load') && asksForKeyPackages(text) ? 1 : 0;
    session.keyPackageAsksInFlight += load;
    if (session.keyPackageAsksInFlight > LOAD_SHED_IN_FLIGHT) {
      // Fault: shed load by hanging up instead of answering every request.
      session.closeConnection(1013, 'try again later: too many KeyPackage requests in flight');
      return Promise.resolve();
    }
    const handle = (): Promise<void> =>
      this.dispatch(session, text)
        .catch((err: unknown) => {
          this.log(`session ${session.id}: internal error: ${String(err)}`);
          session.send(['NOTICE', reason(PREFIX.error, 'the relay failed to handle that message')]);
        })
        .finally(() => (session.keyPackageAsksInFlight -= load));
    // Fault: a connection's messages are handled side by side, as a relay that spawns a task per message does.
    return faults.has('concurrent-messages') ? handle() : session.enqueue(handle);
  }


  private async dispatch(session: Session, text: string): Promise<void> {
    let message: unknown;
    try {
      message = JSON.parse(text);
    } catch {
      session.send(['NOTICE', reason(PREFIX.invalid, 'the message is not valid JSON')]);
      return;
    }
    if (Buffer.byteLength(text) > this.config.maxMessageLength) {
      this.refuseOversized(session, message, Buffer.byteLength(text));
      return;
    }
    if (!Array.isArray(message) || typeof message[0] !== 'string') {
      session.send(['NOTICE', reason(PREFIX.invalid, 'a message is a JSON array whose first element is its type')]);
      return;
    }
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
