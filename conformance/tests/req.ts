/** REQ. */
import type { ConformanceTest } from '../types.js';

export const reqTests: ConformanceTest[] = [];
