/** Moves several scenarios share: a socket that is always closed, failure accounting, claiming a fixture's set. */
import { PREFIX } from '../../protocol/profile.js';
import { FixtureTooSmallError, type Fixture } from '../core/fixture.js';
import { authenticate, publish, refusalPrefix } from '../core/nostr.js';
import type { IterationContext, LoadRuntime, NostrEvent, Socket } from '../core/runtime.js';
import { LATENCY, OPS_FAILED, RELAY_ACCESS, RelayUnusableError } from '../core/scenario.js';
import { int, parseDuration, type Settings } from '../core/settings.js';
import { arrivalRate } from '../core/k6-options.js';

export { arrivalRate };

/** How long to wait for any one answer (TIMEOUT_MS, default 10 s). */
export const replyTimeout = (s: Settings): number => int(s, 'TIMEOUT_MS', 10_000, 100);

/** The relay refused a connection or AUTH: counted in roles, and makes setup "not run". */
export class RelayRefusedError extends RelayUnusableError {
  constructor(
    readonly what: keyof typeof RELAY_ACCESS,
    message: string,
  ) {
    super(message);
  }
}

/** rt.connect, with a refusal typed so roles can count it. */
export async function connectTo(rt: LoadRuntime, url: string, timeoutMs: number): Promise<Socket> {
  try {
    return await rt.connect(url, timeoutMs);
  } catch (err) {
    throw new RelayRefusedError('connect', err instanceof Error ? err.message : String(err));
  }
}

/** Runs `fn` on a fresh connection and closes it whatever happens. */
export async function withSocket<T>(rt: LoadRuntime, url: string, timeoutMs: number, fn: (sock: Socket) => Promise<T>): Promise<T> {
  const sock = await connectTo(rt, url, timeoutMs);
  try {
    return await fn(sock);
  } finally {
    await sock.close();
  }
}

/** Connects and authenticates as `secretKey`; throws when the relay refuses. */
export async function authedSocket(rt: LoadRuntime, url: string, secretKey: string, timeoutMs: number): Promise<Socket> {
  const sock = await connectTo(rt, url, timeoutMs);
  if (await authenticate(rt, sock, url, secretKey, timeoutMs)) return sock;
  await sock.close();
  throw new RelayRefusedError('auth', 'NIP-42 AUTH was refused or not answered');
}

/** Counts an answered (false) or failed (true) operation; returns the value for chaining. */
export function answered<T>(rt: LoadRuntime, value: T | undefined): T | undefined {
  rt.add(OPS_FAILED.name, value === undefined);
  return value;
}

/** A role body that records a thrown error as a failed operation instead of losing it. */
export function guarded<D>(run: (rt: LoadRuntime, data: D, it: IterationContext) => Promise<void>) {
  return async (rt: LoadRuntime, data: D, it: IterationContext): Promise<void> => {
    try {
      await run(rt, data, it);
    } catch (err) {
      rt.add(OPS_FAILED.name, true);
      if (err instanceof RelayRefusedError) rt.add(RELAY_ACCESS[err.what].name, 1);
      rt.log(`${it.role} #${it.iteration}: ${err instanceof Error ? err.message : String(err)}`);
    }
  };
}

/** `count` distinct random items (Fisher–Yates on a copy, cut short). */
export function sample<T>(items: readonly T[], count: number): T[] {
  const copy = [...items];
  const n = Math.min(count, copy.length);
  for (let i = 0; i < n; i++) {
    const j = i + Math.floor(Math.random() * (copy.length - i));
    [copy[i], copy[j]] = [copy[j] as T, copy[i] as T];
  }
  return copy.slice(0, n);
}

/**
 * Most iterations a constant-arrival-rate role of `perSecond` over `ms` can
 * start: one per tick from 0, plus one at exactly the end, which k6 starts
 * when its tick timer wins the race with the end of the duration (the Node
 * executor stops before it). Pools sized by this never wrap.
 */
export function maxArrivals(perSecond: number, ms: number): number {
  const { rate, timeUnit } = arrivalRate(perSecond);
  const interval = parseDuration(timeUnit) / rate;
  return Math.floor(ms / interval + 1e-9) + 1;
}

/** Arrival-rate executor sizing: enough VUs for `rate`/s iterations lasting up to `iterSeconds`. */
export function vusFor(rate: number, iterSeconds = 2): { preAllocatedVUs: number; maxVUs: number } {
  const pre = Math.max(2, Math.ceil(rate * iterSeconds));
  return { preAllocatedVUs: pre, maxVUs: Math.max(pre, Math.ceil(rate * iterSeconds * 5)) };
}

/** Publishes one setup KeyPackage; throws RelayUnusableError unless it is accepted as new. */
async function publishNew(rt: LoadRuntime, sock: Socket, event: NostrEvent, timeoutMs: number): Promise<void> {
  const reply = await publish(rt, sock, event, timeoutMs);
  if (reply === undefined || !reply.ok || refusalPrefix(reply.message) === PREFIX.duplicate) {
    throw new RelayUnusableError(`setup: publishing a KeyPackage failed: ${reply?.message ?? 'no OK in time'}`);
  }
  rt.add(LATENCY.publish.name, reply.ms);
}

/**
 * Setup's publishes from the fixture's first set this relay has not seen:
 * set by set, the first of `keyPackagesOf(set)` is published, and a
 * "duplicate:" answer (an earlier run published that set) moves on to the
 * next set. Returns the set claimed, all of whose KeyPackages are then published.
 */
export async function claimSet(rt: LoadRuntime, sock: Socket, fixture: Fixture, keyPackagesOf: (set: number) => NostrEvent[], timeoutMs: number): Promise<number> {
  for (let set = 0; set < fixture.sets; set++) {
    const [first, ...rest] = keyPackagesOf(set);
    if (first === undefined) break;
    const reply = await publish(rt, sock, first, timeoutMs);
    if (reply !== undefined && refusalPrefix(reply.message) === PREFIX.duplicate) continue;
    if (reply === undefined || !reply.ok) throw new RelayUnusableError(`setup: publishing a KeyPackage failed: ${reply?.message ?? 'no OK in time'}`);
    rt.add(LATENCY.publish.name, reply.ms);
    for (const kp of rest) await publishNew(rt, sock, kp, timeoutMs);
    return set;
  }
  if (fixture.sets === 0 || keyPackagesOf(0).length === 0) throw new FixtureTooSmallError('the fixture holds no KeyPackages for this scenario');
  throw new FixtureTooSmallError(`every set of pre-made KeyPackages in the fixture (${fixture.sets}) was published to this relay by earlier runs`);
}

/** Throws FixtureTooSmallError when a set has fewer than `need` of `what`. */
export function needAtLeast(have: number, need: number, what: string): void {
  if (have < need) throw new FixtureTooSmallError(`the fixture has ${have} ${what} per run, these settings need ${need}`);
}
