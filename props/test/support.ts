/**
 * Test helpers: how many sequences a test runs (KPSUITE_PROPS_RUNS raises it),
 * "mutants": targets that break one rule on purpose where no relay fault
 * switch does, to show the invariant of that rule can fail, and the built
 * `kpsuite props` for the command-line tests.
 */
import { execFile } from 'node:child_process';
import { newKeys } from '../../protocol/crypto.js';
import type { Filter } from '../../protocol/messages.js';
import { KIND, prefixOf } from '../../protocol/profile.js';
import type { FaultName } from '../../reference-relay/faults.js';
import type { MarmotAnchor } from '../marmot-model.js';
import { CLI } from '../../test/support/spawn-relay.js';
import type { Conn, Target, TargetFactory } from '../target.js';

/** In-process sequences per property test; the WebSocket tests run a fifth of it. */
export const RUNS = Number(process.env.KPSUITE_PROPS_RUNS ?? 200);
export const WS_RUNS = Math.max(30, Math.round(RUNS / 5));
/**
 * The seed of the teeth tests: fixed, so that whether a fault is found within RUNS sequences is the same on
 * every run (a random seed misses one now and then); KPSUITE_PROPS_SEED=random, or a number, explores others.
 */
export const SEED: number | undefined =
  process.env.KPSUITE_PROPS_SEED === 'random' ? undefined : Number(process.env.KPSUITE_PROPS_SEED ?? 20261129);

/** A connection that forwards everything but what `over` replaces. */
export function forward(conn: Conn, over: Partial<Conn>): Conn {
  return {
    auth: (k) => conn.auth(k),
    authNobody: () => conn.authNobody(),
    publish: (e) => conn.publish(e),
    req: (f) => conn.req(f),
    closeSub: (s) => conn.closeSub(s),
    sendRequest: (e) => conn.sendRequest(e),
    strays: () => conn.strays(),
    close: () => conn.close(),
    ...over,
  };
}

/** The factory's targets with every connection wrapped (and the clock, when `clock` is given). */
export function mutate(
  factory: TargetFactory,
  wrap: (conn: Conn, target: Target) => Conn,
  clock?: (target: Target) => Target['clock'],
): TargetFactory {
  return {
    ...factory,
    async create(): Promise<Target> {
      const t = await factory.create();
      return {
        limits: t.limits,
        events: t.events,
        clock: clock ? clock(t) : t.clock,
        connect: async () => wrap(await t.connect(), t),
        close: () => t.close(),
      };
    },
  };
}

/** The owner a KeyPackage query names: the REQ's single author, or a 447's p tag. */
export function ownerOf(filters: readonly Filter[]): string | undefined {
  const f = filters[0];
  return f?.kinds?.includes(KIND.keyPackage) && f.authors?.length === 1 ? f.authors[0] : undefined;
}

/** A relay that consumes the owner's oldest KeyPackage when it refuses a query for a rate limit (breaks kp-rate-refusal). */
export function consumesOnRefusal(factory: TargetFactory): TargetFactory {
  const handOutElsewhere = async (t: Target, owner: string): Promise<void> => {
    const stranger = await t.connect();
    await stranger.auth(newKeys());
    await stranger.req([{ kinds: [KIND.keyPackage], authors: [owner], limit: 1 }]);
  };
  return mutate(factory, (conn, t) =>
    forward(conn, {
      async req(filters) {
        const res = await conn.req(filters);
        const owner = ownerOf(filters);
        if (res.closed !== undefined && prefixOf(res.closed) === 'rate-limited' && owner) await handOutElsewhere(t, owner);
        return res;
      },
      async sendRequest(event) {
        const res = await conn.sendRequest(event);
        const owner = event.tags.find((tag) => tag[0] === 'p')?.[1];
        if (!res.ok && prefixOf(res.message) === 'rate-limited' && owner) await handOutElsewhere(t, owner);
        return res;
      },
    }),
  );
}

/**
 * Fault switches the Marmot slot property (marmot-commands.ts) finds and blames on their anchor: run by
 * marmot.test.ts, counted as covered by teeth.test.ts.
 */
export const MARMOT_FAULT_CASES: readonly { fault: FaultName; anchor: MarmotAnchor }[] = [
  { fault: 'marmot-keep-older', anchor: 'mr-kp-replace' },
  { fault: 'marmot-ignore-a-deletion', anchor: 'mr-kp-delete' },
  { fault: 'marmot-drop-tag-values', anchor: 'mr-kp-store' },
  { fault: 'marmot-ignore-d-i-filters', anchor: 'mr-kp-filters' },
  { fault: 'marmot-consume-on-fetch', anchor: 'mr-kp-no-consume' },
];

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

/** `kpsuite props ARGS` with the built CLI (dist/: `npm run build` first), killed after `timeoutMs`. */
export function kpsuiteProps(args: string[], timeoutMs = 60_000): Promise<CliRun> {
  const started = Date.now();
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, 'props', ...args], { timeout: timeoutMs }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr, ms: Date.now() - started });
    });
  });
}
