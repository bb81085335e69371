import {createHash} from 'node:crypto'
import {mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {cli, type HostSnapshot, integrationEngine, snapshot} from '../support/integration.js'

/**
 * The docker CLI's contexts, written in its own on-disk format into a DOCKER_CONFIG of the test's:
 * DOCKER_CONTEXT and the current context of config.json choose the engine, as they do for the
 * docker CLI. One context reaches this machine's engine through a socket path of its own (a link
 * to the real one); another names a socket where nothing listens, and a command run with it must
 * fail saying so: a context that was not read would have reached the default socket instead.
 */
const engine = await integrationEngine()
const LIVE = 'itest-live'
const DEAD = 'itest-dead'
const NEST = 'itest-ctx'

describe.skipIf(!engine)('docker contexts', () => {
  const dir = mkdtempSync(join(tmpdir(), 'inception-contexts-'))
  const config = join(dir, 'config')
  const liveSocket = join(dir, 'engine.sock')
  const deadSocket = join(dir, 'nothing-here.sock')
  /** The runner's environment without DOCKER_HOST or DOCKER_CONTEXT, which would decide first. */
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !['DOCKER_HOST', 'DOCKER_CONTEXT', 'DOCKER_CONFIG'].includes(k))) as Record<
    string,
    string
  >
  const env = (extra: Record<string, string>) => ({...base, CI: 'true', DOCKER_CONFIG: config, ...extra})
  const writeConfig = (current?: string) => writeFileSync(join(config, 'config.json'), JSON.stringify(current ? {currentContext: current} : {}))
  let before: HostSnapshot

  /** A context as `docker context create NAME --docker host=HOST` writes it. */
  function writeContext(name: string, host: string): void {
    const folder = join(config, 'contexts', 'meta', createHash('sha256').update(name).digest('hex'))
    mkdirSync(folder, {recursive: true})
    writeFileSync(
      join(folder, 'meta.json'),
      JSON.stringify({Name: name, Metadata: {Description: 'inception test'}, Endpoints: {docker: {Host: host, SkipTLSVerify: false}}}),
      {
        mode: 0o644,
      },
    )
  }

  beforeAll(async () => {
    await cli(['down', '--name', NEST])
    before = await snapshot()
    mkdirSync(config)
    symlinkSync('/var/run/docker.sock', liveSocket)
    writeContext(LIVE, `unix://${liveSocket}`)
    writeContext(DEAD, `unix://${deadSocket}`)
    writeConfig()
  })

  afterAll(async () => {
    await cli(['down', '--name', NEST])
    rmSync(dir, {recursive: true, force: true})
  })

  it('DOCKER_CONTEXT chooses the engine: up, exec and ps reach it; a context where nothing answers fails, naming its address', async () => {
    const dead = await cli(['ps'], {env: env({DOCKER_CONTEXT: DEAD})})
    expect(dead.exitCode).toBe(3)
    expect(dead.stderr.trim()).toMatch(new RegExp(`^inception: no Docker engine answers at unix://${deadSocket}`))
    const deadUp = await cli(['up', '--name', NEST, '--depth', '2'], {env: env({DOCKER_CONTEXT: DEAD})})
    expect(deadUp.exitCode).toBe(3)

    const up = await cli(['up', '--name', NEST, '--depth', '2'], {env: env({DOCKER_CONTEXT: LIVE})})
    expect(up.exitCode, up.stderr).toBe(0)
    const exec = await cli(['exec', '--name', NEST, '--level', '2', '--', 'docker', 'run', '--rm', 'busybox', 'echo', 'ok'], {env: env({DOCKER_CONTEXT: LIVE})})
    expect(exec.stdout).toBe('ok')
    const ps = await cli(['ps', '--name', NEST, '--json'], {env: env({DOCKER_CONTEXT: LIVE})})
    expect(ps.exitCode, ps.stderr).toBe(0)
    expect((JSON.parse(ps.stdout) as Array<{levels: Array<{state: string}>}>)[0]!.levels.map((l) => l.state)).toEqual(['running', 'running'])
  })

  it('the current context of config.json chooses the engine when DOCKER_CONTEXT is not set; DOCKER_CONTEXT comes before it', async () => {
    writeConfig(DEAD)
    const dead = await cli(['ps', '--name', NEST], {env: env({})})
    expect(dead.exitCode).toBe(3)
    expect(dead.stderr).toContain(`unix://${deadSocket}`)
    const overridden = await cli(['ps', '--name', NEST, '--json'], {env: env({DOCKER_CONTEXT: LIVE})})
    expect(overridden.exitCode, overridden.stderr).toBe(0)

    writeConfig(LIVE)
    const live = await cli(['ps', '--name', NEST, '--json'], {env: env({})})
    expect(live.exitCode, live.stderr).toBe(0)
    expect((JSON.parse(live.stdout) as Array<{name: string}>).map((n) => n.name)).toEqual([NEST])
    const down = await cli(['down', '--name', NEST], {env: env({})})
    expect(down.exitCode, down.stderr).toBe(0)
    writeConfig()
  })

  it('leaves the engine as it was', async () => {
    expect(await snapshot()).toEqual(before)
  })
})
