/**
 * The fault switches that break the transport rather than a rule (see
 * ../fault-wiring.ts for the others): each a wrapper that relay-core.ts puts
 * around sending, scheduling or dispatching when its fault is on.
 */
import { kindsAskForKeyPackages, parseFilter } from '../../protocol/filter.js';
import { KIND, PREFIX, prefixOf } from '../../protocol/profile.js';
import type { RelayContext } from './context.js';
import type { Session } from './session.js';

/**
 * Fault lazy-challenge (strfry's lazy AUTH): no challenge on connect; it goes
 * out immediately before the connection's first auth-required: refusal.
 */
export function challengeBeforeFirstRefusal(sendFrame: (text: string) => void, challenge: () => string): (text: string) => void {
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
const inFlight = new WeakMap<Session, number>();

/** A KeyPackage REQ (a filter for kinds [443], not limit 0) or a kind 447: what close-under-load counts. */
function asksForKeyPackages(message: unknown): boolean {
  if (!Array.isArray(message)) return false;
  if (message[0] === 'EVENT') return (message[1] as { kind?: unknown } | null)?.kind === KIND.keyPackageRequest;
  return message[0] === 'REQ' && message.slice(2).some((raw) => {
    // An invalid filter asks for nothing: it is refused (kp-robust-bad-input), and its fields may have any type.
    const filter = parseFilter(raw);
    return !('problem' in filter) && kindsAskForKeyPackages(filter);
  });
}

/** Fault close-under-load: sheds load by hanging up instead of answering every request. */
export function closeUnderLoad(session: Session, message: unknown, handle: () => Promise<void>): Promise<void> {
  const load = asksForKeyPackages(message) ? 1 : 0;
  const now = (inFlight.get(session) ?? 0) + load;
  inFlight.set(session, now);
  if (now > LOAD_SHED_IN_FLIGHT) {
    session.closeConnection(1013, 'try again later: too many KeyPackage requests in flight');
    return Promise.resolve();
  }
  return handle().finally(() => inFlight.set(session, (inFlight.get(session) ?? load) - load));
}

/**
 * Fault crash-on-bad-filter: what a relay process that dies on a REQ with an
 * invalid filter does to every connection. True when it crashed.
 */
export function crashOnBadFilter(ctx: RelayContext, message: unknown[]): boolean {
  const [type, subId, ...filters] = message;
  const readable = type === 'REQ' && typeof subId === 'string' && subId.length > 0 && subId.length <= ctx.config.maxSubIdLength;
  if (!readable || !filters.some((f) => 'problem' in parseFilter(f))) return false;
  for (const s of ctx.sessions) s.closeConnection(1011, 'internal error');
  return true;
}
