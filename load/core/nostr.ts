/**
 * The Nostr moves the scenarios make, over the runtime's Socket: AUTH,
 * publish, REQ until EOSE, kind 447 until its OK. Each returns the time it
 * took, or undefined when the relay did not answer in time.
 */
import { KIND, TAG, prefixOf } from '../../protocol/profile.js';
import type { Filter } from '../../protocol/messages.js';
import type { LoadRuntime, NostrEvent, RelayMessage, Socket } from './runtime.js';

/** NIP-01 short text note: the ordinary traffic the mixed scenarios add (not a profile kind). */
export const TEXT_NOTE_KIND = 1;

/** Wall-clock seconds for created_at (the runtime's now() may be monotonic). */
export const nowSeconds = (): number => Math.floor(Date.now() / 1000);

export interface OkResult {
  ok: boolean;
  message: string;
  ms: number;
}

export interface QueryResult {
  events: NostrEvent[];
  /** The CLOSED message when the relay refused the REQ. */
  closed?: string;
  ms: number;
}

export interface RequestResult extends OkResult {
  /** EVENT frames that arrived between sending the 447 and its OK. */
  deliveries: NostrEvent[];
}

let subCounter = 0;
/** Subscription ids that say which role sent them, for relay logs. */
export function subId(hint: string): string {
  subCounter += 1;
  return `${hint}-${subCounter}`.slice(0, 64);
}

/** Answers the relay's NIP-42 challenge as `secretKey`; true when the relay says OK. */
export async function authenticate(rt: LoadRuntime, sock: Socket, relayUrl: string, secretKey: string, timeoutMs: number): Promise<boolean> {
  const challenge = await sock.next((m) => m[0] === 'AUTH', timeoutMs);
  if (challenge === undefined || typeof challenge[1] !== 'string') return false;
  const event = rt.signer.sign(
    {
      kind: KIND.auth,
      created_at: nowSeconds(),
      tags: [
        [TAG.relay, relayUrl],
        [TAG.challenge, challenge[1]],
      ],
      content: '',
    },
    secretKey,
  );
  sock.send(['AUTH', event]);
  const reply = await sock.next((m) => m[0] === 'OK' && m[1] === event.id, timeoutMs);
  return reply !== undefined && reply[2] === true;
}

/**
 * Sends the EVENT now and returns a promise of its OK: callers that race
 * many sockets call this for all of them in one tick, then await.
 */
export function publish(rt: LoadRuntime, sock: Socket, event: NostrEvent, timeoutMs: number): Promise<OkResult | undefined> {
  const started = rt.now();
  sock.send(['EVENT', event]);
  return sock.next((m) => m[0] === 'OK' && m[1] === event.id, timeoutMs).then((m) =>
    m === undefined ? undefined : { ok: m[2] === true, message: typeof m[3] === 'string' ? m[3] : '', ms: rt.now() - started },
  );
}

/**
 * Sends a REQ now; the promise collects its stored events until EOSE or
 * CLOSED, then CLOSEs the subscription (relays cap open subscriptions).
 */
export function query(rt: LoadRuntime, sock: Socket, sub: string, filters: Filter[], timeoutMs: number): Promise<QueryResult | undefined> {
  const started = rt.now();
  sock.send(['REQ', sub, ...filters]);
  const events: NostrEvent[] = [];
  const collect = async (): Promise<QueryResult | undefined> => {
    for (;;) {
      const left = timeoutMs - (rt.now() - started);
      const m = left > 0 ? await sock.next((x) => (x[0] === 'EVENT' || x[0] === 'EOSE' || x[0] === 'CLOSED') && x[1] === sub, left) : undefined;
      if (m === undefined) return undefined;
      if (m[0] === 'EVENT') events.push(m[2]);
      else if (m[0] === 'EOSE') {
        const ms = rt.now() - started;
        sock.send(['CLOSE', sub]);
        return { events, ms };
      } else return { events, closed: typeof m[2] === 'string' ? m[2] : '', ms: rt.now() - started };
    }
  };
  return collect();
}

/** Opens a live subscription (limit 0: hands out nothing) and waits for its EOSE. */
export async function openInbox(sock: Socket, sub: string, filter: Filter, timeoutMs: number): Promise<boolean> {
  sock.send(['REQ', sub, { ...filter, limit: 0 }]);
  const m = await sock.next((x) => (x[0] === 'EOSE' || x[0] === 'CLOSED') && x[1] === sub, timeoutMs);
  return m !== undefined && m[0] === 'EOSE';
}

/** A signed kind 447 asking `owner` for up to `n` KeyPackages (PROFILE.md §4). */
export function keyPackageRequest(rt: LoadRuntime, secretKey: string, owner: string, n?: number): NostrEvent {
  const tags = [[TAG.pubkey, owner], ...(n === undefined ? [] : [[TAG.count, String(n)]])];
  return rt.signer.sign({ kind: KIND.keyPackageRequest, created_at: nowSeconds(), tags, content: '' }, secretKey);
}

/**
 * Sends a signed 447 now; the promise collects the EVENTs delivered on
 * `inbox` until the request's OK (kp-447-ok-after-delivery).
 */
export function request447(rt: LoadRuntime, sock: Socket, inbox: string, request: NostrEvent, timeoutMs: number): Promise<RequestResult | undefined> {
  const started = rt.now();
  sock.send(['EVENT', request]);
  const deliveries: NostrEvent[] = [];
  const collect = async (): Promise<RequestResult | undefined> => {
    for (;;) {
      const left = timeoutMs - (rt.now() - started);
      const m: RelayMessage | undefined =
        left > 0 ? await sock.next((x) => (x[0] === 'EVENT' && x[1] === inbox) || (x[0] === 'OK' && x[1] === request.id), left) : undefined;
      if (m === undefined) return undefined;
      if (m[0] === 'EVENT') deliveries.push(m[2]);
      else if (m[0] === 'OK') return { ok: m[2] === true, message: m[3], deliveries, ms: rt.now() - started };
    }
  };
  return collect();
}

/** The machine-readable prefix of a refusal (`rate-limited`, `invalid`, …). */
export function refusalPrefix(message: string | undefined): string | undefined {
  return message === undefined ? undefined : prefixOf(message);
}
