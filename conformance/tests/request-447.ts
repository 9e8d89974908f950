/** Kind 447 requests. */
import type { ConformanceTest } from '../types.js';

export const request447Tests: ConformanceTest[] = [];
