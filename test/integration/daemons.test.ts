import {execa} from 'execa'
import {mkdtempSync, copyFileSync, existsSync, statSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {capabilitiesInMask, readCapabilityMask} from '../../src/nesting/privilege.js'
import {cli, expectNestIn, type HostSnapshot, integrationEngine, psLevels, snapshot, upFresh} from '../support/integration.js'

const engine = await integrationEngine()
const NEST = 'itest-daas'
/** Docker's default capabilities for an ordinary container (moby's defaults, 20.10). */
const DOCKER_DEFAULT_CAPS = '00000000a80425fb'

/** The variables `inception env` prints, parsed from its JSON form. */
async function envFor(level: number): Promise<Record<string, string>> {
  const result = await cli(['env', '--name', NEST, '--level', String(level), '--format', 'json'])
  expect(result.exitCode, result.stderr).toBe(0)
  return JSON.parse(result.stdout) as Record<string, string>
}

/** The stock docker CLI with an environment of our choosing (not the test runner's). */
function docker(args: string[], env: Record<string, string>) {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('DOCKER_')))
  return execa('docker', args, {reject: false, env: {...clean, ...env}, extendEnv: false, timeout: 60_000})
}

describe.skipIf(!engine)('Docker-as-a-Service: every level reachable over mutual TLS', () => {
  let before: HostSnapshot
  let shellEnv = ''

  beforeAll(async () => {
    await cli(['down', '--name', NEST])
    before = await snapshot()
    // No sockets: mutual TLS is then the route env gives, as on a remote engine.
    const up = await cli(['up', '--name', NEST, '--depth', '3', '--expose-daemons', '--sockets', 'none', '-p', '18090:8090'])
    expect(up.exitCode, up.stderr).toBe(0)
    await expectNestIn(await snapshot(), NEST)
    shellEnv = (await cli(['env', '--name', NEST, '--level', '3'])).stdout
    expect(shellEnv).toContain('through mutual TLS on its port (no socket: the nest has no sockets (--sockets none))')
  })

  afterAll(async () => {
    await cli(['down', '--name', NEST])
  })

  it('lets the stock docker CLI run a container at level 3 after eval of env', async () => {
    const result = await execa('sh', ['-c', `${shellEnv}\ndocker run --rm busybox echo ok && docker info --format '{{.Name}}'`], {reject: false})
    expect(result.stderr).toBe('')
    const [ok, name] = result.stdout.split('\n')
    expect(ok).toBe('ok')
    expect(name).toBe((await cli(['exec', '--name', NEST, '--level', '3', '--', 'hostname'])).stdout)
  })

  it('refuses a client without the nest certificate, with a TLS error', async () => {
    const env = await envFor(3)
    const onlyCa = mkdtempSync(join(tmpdir(), 'inception-no-client-'))
    copyFileSync(join(env.DOCKER_CERT_PATH!, 'ca.pem'), join(onlyCa, 'ca.pem'))
    const withoutCert = await docker(['version', '--format', '{{.Server.Version}}'], {...env, DOCKER_CERT_PATH: onlyCa})
    expect(withoutCert.exitCode).not.toBe(0)
    expect(withoutCert.stderr).toMatch(/tls|certificate|cert\.pem/i)
    const plain = await docker(['version', '--format', '{{.Server.Version}}'], {DOCKER_HOST: env.DOCKER_HOST!})
    expect(plain.exitCode).not.toBe(0)
    expect(plain.stderr).toMatch(/HTTP request to an HTTPS server/)
  })

  it('gives each level its own endpoint, shown by ps', async () => {
    const endpoints = await Promise.all([1, 2, 3].map(async (level) => (await envFor(level)).DOCKER_HOST))
    expect(new Set(endpoints).size).toBe(3)
    expect((await psLevels(NEST)).levels.map((l) => l.endpoint)).toEqual(endpoints)
    for (const [index, host] of endpoints.entries()) {
      const hostname = await docker(['info', '--format', '{{.Name}}'], {...(await envFor(index + 1)), DOCKER_HOST: host!})
      expect(hostname.stdout).toBe((await cli(['exec', '--name', NEST, '--level', String(index + 1), '--', 'hostname'])).stdout)
    }
  })

  it('keeps the certificates in a 0700 folder with 0600 keys', async () => {
    const {DOCKER_CERT_PATH: folder} = await envFor(1)
    expect(statSync(folder!).mode & 0o777).toBe(0o700)
    expect(statSync(join(folder!, 'key.pem')).mode & 0o777).toBe(0o600)
  })

  it('listens on 127.0.0.1 only', async () => {
    const ports = [18090, ...(await Promise.all([1, 2, 3].map(async (l) => Number(new URL((await envFor(l)).DOCKER_HOST!.replace('tcp:', 'http:')).port))))]
    const listening = (await execa('ss', ['-Hltn'])).stdout.split('\n')
    for (const port of ports) {
      const lines = listening.filter((line) => new RegExp(`:${port}\\s`).test(line))
      expect(lines.length, `port ${port}`).toBeGreaterThan(0)
      for (const line of lines) expect(line).toMatch(new RegExp(`127\\.0\\.0\\.1:${port}\\s`))
    }
  })

  it("starts users' containers at the innermost level with Docker's default capabilities only", async () => {
    const status = await cli(['exec', '--name', NEST, '--level', '3', '--', 'docker', 'run', '--rm', 'busybox', 'cat', '/proc/1/status'])
    expect(status.exitCode).toBe(0)
    expect(readCapabilityMask(status.stdout, 'CapEff')).toBe(DOCKER_DEFAULT_CAPS)
    expect(capabilitiesInMask(readCapabilityMask(status.stdout, 'CapEff')!)).not.toContain('SYS_ADMIN')
  })

  it('down removes the certificates and everything else', async () => {
    const {DOCKER_CERT_PATH: folder} = await envFor(1)
    expect((await cli(['down', '--name', NEST])).exitCode).toBe(0)
    expect(existsSync(folder!)).toBe(false)
    expect(await snapshot()).toEqual(before)
  })

  it('says how to reach the engines when a nest has neither sockets nor exposed daemons, and that --tls needs the latter', async () => {
    await cli(['down', '--name', 'itest-plain'])
    {
      const up = await cli(['up', '--name', 'itest-plain', '--sockets', 'none'])
      expect(up.exitCode, up.stderr).toBe(0)
    }
    const result = await cli(['env', '--name', 'itest-plain'])
    expect(result.exitCode).toBe(6)
    expect(result.stderr.trim()).toBe(
      'inception: nest "itest-plain" has no way in to its levels\' engines from this machine (it has no sockets on this machine (--sockets none) ' +
        'and was started without --expose-daemons); start it again (`inception down --name itest-plain`) with sockets (the default on a local engine) ' +
        'or --expose-daemons, or use `inception exec`',
    )
    await cli(['down', '--name', 'itest-plain'])
    // With its socket, a level has no TLS port to give unless the nest exposes its daemons.
    expect((await cli(['up', '--name', 'itest-plain'])).exitCode).toBe(0)
    const tls = await cli(['env', '--name', 'itest-plain', '--tls'])
    expect(tls.exitCode).toBe(6)
    expect(tls.stderr).toMatch(
      /^inception: nest "itest-plain" has no way in .* \(it was started without --expose-daemons, the mutual TLS route that --tls asks for\)/,
    )
    await cli(['down', '--name', 'itest-plain'])
  })
})

describe.skipIf(!engine)('--privilege minimal', () => {
  it('runs a depth-3 nest with exactly the documented capabilities at every level', async () => {
    const {MINIMAL_CAPABILITIES} = await import('../../src/nesting/privilege.js')
    const NAME = 'itest-minimal'
    const before = await upFresh(NAME, ['--depth', '3', '--privilege', 'minimal'])
    const documented = MINIMAL_CAPABILITIES.map((c) => c.name).sort()
    for (const level of (await psLevels(NAME)).levels) {
      expect(level.privilege).toBe('minimal')
      expect([...level.capabilities].sort()).toEqual(documented)
    }
    // Level 3's PID 1 read directly, not through the board.
    const status = await cli(['exec', '--name', NAME, '--level', '3', '--', 'cat', '/proc/1/status'])
    expect(capabilitiesInMask(readCapabilityMask(status.stdout, 'CapEff')!).sort()).toEqual(documented)
    expect((await cli(['exec', '--name', NAME, '--level', '3', '--', 'docker', 'run', '--rm', 'busybox', 'echo', 'ok'])).stdout).toBe('ok')
    expect((await cli(['down', '--name', NAME])).exitCode).toBe(0)
    expect(await snapshot()).toEqual(before)
  })
})
