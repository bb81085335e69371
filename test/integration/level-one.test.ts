import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {VERSION} from '../../src/nesting/version.js'
import {cli, expectNestIn, type HostSnapshot, integrationEngine, snapshot} from '../support/integration.js'

const engine = await integrationEngine()
const NEST = 'itest-one'

describe.skipIf(!engine)('a depth-1 nest on the real engine', () => {
  let before: HostSnapshot
  let upStartedMs = 0

  beforeAll(async () => {
    await cli(['down', '--name', NEST])
    before = await snapshot()
    upStartedMs = Date.now()
    const up = await cli(['up', '--depth', '1', '--name', NEST])
    expect(up.stderr).toBe('')
    expect(up.exitCode).toBe(0)
    await expectNestIn(await snapshot(), NEST)
  })

  afterAll(async () => {
    await cli(['down', '--name', NEST])
  })

  it('runs dockerd with overlay2 inside level 1', async () => {
    const result = await cli(['exec', '--name', NEST, '--level', '1', '--', 'docker', 'info', '--format', '{{.Driver}}'])
    expect(result).toMatchObject({exitCode: 0, stdout: 'overlay2'})
  })

  it('runs a container inside level 1', async () => {
    const result = await cli(['exec', '--name', NEST, '--level', '1', '--', 'docker', 'run', '--rm', 'busybox', 'true'])
    expect(result.exitCode).toBe(0)
  })

  it('has its images from the image seed, made when the image was built: none imported as it started', async () => {
    const created = await cli(['exec', '--name', NEST, '--', 'docker', 'image', 'inspect', '--format', '{{.Created}}', 'busybox', `inception-level:${VERSION}`])
    expect(created.exitCode, created.stderr).toBe(0)
    const times = created.stdout.split('\n').map((text) => Date.parse(text))
    expect(times).toHaveLength(2)
    for (const time of times) expect(time).toBeLessThan(upStartedMs)
  })

  it('passes the exit status and standard input through', async () => {
    expect((await cli(['exec', '--name', NEST, '--', 'sh', '-c', 'exit 7'])).exitCode).toBe(7)
    const echoed = await cli(['exec', '--name', NEST, '--', 'cat'], {input: 'hi from the host\n'})
    expect(echoed.stdout).toBe('hi from the host')
  })

  it('shows the level in ps, with its engine ready', async () => {
    const result = await cli(['ps', '--name', NEST, '--json'])
    const [nest] = JSON.parse(result.stdout) as Array<{
      name: string
      depth: number
      levels: Array<{state: string; dockerdReady: boolean; storageDriver: string; privilege: string}>
    }>
    expect(nest).toMatchObject({name: NEST, depth: 1})
    expect(nest!.levels).toHaveLength(1)
    expect(nest!.levels[0]).toMatchObject({state: 'running', dockerdReady: true, storageDriver: 'overlay2'})
    expect(['privileged', 'caps']).toContain(nest!.levels[0]!.privilege)
  })

  it('down leaves no container, volume, network, loop device or cgroup behind', async () => {
    const down = await cli(['down', '--name', NEST])
    expect(down.exitCode).toBe(0)
    expect(await snapshot()).toEqual(before)
  })
})
