import {execa} from 'execa'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {DEFAULT_IMAGE} from '../../src/nesting/suites.js'
import {cli, integrationEngine} from '../support/integration.js'
import {exerciseHost, type TestHost, laneHost} from '../support/lanes.js'

/**
 * Host lane: a Docker 28 engine. It is level 1 of a `--suite forky` nest whose engine listens with
 * mutual TLS (--expose-daemons), reached through `inception env`: a nest inside a nest, as users
 * ask for. The inner nest's port goes to level 1 of the outer nest, which publishes it on this
 * machine's 127.0.0.1.
 */
const engine = await integrationEngine()
const OUTER = 'itest-d28'
const INNER = 'itest-on-d28'
const PORT = 18_280

describe.skipIf(!engine)('host lane: a Docker 28 engine over mutual TLS', () => {
  let host: TestHost

  beforeAll(async () => {
    const build = await cli(['build', '--suite', 'forky'], {timeout: 600_000})
    expect(build.exitCode, build.stdout + build.stderr).toBe(0)
    await cli(['down', '--name', OUTER])
    const up = await cli(['up', '--name', OUTER, '--suite', 'forky', '--expose-daemons', '-p', `${PORT}:${PORT}`])
    expect(up.exitCode, up.stderr).toBe(0)
    const env = JSON.parse((await cli(['env', '--name', OUTER, '--tls', '--format', 'json'])).stdout) as Record<string, string>
    // The level image, into the Docker 28 engine, with inception's own load.
    const load = await cli(['load', DEFAULT_IMAGE, '--name', OUTER, '--level', '1'], {timeout: 600_000})
    expect(load.exitCode, load.stderr).toBe(0)
    // The cgroups its containers get, seen inside the outer level 1 (its own cgroup namespace).
    host = laneHost(env, {container: `${OUTER}-l1`})
  }, 900_000)

  afterAll(async () => {
    await cli(['down', '--name', INNER], {env: host?.env ?? {}})
    await cli(['down', '--name', OUTER])
  })

  it('is Docker 28 or newer', async () => {
    const version = (await execa('docker', ['version', '--format', '{{.Server.Version}}'], {env: host.env})).stdout
    expect(Number(version.split('.')[0])).toBeGreaterThanOrEqual(28)
  })

  it('runs a depth-2 nest: a container at level 2, exec, a port chain to this machine, ps, and down leaving nothing', async () => {
    // The outer level's engine is this nest's host: its port must be open beyond that
    // container's own loopback for the outer level to forward it.
    const figures = await exerciseHost(host, INNER, PORT, '0.0.0.0')
    console.log(`host lane docker28: up --depth 2 in ${figures.upSeconds.toFixed(1)}s, privilege ${figures.privilege}, level 1 dockerd ${figures.dockerd}`)
  }, 300_000)
})
