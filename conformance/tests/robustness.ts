/** Robustness. */
import type { ConformanceTest } from '../types.js';

export const robustnessTests: ConformanceTest[] = [];
