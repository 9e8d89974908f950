/**
 * A plan's k6 `options`: one k6 scenario per role (exec = the role's name),
 * the thresholds, the trend statistics the reports quote, and setup/teardown
 * time. Plain data, so tests check it without k6. Under INSTANCE/INSTANCES
 * the roles are scaled here, as k6 scales them for an execution segment.
 */
import { unitCount, share, type Instance } from './instance.js';
import type { Executor, Plan, Role } from './scenario.js';
import { parseDuration } from './settings.js';

export interface K6Options {
  scenarios: Record<string, Executor & { exec: string }>;
  thresholds: Record<string, string[]>;
  summaryTrendStats: string[];
  setupTimeout: string;
  teardownTimeout: string;
}

/**
 * k6 wants a whole `rate` per `timeUnit` (it rejects 0.5): 0.5/s becomes
 * 1 per 2s, 2.5/s 5 per 2s, 0.3/s 3 per 10s.
 */
export function arrivalRate(perSecond: number): { rate: number; timeUnit: string } {
  for (let seconds = 1; seconds <= 1000; seconds++) {
    const n = perSecond * seconds;
    if (Math.abs(n - Math.round(n)) < 1e-9 && Math.round(n) >= 1) return { rate: Math.round(n), timeUnit: `${seconds}s` };
  }
  return { rate: Math.max(1, Math.round(perSecond * 1000)), timeUnit: '1000s' };
}

/**
 * One instance's part of an executor, as k6 scales it for a segment: VUs by
 * the instance's unit count (an even split gives instance i ceil((vus − i)/n)),
 * arrival rates by its share. Undefined when no VU falls to it.
 */
export function scaleExecutor(ex: Executor, inst: Instance): Executor | undefined {
  if (ex.executor === 'constant-arrival-rate') {
    const part = share(inst);
    const perSecond = (ex.rate / (parseDuration(ex.timeUnit) / 1000)) * part;
    const pre = Math.max(1, Math.ceil(ex.preAllocatedVUs * part));
    return { ...ex, ...arrivalRate(perSecond), preAllocatedVUs: pre, maxVUs: Math.max(pre, Math.ceil(ex.maxVUs * part)) };
  }
  const vus = unitCount(ex.vus, inst);
  return vus > 0 ? { ...ex, vus } : undefined;
}

/** The roles this instance runs (all of them, unscaled, for the whole test). */
export function instanceRoles<D>(roles: readonly Role<D>[], inst: Instance | undefined): Role<D>[] {
  if (inst === undefined || inst.source === 'whole') return [...roles];
  return roles.flatMap((r) => {
    const executor = scaleExecutor(r.executor, inst);
    return executor === undefined ? [] : [{ ...r, executor }];
  });
}

/** `inst`: INSTANCE/INSTANCES, which k6 knows nothing of; a k6 segment is scaled by k6 itself. */
export function k6Options(plan: Plan<unknown>, inst?: Instance): K6Options {
  return {
    scenarios: Object.fromEntries(instanceRoles(plan.roles, inst).map((r) => [r.name, { ...r.executor, exec: r.name }])),
    thresholds: plan.thresholds,
    summaryTrendStats: ['avg', 'min', 'med', 'max', 'p(50)', 'p(90)', 'p(95)', 'p(99)', 'count'],
    setupTimeout: plan.setupTimeout,
    teardownTimeout: plan.setupTimeout,
  };
}
