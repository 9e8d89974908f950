/** Publishing. */
import type { ConformanceTest } from '../types.js';

export const publishTests: ConformanceTest[] = [];
