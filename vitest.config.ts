import {defineConfig} from 'vitest/config'

export default defineConfig({
  test: {
    // Integration tests share one Docker engine and create real nests: run files one at a time.
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 300_000,
    reporters: ['default'],
    projects: [
      // Unit tests need no engine, and do not build the image.
      {extends: true, test: {name: 'unit', include: ['test/unit/**/*.test.ts']}},
      {extends: true, test: {name: 'integration', include: ['test/integration/**/*.test.ts'], globalSetup: ['test/support/global-setup.ts']}},
    ],
  },
})
