import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {startDemo} from '../support/demo.js'
import {cli, type HostSnapshot, integrationEngine, shAt, snapshot} from '../support/integration.js'

/**
 * `inception demo --down` from another process collapses a running demo: the demo's process ends
 * and the nest is gone. The demo runs the forky suite, so that `demo --suite` is seen at work:
 * Docker 28 at its innermost level, where the default suite has 26. (The forky image is built
 * first when missing, so that the host is read with it there.)
 */
const engine = await integrationEngine()
const NEST = 'itest-demo-down'
const PORT = 18_197

describe.skipIf(!engine)('demo --down', () => {
  let before: HostSnapshot

  beforeAll(async () => {
    await cli(['down', '--name', NEST])
    // The forky image (and its base), before the host is read: the demo then reuses them.
    const build = await cli(['build', '--suite', 'forky'], {timeout: 900_000})
    expect(build.exitCode, build.stdout + build.stderr).toBe(0)
    before = await snapshot()
  }, 900_000)

  afterAll(async () => {
    await cli(['down', '--name', NEST])
  })

  it('collapses a running demo from another process: the demo ends and leaves nothing', async () => {
    const {demo} = await startDemo(['--depth', '2', '--suite', 'forky', '--name', NEST, '--port', String(PORT)])
    // --suite: the innermost level runs forky's Docker.
    const version = await shAt(NEST, 2, "docker version --format '{{.Server.Version}}'")
    expect(Number(version.stdout.split('.')[0])).toBeGreaterThanOrEqual(28)

    const down = await cli(['demo', '--down', '--name', NEST])
    expect(down.exitCode, down.stderr).toBe(0)
    expect(down.stdout).toContain('level 1 is going')
    expect(down.stdout).toContain(`You woke up: nest "${NEST}" removed`)
    const ended = await demo
    expect(ended.exitCode, String(ended.all)).toBe(0)
    expect(String(ended.all)).toContain(`Nest "${NEST}" was removed elsewhere: you woke up.`)
    expect((await cli(['ps', '--name', NEST])).exitCode).toBe(4)
    expect(await snapshot()).toEqual(before)
  }, 900_000)
})
