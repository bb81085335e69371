import {execa, type ResultPromise} from 'execa'
import {existsSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {cli, ensureDebianPackage, type HostSnapshot, integrationEngine, snapshot} from '../support/integration.js'

/**
 * An engine reached over ssh://, as `DOCKER_HOST=ssh://root@host` does for the docker CLI: Debian's
 * OpenSSH server, started by the test on 127.0.0.1 only with a host key and an authorized key it
 * makes, and an ssh agent holding the key (inception, like the docker CLI's ssh helper, asks the
 * agent). Behind it is this machine's own engine, reached by `docker system dial-stdio` on the far
 * side: a nest made this way is there, and so is everything it must remove.
 */
const engine = await integrationEngine()
const SSH_PORT = 22_222
const NEST = 'itest-ssh'
const POLICY = '/usr/sbin/policy-rc.d'

/** Installs openssh-server without letting its package start a server on port 22 for everyone. */
async function ensureSshd(): Promise<string | undefined> {
  const hadPolicy = existsSync(POLICY)
  // The package's scripts ask policy-rc.d whether to start the service: no (101).
  if (!hadPolicy) writeFileSync(POLICY, '#!/bin/sh\nexit 101\n', {mode: 0o755})
  try {
    return await ensureDebianPackage('/usr/sbin/sshd', 'openssh-server')
  } finally {
    if (!hadPolicy) unlinkSync(POLICY)
  }
}

const missing = engine ? await ensureSshd() : undefined
if (missing && process.env.CI === 'true') throw new Error(`the ssh:// engine test needs sshd: ${missing}`)
if (missing) console.warn(`skipping the ssh:// engine test: ${missing}`)

describe.skipIf(!engine || missing !== undefined)('an engine over ssh://', () => {
  const dir = mkdtempSync(join(tmpdir(), 'inception-ssh-'))
  const agentSocket = join(dir, 'agent.sock')
  let sshd: ResultPromise | undefined
  let agent: ResultPromise | undefined
  let before: HostSnapshot
  /** sshd's log (-e: to its standard error), as it comes. */
  let sshdLog = ''
  /** What the CLI runs with: the engine over ssh, the key through the agent, nothing else of the runner's DOCKER_*. */
  let env: Record<string, string>

  beforeAll(async () => {
    await cli(['down', '--name', NEST])
    before = await snapshot()
    await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'host_key')])
    await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'client_key')])
    writeFileSync(join(dir, 'authorized_keys'), readFileSync(join(dir, 'client_key.pub')), {mode: 0o600})
    writeFileSync(
      join(dir, 'sshd_config'),
      [
        `ListenAddress 127.0.0.1`,
        `HostKey ${join(dir, 'host_key')}`,
        `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
        `PidFile ${join(dir, 'sshd.pid')}`,
        'PermitRootLogin prohibit-password',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'UsePAM no',
        // The temporary folder is not root's home: its modes are not what sshd checks for.
        'StrictModes no',
        '',
      ].join('\n'),
    )
    // sshd's privilege separation needs this folder; the package makes it only when its service starts.
    await execa('mkdir', ['-p', '/run/sshd'])
    sshd = execa('/usr/sbin/sshd', ['-D', '-e', '-f', join(dir, 'sshd_config'), '-p', String(SSH_PORT)], {reject: false, all: true})
    sshd.all?.on('data', (chunk: Buffer) => (sshdLog += chunk.toString()))
    agent = execa('ssh-agent', ['-D', '-a', agentSocket], {reject: false, all: true})
    for (let i = 0; i < 100 && !(existsSync(agentSocket) && (await execa('ss', ['-Hltn', `sport = :${SSH_PORT}`])).stdout.includes('127.0.0.1')); i++)
      await new Promise((r) => setTimeout(r, 100))
    await execa('ssh-add', [join(dir, 'client_key')], {env: {SSH_AUTH_SOCK: agentSocket}})
    const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('DOCKER_'))) as Record<string, string>
    env = {...clean, CI: 'true', DOCKER_HOST: `ssh://root@127.0.0.1:${SSH_PORT}`, SSH_AUTH_SOCK: agentSocket}
  }, 120_000)

  afterAll(async () => {
    await cli(['down', '--name', NEST])
    sshd?.kill('SIGTERM')
    agent?.kill('SIGTERM')
    await Promise.all([sshd, agent])
    rmSync(dir, {recursive: true, force: true})
  })

  it('listens on 127.0.0.1 only', async () => {
    const listening = (await execa('ss', ['-Hltn', `sport = :${SSH_PORT}`])).stdout.trim().split('\n')
    expect(listening.length).toBeGreaterThan(0)
    for (const line of listening) expect(line).toMatch(new RegExp(`127\\.0\\.0\\.1:${SSH_PORT}\\s`))
  })

  it('brings a nest up through DOCKER_HOST=ssh://, runs a command in it and takes it down', async () => {
    const up = await cli(['up', '--name', NEST, '--depth', '2'], {env})
    expect(up.exitCode, `${up.stdout}\n${up.stderr}\nsshd: ${sshdLog}`).toBe(0)
    const exec = await cli(['exec', '--name', NEST, '--level', '2', '--', 'docker', 'run', '--rm', 'busybox', 'echo', 'ok-over-ssh'], {env})
    expect(exec.exitCode, exec.stderr).toBe(0)
    expect(exec.stdout).toBe('ok-over-ssh')
    // sshd logged the logins: the CLI did go through it, not the local socket.
    expect(sshdLog).toMatch(/Accepted publickey for root from 127\.0\.0\.1/)
    const ps = await cli(['ps', '--name', NEST, '--json'], {env})
    expect(ps.exitCode, ps.stderr).toBe(0)
    expect((JSON.parse(ps.stdout) as Array<{levels: Array<{state: string}>}>)[0]!.levels.map((l) => l.state)).toEqual(['running', 'running'])
    const down = await cli(['down', '--name', NEST], {env})
    expect(down.exitCode, down.stderr).toBe(0)
    expect(await snapshot()).toEqual(before)
  })

  it('fails in one line when the agent holds no key the server takes', async () => {
    const noAgent = await cli(['ps'], {env: {...env, SSH_AUTH_SOCK: join(dir, 'no-agent.sock')}})
    expect(noAgent.exitCode).not.toBe(0)
    expect(noAgent.stderr.trim().split('\n'), noAgent.stderr).toHaveLength(1)
    expect(noAgent.stderr).toMatch(/^inception: /)
  })
})
