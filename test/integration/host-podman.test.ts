import {execa, type ResultPromise} from 'execa'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {imageForSuite} from '../../src/nesting/suites.js'
import {cli, ensureDebianPackage, integrationEngine} from '../support/integration.js'
import {dockerOn, exerciseHost, type TestHost, laneHost} from '../support/lanes.js'

/**
 * Host lane: Podman (Debian's, rootful) through its Docker-compatible API, with runc as its
 * runtime (its default, crun, refuses this host's hybrid cgroups). It starts with no inception
 * image and no base, and no registry answers: `inception build` must see the failed pull (which
 * Podman reports inside a 200 response) and bootstrap the base from Debian's packages.
 */
const engine = await integrationEngine()
const NEST = 'itest-on-podman'
const PORT = 18_270

describe.skipIf(!engine)('host lane: Podman', () => {
  const dir = mkdtempSync(join(tmpdir(), 'itest-podman-'))
  let service: ResultPromise | undefined
  let host: TestHost

  beforeAll(async () => {
    const missing = await ensureDebianPackage('podman', 'podman')
    if (missing) throw new Error(`the Podman lane needs Podman: ${missing}`)
    const socket = join(dir, 'podman.sock')
    service = execa('podman', ['--runtime', '/usr/sbin/runc', 'system', 'service', '--time=0', `unix://${socket}`], {
      reject: false,
      stdout: 'ignore',
      stderr: 'ignore',
    })
    const env = {DOCKER_HOST: `unix://${socket}`}
    for (let i = 0; i < 100; i++) {
      if ((await execa('docker', ['version'], {reject: false, env})).exitCode === 0) break
      await new Promise((r) => setTimeout(r, 200))
    }
    // Podman places its containers' cgroups on this machine (libpod_parent with its cgroupfs
    // manager, machine.slice with systemd's). Level 1 there does not get a cgroup namespace of its
    // own, so its engine puts the next level's cgroup at the top of this machine's hierarchy, under
    // docker/ (no container of this machine's own engine runs meanwhile).
    host = laneHost(env, {}, {alsoDocker: true})
    // Start from nothing, so that the offline build is what this lane tests.
    await execa('podman', ['rmi', '-f', imageForSuite('trixie'), 'inception-base:trixie'], {reject: false})
  }, 600_000)

  afterAll(async () => {
    if (host) await cli(['down', '--all'], {env: {...host.env, CI: 'true'}})
    service?.kill('SIGTERM')
    await service
    rmSync(dir, {recursive: true, force: true})
  }, 120_000)

  it('is Podman', async () => {
    expect((await dockerOn(host, ['version', '--format', '{{.Server.Version}}']))[0]).toMatch(/^\d+\.\d+/)
    expect((await execa('docker', ['version'], {env: host.env})).stdout).toMatch(/Podman Engine/)
  })

  it('builds the level image with no registry: the failed pull is reported, then the base is bootstrapped', async () => {
    const build = await cli(['build'], {env: {...host.env, CI: 'true'}, timeout: 900_000})
    expect(build.exitCode, build.stdout + build.stderr).toBe(0)
    const output = build.stdout + build.stderr
    const failedPull = output.indexOf('pull of debian:trixie-slim failed')
    expect(failedPull, output).toBeGreaterThanOrEqual(0)
    expect(output.indexOf('bootstrap-base: debootstrap', failedPull), output).toBeGreaterThan(failedPull)
    expect(output).toMatch(/Base image inception-base:trixie \(bootstrapped\)/)
    expect(await dockerOn(host, ['image', 'inspect', '--format', '{{index .Config.Labels "io.inception.suite"}}', imageForSuite('trixie')])).toEqual(['trixie'])
  }, 900_000)

  it('runs a depth-2 nest: a container at level 2, exec, a port chain to this machine, ps, and down leaving nothing', async () => {
    const figures = await exerciseHost(host, NEST, PORT)
    console.log(`host lane podman: up --depth 2 in ${figures.upSeconds.toFixed(1)}s, privilege ${figures.privilege}, level 1 dockerd ${figures.dockerd}`)
  }, 300_000)
})
