/**
 * A plan's k6 `options`: one k6 scenario per role (exec = the role's name),
 * the thresholds, the trend statistics the reports quote, and setup/teardown
 * time. Plain data, so tests check it without k6.
 */
import type { Executor, Plan } from './scenario.js';

export interface K6Options {
  scenarios: Record<string, Executor & { exec: string }>;
  thresholds: Record<string, string[]>;
  summaryTrendStats: string[];
  setupTimeout: string;
  teardownTimeout: string;
}

export function k6Options(plan: Plan<unknown>): K6Options {
  return {
    scenarios: Object.fromEntries(plan.roles.map((r) => [r.name, { ...r.executor, exec: r.name }])),
    thresholds: plan.thresholds,
    summaryTrendStats: ['avg', 'min', 'med', 'max', 'p(50)', 'p(90)', 'p(95)', 'p(99)', 'count'],
    setupTimeout: plan.setupTimeout,
    teardownTimeout: plan.setupTimeout,
  };
}
