import {execa, type ResultPromise} from 'execa'
import {existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {issueNestCertificates, serverFiles, writeClientFolder} from '../../src/nesting/tls.js'
import {DEFAULT_IMAGE} from '../../src/nesting/suites.js'
import {cli, describeEvent, engineChanges, engineEventsDuring, integrationEngine} from '../support/integration.js'

const engine = await integrationEngine()
const PORT = 23_999
const CONTEXT = 'inception-itest-remote'

/**
 * A second Docker engine on this machine, reachable only over TCP with mutual TLS on 127.0.0.1,
 * started by the test: inception must create the nest there, not on the default engine. It has
 * its own data and exec roots, its own bridge (made by the test: with --bridge=none, dockerd
 * deletes the default engine's docker0 as a stale bridge of its own) and no iptables rules, so
 * that it does not disturb the default engine.
 */
const BRIDGE = 'inc-itest0'
/** Addresses nothing answers on: what is checked is that every level's engine has them. */
const MIRROR = 'http://10.213.99.50:5000'
const INSECURE = '10.213.99.50:5001'
const BRIDGE_ADDRESS = '10.213.99.1/24'

describe.skipIf(!engine)('a remote engine over TCP with TLS', () => {
  const dir = mkdtempSync(join(tmpdir(), 'inception-engine2-'))
  const server = join(dir, 'server')
  const client = join(dir, 'client')
  let daemon: ResultPromise | undefined
  let env: Record<string, string>

  beforeAll(async () => {
    const certs = await issueNestCertificates('engine2', ['127.0.0.1'])
    mkdirSync(server)
    for (const [file, content] of Object.entries(serverFiles(certs)))
      writeFileSync(join(server, file), content, {mode: file.endsWith('key.pem') ? 0o600 : 0o644})
    writeClientFolder(client, certs)
    // Registry settings of its own, as an engine's daemon.json has them: every level of a nest there inherits them.
    writeFileSync(join(dir, 'daemon.json'), JSON.stringify({'registry-mirrors': [MIRROR], 'insecure-registries': [INSECURE]}))
    await execa('sh', [
      '-c',
      `ip link del ${BRIDGE} 2>/dev/null; ip link add ${BRIDGE} type bridge && ip addr add ${BRIDGE_ADDRESS} dev ${BRIDGE} && ip link set ${BRIDGE} up`,
    ])
    daemon = execa(
      'dockerd',
      [
        `--host=tcp://127.0.0.1:${PORT}`,
        '--tlsverify',
        `--tlscacert=${server}/ca.pem`,
        `--tlscert=${server}/server-cert.pem`,
        `--tlskey=${server}/server-key.pem`,
        `--data-root=${dir}/data`,
        `--exec-root=${dir}/exec`,
        `--pidfile=${dir}/dockerd.pid`,
        `--bridge=${BRIDGE}`,
        '--iptables=false',
        '--ip-masq=false',
        `--config-file=${dir}/daemon.json`,
      ],
      {reject: false, stdout: 'ignore', stderr: 'ignore', detached: false},
    )
    env = {DOCKER_HOST: `tcp://127.0.0.1:${PORT}`, DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: client}
    for (let i = 0; i < 100; i++) {
      if ((await execa('docker', ['version'], {reject: false, env})).exitCode === 0) break
      await new Promise((r) => setTimeout(r, 200))
    }
    // The image, from the default engine into the second one.
    await execa('sh', ['-c', `docker save ${DEFAULT_IMAGE} | DOCKER_HOST=${env.DOCKER_HOST} DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=${client} docker load -q`])
  }, 300_000)

  afterAll(async () => {
    await cli(['down', '--all'], {env})
    await execa('docker', ['context', 'rm', '-f', CONTEXT], {reject: false})
    daemon?.kill('SIGTERM')
    await daemon
    await execa('sh', ['-c', `umount $(grep ' ${dir}/' /proc/mounts | cut -d' ' -f2 | sort -r) 2>/dev/null; true`])
    rmSync(dir, {recursive: true, force: true})
    await execa('ip', ['link', 'del', BRIDGE], {reject: false})
  }, 120_000)

  afterAll(async () => {
    // The default engine must be as it was: its bridge in particular.
    expect((await execa('ip', ['link', 'show', 'docker0'], {reject: false})).exitCode).toBe(0)
  })

  it('brings a nest up there through DOCKER_HOST, and only there', async () => {
    const up = await cli(['up', '--name', 'itest-remote', '--depth', '3'], {env})
    expect(up.exitCode, up.stderr).toBe(0)
    // The engine's own registry settings, inherited with no flag, down to level 3.
    const settings = await cli(
      [
        'exec',
        '--name',
        'itest-remote',
        '--level',
        '3',
        '--',
        'docker',
        'info',
        '--format',
        '{{.RegistryConfig.Mirrors}} {{json .RegistryConfig.IndexConfigs}}',
      ],
      {env},
    )
    expect(settings.stdout).toMatch(new RegExp(`^\\[${MIRROR}/\\] .*"${INSECURE}":\\{[^}]*"Secure":false`))
    const driver = await cli(['exec', '--name', 'itest-remote', '--level', '2', '--', 'docker', 'info', '--format', '{{.Driver}}'], {env})
    expect(driver.stdout).toBe('overlay2')
    const onRemote = await execa('docker', ['ps', '--format', '{{.Names}}'], {env})
    expect(onRemote.stdout.split('\n')).toContain('itest-remote-l1')
    const onDefault = await cli(['ps', '--name', 'itest-remote'])
    expect(onDefault.exitCode).toBe(4)
    // No sockets on this machine for a remote engine's levels: env says so, and why.
    const noWay = await cli(['env', '--name', 'itest-remote', '--level', '2'], {env})
    expect(noWay.exitCode).toBe(6)
    expect(noWay.stderr).toContain(
      `(its engine, ${env.DOCKER_HOST}, is not on this machine, where sockets would be, and it was started without --expose-daemons)`,
    )
  })

  it('refuses sockets asked for on a remote engine, in one line, creating nothing there', async () => {
    const {result, events} = await engineEventsDuring(() => cli(['up', '--name', 'itest-remote-s', '--sockets', join(dir, 'sockets')], {env}), env)
    expect(result.exitCode).toBe(2)
    expect(result.stderr.trim()).toBe(
      `inception: --sockets needs an engine on this machine, and ${env.DOCKER_HOST} is not one ` +
        "(it is reached over the network, so its files are not this machine's); " +
        "leave --sockets out (a remote engine's levels are reached with --expose-daemons and `inception env`), or give --sockets none",
    )
    expect(engineChanges(events).map(describeEvent)).toEqual([])
    expect(existsSync(join(dir, 'sockets'))).toBe(false)
  })

  it('reaches the same nest through a docker context', async () => {
    await execa('docker', ['context', 'rm', '-f', CONTEXT], {reject: false})
    await execa('docker', [
      'context',
      'create',
      CONTEXT,
      '--docker',
      `host=${env.DOCKER_HOST},ca=${client}/ca.pem,cert=${client}/cert.pem,key=${client}/key.pem`,
    ])
    const ps = await cli(['ps', '--context', CONTEXT, '--name', 'itest-remote', '--json'])
    expect(ps.exitCode, ps.stderr).toBe(0)
    const [nest] = JSON.parse(ps.stdout) as Array<{levels: Array<{state: string}>}>
    expect(nest!.levels.map((l) => l.state)).toEqual(['running', 'running', 'running'])
    const down = await cli(['down', '--context', CONTEXT, '--name', 'itest-remote'])
    expect(down.exitCode).toBe(0)
    expect((await execa('docker', ['ps', '-aq'], {env})).stdout).toBe('')
  })

  it('refuses an unknown context and a client without certificates, clearly', async () => {
    const unknown = await cli(['ps', '--context', 'no-such-context'])
    expect(unknown.exitCode).toBe(2)
    expect(unknown.stderr.trim()).toBe(
      'inception: unknown docker context "no-such-context"; see the contexts with `docker context ls`, or create one with `docker context create`',
    )
    const unreadable = await cli(['ps'], {env: {...env, DOCKER_CERT_PATH: join(dir, 'nowhere')}})
    expect(unreadable.exitCode).toBe(2)
    expect(unreadable.stderr).toMatch(/DOCKER_CERT_PATH .*nowhere.*ca\.pem is missing/)
  })
})
