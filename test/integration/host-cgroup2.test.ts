import {execa} from 'execa'
import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {TLS_DIR} from '../../src/nesting/contract.js'
import {connectEngine} from '../../src/nesting/dockerode-engine.js'
import {decidePrivilege, hostSettingsFor} from '../../src/nesting/privilege.js'
import {DEFAULT_IMAGE} from '../../src/nesting/suites.js'
import {issueNestCertificates, serverFiles, writeClientFolder} from '../../src/nesting/tls.js'
import {integrationEngine} from '../support/integration.js'
import {dockerOn, exerciseHost, type TestHost, laneHost} from '../support/lanes.js'

/**
 * Host lane: a cgroup v2 engine. This kernel mounts a controller-less cgroup2 hierarchy beside
 * the v1 ones; a container in its own cgroup namespace can put it in place of its v1 view. A
 * dockerd started there (by the level image's own init, which takes the v2 path) reports cgroup
 * version 2, and so does every level of a nest on it. It listens with mutual TLS on a port
 * published on 127.0.0.1 only. Resource limits cannot be tested this way (no controllers):
 * budgets are refused there; everything else on the v2 path can be tested.
 */
const engine = await integrationEngine()
const HOST_CONTAINER = 'itest-cgroup2-host'
const API_PORT = 18_291
const PORT = 18_290
const NEST = 'itest-on-cgroup2'

describe.skipIf(!engine)('host lane: a cgroup v2 engine', () => {
  const dir = mkdtempSync(join(tmpdir(), 'itest-cgroup2-'))
  let host: TestHost

  beforeAll(async () => {
    const certs = await issueNestCertificates('cgroup2-host', ['127.0.0.1'])
    // The same files, by the same code, as a nest's level 1 and its client get them.
    const server = join(dir, 'server')
    const client = join(dir, 'client')
    mkdirSync(server)
    for (const [file, content] of Object.entries(serverFiles(certs)))
      writeFileSync(join(server, file), content, {mode: file.endsWith('key.pem') ? 0o600 : 0o644})
    writeClientFolder(client, certs)

    const local = await connectEngine()
    await local.removeContainer(HOST_CONTAINER)
    const settings = hostSettingsFor(await decidePrivilege(local, DEFAULT_IMAGE, 'auto'))
    const id = await local.createContainer({
      name: HOST_CONTAINER,
      image: DEFAULT_IMAGE,
      entrypoint: ['sh', '-c', 'umount -l /sys/fs/cgroup && mount -t cgroup2 cgroup2 /sys/fs/cgroup && exec /usr/local/bin/inception-init'],
      env: [
        'INCEPTION_LEVEL=1',
        'INCEPTION_DEPTH=1',
        'INCEPTION_NEST=itest-cgroup2',
        // The options the renderer would give a level: its bridge, and the TLS listener of --expose-daemons.
        `INCEPTION_DOCKERD_OPTIONS=--bip=10.213.90.1/24 --host=tcp://0.0.0.0:23751 --tlsverify ${['ca', 'server-cert', 'server-key']
          .map((file, i) => `--${['tlscacert', 'tlscert', 'tlskey'][i]}=${TLS_DIR}/${file}.pem`)
          .join(' ')}`,
        'INCEPTION_PRIVILEGE_USED=caps',
      ],
      exposedPorts: ['23751/tcp', `${PORT}/tcp`],
      host: {
        ...settings,
        binds: [`${server}:/run/inception/tls:ro`],
        portBindings: {'23751/tcp': [{HostIp: '127.0.0.1', HostPort: String(API_PORT)}], [`${PORT}/tcp`]: [{HostIp: '127.0.0.1', HostPort: String(PORT)}]},
      },
    })
    await local.startContainer(id)
    const env = {DOCKER_HOST: `tcp://127.0.0.1:${API_PORT}`, DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: client}
    for (let i = 0; i < 150; i++) {
      if ((await execa('docker', ['version'], {reject: false, env})).exitCode === 0) break
      await new Promise((r) => setTimeout(r, 200))
    }
    // The level image, from this machine's engine into the cgroup v2 one.
    await execa('sh', ['-c', `docker save ${DEFAULT_IMAGE} | DOCKER_HOST=${env.DOCKER_HOST} DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=${client} docker load -q`])
    // The cgroups its containers get, seen inside the container it runs in (cgroup v2 there).
    host = laneHost(env, {container: HOST_CONTAINER})
  }, 600_000)

  afterAll(async () => {
    if (host) await execa('node', [new URL('../../bin/run.js', import.meta.url).pathname, 'down', '--all'], {env: {...host.env, CI: 'true'}, reject: false})
    await execa('docker', ['rm', '-f', '-v', HOST_CONTAINER], {reject: false})
    rmSync(dir, {recursive: true, force: true})
  }, 120_000)

  it('is an engine on cgroup v2, and a level on it sees cgroup2', async () => {
    expect(await dockerOn(host, ['info', '--format', '{{.CgroupVersion}}'])).toEqual(['2'])
    expect(await dockerOn(host, ['run', '--rm', '--entrypoint', 'stat', DEFAULT_IMAGE, '-f', '-c', '%T', '/sys/fs/cgroup'])).toEqual(['cgroup2fs'])
  })

  // The engine would take a limit and drop it with a warning (no controller): inception refuses it, having made nothing.
  it('refuses budgets its cgroups cannot enforce, in one line, creating nothing', async () => {
    const bin = new URL('../../bin/run.js', import.meta.url).pathname
    for (const [flag, value] of [
      ['--memory', '1g'],
      ['--cpus', '1'],
      ['--pids', '512'],
    ] as const) {
      const up = await execa('node', [bin, 'up', '--name', `${NEST}-budget`, flag, value], {env: {...host.env, CI: 'true'}, reject: false})
      expect(up.exitCode, up.stderr).toBe(2)
      const lines = up.stderr.trim().split('\n')
      expect(lines, up.stderr).toHaveLength(1)
      expect(lines[0]).toMatch(new RegExp(`^inception: ${flag} cannot be enforced on this engine: its cgroups have no controller for it; leave ${flag} out`))
      expect(await dockerOn(host, ['ps', '-a', '--format', '{{.Names}}'])).not.toContain(`${NEST}-budget-l1`)
      expect(await dockerOn(host, ['volume', 'ls', '--format', '{{.Name}}'])).not.toContain(`${NEST}-budget-l1`)
    }
  })

  it('runs a depth-2 nest: a container at level 2, exec, a port chain to this machine, ps, and down leaving nothing', async () => {
    const figures = await exerciseHost(host, NEST, PORT, '0.0.0.0')
    console.log(`host lane cgroup2: up --depth 2 in ${figures.upSeconds.toFixed(1)}s, privilege ${figures.privilege}, level 1 dockerd ${figures.dockerd}`)
  }, 300_000)
})
