/** Every conformance test, in report order: PROFILE.md sections, then PROFILE-MARMOT.md's, then the NIPs they lean on. */
import type { ConformanceTest } from '../types.js';
import { authTests } from './auth.js';
import { authGraceTests } from './auth-grace.js';
import { publishTests } from './publish.js';
import { reqTests } from './req.js';
import { request447Tests } from './request-447.js';
import { handoutTests } from './handout.js';
import { rateLimitTests } from './rate-limits.js';
import { deletionExpiryTests } from './deletion-expiry.js';
import { robustnessTests } from './robustness.js';
import { marmotTests } from './marmot/index.js';
import { nip01Tests } from './nip01.js';
import { nip11Tests } from './nip11.js';

export const ALL_TESTS: readonly ConformanceTest[] = [
  ...authTests,
  ...authGraceTests,
  ...publishTests,
  ...reqTests,
  ...request447Tests,
  ...handoutTests,
  ...rateLimitTests,
  ...deletionExpiryTests,
  ...robustnessTests,
  ...marmotTests,
  ...nip01Tests,
  ...nip11Tests,
];
