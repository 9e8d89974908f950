/** Rate limits. */
import type { ConformanceTest } from '../types.js';

export const rateLimitTests: ConformanceTest[] = [];
