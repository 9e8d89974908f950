/** Deletion and expiry. */
import type { ConformanceTest } from '../types.js';

export const deletionExpiryTests: ConformanceTest[] = [];
