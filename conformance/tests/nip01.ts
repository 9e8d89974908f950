/** NIP-01. */
import type { ConformanceTest } from '../types.js';

export const nip01Tests: ConformanceTest[] = [];
