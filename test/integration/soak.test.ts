import {describe, expect, it} from 'vitest'

import {cli, expectNestIn, integrationEngine, snapshot} from '../support/integration.js'

const engine = await integrationEngine()
/** A few cycles in `npm test`; `npm run soak` runs ten. */
const CYCLES = soakCycles(process.env.INCEPTION_SOAK_CYCLES)

/** The cycles asked for: a whole number from 1, else the file fails at once (a soak of no cycle would pass). */
function soakCycles(text: string | undefined): number {
  if (text === undefined) return 2
  if (!/^\d+$/.test(text.trim()) || Number(text) < 1) {
    throw new Error(`INCEPTION_SOAK_CYCLES=${JSON.stringify(text)} is not a whole number of cycles from 1; set it to 1 or more, or unset it for 2`)
  }
  return Number(text)
}

/** Every storage choice, each once per soak: driver and where /var/lib/docker lives. */
const STORAGE_VARIANTS: string[][] = [
  ['--storage-driver', 'vfs'],
  ['--storage-driver', 'fuse-overlayfs'],
  ['--data-root', 'tmpfs'],
  ['--data-root', 'loop:512M'],
]

describe.skipIf(!engine)('leak soak: up and down, again and again, leave the host as it was', () => {
  it(
    `${CYCLES} cycles of up --depth 3 / down`,
    async () => {
      const start = await snapshot()
      for (let cycle = 1; cycle <= CYCLES; cycle++) {
        const up = await cli(['up', '--name', 'itest-soak', '--depth', '3', '-p', '18140:8080'])
        expect(up.exitCode, `cycle ${cycle}: ${up.stderr}`).toBe(0)
        await expectNestIn(await snapshot(), 'itest-soak')
        expect((await cli(['exec', '--name', 'itest-soak', '--level', '3', '--', 'docker', 'run', '--rm', 'busybox', 'true'])).exitCode).toBe(0)
        expect((await cli(['down', '--name', 'itest-soak'])).exitCode).toBe(0)
        expect(await snapshot(), `after cycle ${cycle}`).toEqual(start)
      }
    },
    CYCLES * 60_000,
  )

  it.each(STORAGE_VARIANTS)('with %s %s', async (...flags) => {
    const start = await snapshot()
    const up = await cli(['up', '--name', 'itest-soak-storage', '--depth', '3', ...flags])
    expect(up.exitCode, up.stderr).toBe(0)
    await expectNestIn(await snapshot(), 'itest-soak-storage')
    const driver = await cli(['exec', '--name', 'itest-soak-storage', '--level', '3', '--', 'docker', 'info', '--format', '{{.Driver}}'])
    if (flags[0] === '--storage-driver') expect(driver.stdout).toBe(flags[1])
    // Where each level's /var/lib/docker lives, read from the kernel at every level.
    const expected = flags[1] === 'tmpfs' ? 'tmpfs' : flags[1]!.startsWith('loop:') ? 'ext2/ext3' : undefined
    if (expected) {
      for (const level of [1, 2, 3]) {
        const type = await cli(['exec', '--name', 'itest-soak-storage', '--level', String(level), '--', 'stat', '-f', '-c', '%T', '/var/lib/docker'])
        expect(type.stdout, `level ${level}`).toBe(expected)
      }
    }
    expect((await cli(['exec', '--name', 'itest-soak-storage', '--level', '3', '--', 'docker', 'run', '--rm', 'busybox', 'true'])).exitCode).toBe(0)
    expect((await cli(['down', '--name', 'itest-soak-storage'])).exitCode).toBe(0)
    expect(await snapshot()).toEqual(start)
  })
})
