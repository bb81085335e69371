import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {cli, integrationEngine, snapshot} from '../support/integration.js'

const engine = await integrationEngine()
const NEST = 'itest-bad'
const DEAD_ENGINE = {DOCKER_HOST: 'tcp://127.0.0.1:1'}

/** One line on stderr that says what went wrong and what to do. */
function expectOneClearLine(stderr: string, pattern: RegExp): void {
  const lines = stderr.trim().split('\n')
  expect(lines, stderr).toHaveLength(1)
  expect(lines[0]).toMatch(/^inception: .+; .+/)
  expect(lines[0]).toMatch(pattern)
}

describe.skipIf(!engine)('bad input is refused, changing nothing', () => {
  beforeAll(async () => {
    await cli(['down', '--name', NEST])
    expect((await cli(['up', '--name', NEST, '--depth', '1'])).exitCode).toBe(0)
  })

  afterAll(async () => {
    await cli(['down', '--name', NEST])
  })

  it.each([
    [['up', '--depth', '0'], 2, /--depth 0 is out of range/],
    [['up', '--depth', 'abc'], 2, /--depth "abc" is not a whole number/],
    [['up', '--depth', '2.5'], 2, /not a whole number/],
    [['up', '--depth', '10000'], 2, /out of range.*--max-depth/],
    [['up', '--storage-driver', 'nope'], 2, /unknown storage driver "nope".*overlay2, fuse-overlayfs, vfs/],
    [['up', '--name', 'a/b'], 2, /nest name "a\/b" is not allowed/],
    [['up', '-p', '8080'], 2, /not HOST:INNER/],
    [['up', '--no-such-flag'], 2, /Nonexistent flag: --no-such-flag/],
    [['up', '--name', NEST], 6, /already exists.*inception down --name itest-bad/],
    [['exec', '--name', NEST, '--level', '2', '--', 'true'], 2, /level 2 is outside nest "itest-bad".*between 1 and 1/],
    [['exec', '--name', 'nosuchnest', '--', 'true'], 4, /no nest named "nosuchnest"/],
    [['logs', '--name', NEST, '--level', '0'], 2, /--level 0 does not exist/],
  ])('inception %j exits %i with one clear line', async (args, code, pattern) => {
    const before = await snapshot()
    const result = await cli(args)
    expect(result.exitCode).toBe(code)
    expectOneClearLine(result.stderr, pattern)
    expect(await snapshot()).toEqual(before)
  })

  it.each([['up', '--depth', '2'], ['down'], ['ps'], ['exec', '--', 'true'], ['logs'], ['build']])(
    'inception %j with an engine that does not answer exits 3 and names the address',
    async (...args) => {
      const before = await snapshot()
      const result = await cli(args, {env: {...DEAD_ENGINE, CI: 'true'}})
      expect(result.exitCode).toBe(3)
      expectOneClearLine(result.stderr, /no Docker engine answers at tcp:\/\/127\.0\.0\.1:1 .*ensure-engine\.sh/)
      expect(await snapshot()).toEqual(before)
    },
  )

  it('the nest it refused to touch is still up', async () => {
    const result = await cli(['exec', '--name', NEST, '--', 'docker', 'version', '--format', '{{.Server.Version}}'])
    expect(result.exitCode).toBe(0)
  })
})
