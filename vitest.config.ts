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
      // The privilege cache is off by default, so that a nest brought up by one test does not
      // spare another its probes, and nothing is written under the user's state directory;
      // test/unit/privilege-cache.test.ts turns it on against a temporary one.
      // Level sockets are off too (INCEPTION_SOCKETS): the fake engine is "local", and nothing of a
      // unit test belongs in /run; test/unit/sockets.test.ts gives its nests a temporary folder.
      {extends: true, test: {name: 'unit', include: ['test/unit/**/*.test.ts'], env: {INCEPTION_PRIVILEGE_CACHE: 'off', INCEPTION_SOCKETS: 'none'}}},
      // Integration tests decide privilege afresh at every `up` (the cache off: a decision kept by
      // `build` or an earlier test would hide the probe path), in a state folder of their own that
      // global setup makes and removes (XDG_STATE_HOME), so nothing of the user's state is read or
      // written. A test of the cache itself passes INCEPTION_PRIVILEGE_CACHE to the CLI it runs.
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['test/support/global-setup.ts'],
          env: {INCEPTION_PRIVILEGE_CACHE: 'off'},
        },
      },
    ],
  },
})
