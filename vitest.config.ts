import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    globalSetup: ['./test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    projects: [
      {
        extends: true,
        test: {
          name: 'main',
          include: ['test/**/*.test.ts'],
          exclude: ['test/reliability/**', 'test/consumer/**'],
          // Two cores: more workers only fight over the CPU the server needs too.
          maxWorkers: 2,
        },
      },
      {
        extends: true,
        test: {
          name: 'reliability',
          include: ['test/reliability/**/*.test.ts'],
          // These tests restart servers and lower global limits: one file at a time.
          fileParallelism: false,
        },
      },
    ],
  },
});
