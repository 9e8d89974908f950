/** Identity (NIP-42). */
import type { ConformanceTest } from '../types.js';

export const authTests: ConformanceTest[] = [];
