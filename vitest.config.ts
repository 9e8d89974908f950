import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['**/*.test.ts'],
    exclude: ['**/node_modules/**', 'dist/**', 'bench/.vendor/**'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Tests open real sockets on loopback; two cores run two files at a time.
    maxWorkers: 2,
  },
});
