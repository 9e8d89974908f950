/**
 * k6's executors, as far as the scenarios use them, for the Node driver:
 * constant-arrival-rate (open model: iterations start on schedule, dropped
 * when maxVUs are busy), per-vu-iterations and constant-vus. A role ends
 * when its work ends; it is also bounded in time: after its duration plus a
 * grace period, its sockets are cut so pending waits resolve and the run
 * ends. No timer outlives the role.
 */
import type { Role } from '../core/scenario.js';
import { parseDuration } from '../core/settings.js';
import type { IterationContext, LoadRuntime } from '../core/runtime.js';

export interface RoleOutcome {
  role: string;
  iterations: number;
  /** Arrival-rate iterations not started because every VU was busy (k6's dropped_iterations). */
  dropped: number;
  /** Arrival-rate roles: the VUs available (maxVUs), to explain drops. */
  maxVUs?: number;
  /** Wall time from the role's start to its last iteration's end. */
  ms: number;
  /** Whether the grace period ran out and the role's sockets were cut. */
  interrupted: boolean;
}

export interface ExecutorOptions {
  /** How long running iterations may finish after the role's duration (k6 gracefulStop: 30 s). */
  graceMs: number;
  /** Called once when a role overruns its grace: must make pending iterations finish. */
  cut: () => void;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, Math.max(0, ms)));

/** Resolves `work` (true) or, after `ms`, false; the timer is cleared either way, so nothing lingers. */
async function within(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<false>((r) => {
    timer = setTimeout(() => r(false), Math.max(0, ms));
  });
  try {
    return await Promise.race([work.then(() => true as const), expired]);
  } finally {
    clearTimeout(timer);
  }
}

export async function runRole<D>(rt: LoadRuntime, role: Role<D>, data: D, opts: ExecutorOptions): Promise<RoleOutcome> {
  const start = Date.now();
  const deadline = start + role.durationMs;
  let iterations = 0;
  let dropped = 0;
  const iterate = (vu: number): Promise<void> => {
    const it: IterationContext = { role: role.name, vu, iteration: iterations++, deadline };
    return role.run(rt, data, it);
  };
  // Everything the role started; the run waits for these (bounded by the grace period).
  const work: Promise<void>[] = [];
  const ex = role.executor;
  if (ex.executor === 'constant-arrival-rate') {
    const interval = parseDuration(ex.timeUnit) / ex.rate;
    const busy = new Set<number>();
    for (let k = 0; start + k * interval < deadline; k++) {
      await sleep(start + k * interval - Date.now());
      let vu = 0;
      while (vu < ex.maxVUs && busy.has(vu)) vu++;
      if (vu === ex.maxVUs) {
        dropped += 1;
        continue;
      }
      busy.add(vu);
      work.push(iterate(vu + 1).finally(() => busy.delete(vu)));
    }
  } else {
    const perVu = ex.executor === 'per-vu-iterations' ? ex.iterations : Number.POSITIVE_INFINITY;
    for (let v = 1; v <= ex.vus; v++) {
      work.push(
        (async () => {
          for (let i = 0; i < perVu && Date.now() < deadline; i++) await iterate(v);
        })(),
      );
    }
  }
  const all = Promise.allSettled(work);
  const graceEnd = Math.max(deadline, Date.now()) + opts.graceMs;
  const finished = await within(all, graceEnd - Date.now());
  if (!finished) {
    opts.cut();
    // Cut sockets resolve their waits at once; 5 s bounds a body that ignores that.
    await within(all, 5000);
  }
  const maxVUs = ex.executor === 'constant-arrival-rate' ? ex.maxVUs : undefined;
  return { role: role.name, iterations, dropped, interrupted: !finished, ms: Date.now() - start, ...(maxVUs !== undefined ? { maxVUs } : {}) };
}
