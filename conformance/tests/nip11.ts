/** NIP-11. */
import type { ConformanceTest } from '../types.js';

export const nip11Tests: ConformanceTest[] = [];
