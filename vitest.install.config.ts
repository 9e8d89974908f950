import { defineConfig } from 'vitest/config';

// The packed package, installed as users and the composite action install it
// (npm install --global --omit=dev of the tarball). Runs after the main suite:
// one install, shared, since better-sqlite3 builds from source here.
export default defineConfig({
  test: {
    include: ['test/install/**/*.test.ts'],
    globalSetup: ['test/install/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    maxWorkers: 2,
  },
});
