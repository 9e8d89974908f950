import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['**/*.test.ts'],
    // test/install/ runs from vitest.install.config.ts, after these.
    exclude: ['**/node_modules/**', 'dist/**', 'test/install/**'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Tests open real sockets on loopback; two cores run two files at a time.
    maxWorkers: 2,
  },
});
