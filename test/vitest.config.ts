import { defineConfig } from 'vitest/config';
import { fileURLToPath } from 'node:url';

export default defineConfig({
  root: fileURLToPath(new URL('..', import.meta.url)),
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Live tests build their own namespaces with unique names, but they share two cores: run files
    // one at a time so throughput assertions are not starved.
    fileParallelism: false,
    reporters: ['default'],
  },
});
