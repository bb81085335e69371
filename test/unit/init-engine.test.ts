import {readFileSync} from 'node:fs'
import {describe, expect, it} from 'vitest'

import {daemonInnerPort, TLS_DIR} from '../../src/nesting/contract.js'
import {planNest} from '../../src/nesting/plan.js'
import {renderLevel} from '../../src/nesting/render.js'
import {parseUpRequest, type UpInput} from '../../src/nesting/request.js'
import {initSandboxes, type InitSandbox} from '../support/init-shell.js'

/**
 * The init's engine steps, run by `sh`: the options its dockerd is started with (dockerd is a
 * fake that writes its arguments down) from the environment the CLI renders for each level, and
 * the bounded waits for containerd and dockerd (`sleep` is a function that counts the pauses
 * instead of taking them, so a bound of seconds is checked without waiting for it).
 */
const sandbox = initSandboxes()

// dockerd writes its arguments one per line; docker starts a container, and answers nothing else.
const fakes = {dockerd: 'printf "%s\\n" "$@" >"$SANDBOX/dockerd.args"', docker: '[ "$1" = run ]'}
const dockerdStep = 'mkdir -p "$STATE_DIR"; STORAGE_DRIVER=overlay2; DOCKERD_MAJOR=26; IP6TABLES_OPTION=; choose_mtu; start_dockerd; wait'

/** The arguments start_dockerd gives dockerd, in this sandbox, with this environment. */
async function dockerdArguments(box: InitSandbox, env: Record<string, string>): Promise<string[]> {
  const result = await box.run(dockerdStep, env)
  expect(result.exitCode, result.stderr).toBe(0)
  return readFileSync(box.path('dockerd.args'), 'utf8').trimEnd().split('\n')
}

/** Level K's init variables as the CLI renders them (level 1's on its container, the others' in the plan). */
function renderedEnvironment(level: number, input: UpInput): Record<string, string> {
  const {spec} = renderLevel(planNest(parseUpRequest(input), []), {mode: 'privileged', reason: 'test'}, level)
  const entries = spec.env!.map((entry): [string, string] => [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)])
  // Not PATH (a level below the first is given one): the sandbox's fakes must come first.
  return Object.fromEntries(entries.filter(([name]) => name.startsWith('INCEPTION_')))
}

describe("the init's dockerd options", () => {
  const extra = ['--debug', '--max-concurrent-downloads=1']

  it.each([1, 2, 5])("level %i starts its dockerd with the rendered options: its bridge and pool, then the user's --dockerd-arg", async (level) => {
    const env = renderedEnvironment(level, {depth: 5, dockerdArgs: extra})
    const args = await dockerdArguments(sandbox(fakes), env)
    expect(args.slice(0, 2)).toEqual(['--host=unix:///var/run/docker.sock', '--storage-driver=overlay2'])
    const bip = args.find((arg) => arg.startsWith('--bip='))
    expect(bip).toBe(`--bip=${planNest(parseUpRequest({depth: 5}), []).levels[level - 1]!.bridge}`)
    expect(args.slice(-2)).toEqual(extra)
  })

  it("without --dockerd-arg, dockerd gets inception's options only; the MTU asked for goes to every level", async () => {
    const env = renderedEnvironment(2, {depth: 3, mtu: 1400})
    const args = await dockerdArguments(sandbox(fakes), env)
    expect(args.filter((arg) => !arg.startsWith('--bip=') && !arg.startsWith('--default-address-pool='))).toEqual([
      '--host=unix:///var/run/docker.sock',
      '--storage-driver=overlay2',
      '--mtu=1400',
      '--default-network-opt=bridge=com.docker.network.driver.mtu=1400',
    ])
  })

  it("with --expose-daemons: level K's engine listens on its own port with mutual TLS from the nest's material", async () => {
    const args = await dockerdArguments(sandbox(fakes), renderedEnvironment(3, {depth: 3, exposeDaemons: true}))
    expect(args).toEqual(
      expect.arrayContaining([
        `--host=tcp://0.0.0.0:${daemonInnerPort(3)}`,
        '--tlsverify',
        `--tlscacert=${TLS_DIR}/ca.pem`,
        `--tlscert=${TLS_DIR}/server-cert.pem`,
        `--tlskey=${TLS_DIR}/server-key.pem`,
      ]),
    )
    expect((await dockerdArguments(sandbox(fakes), renderedEnvironment(3, {depth: 3}))).some((arg) => arg.includes('tls'))).toBe(false)
  })
})

describe("the init's bounded waits", () => {
  // Counts the pauses instead of taking them; the daemon waited for (job NAME) lives until the shell exits.
  const counting = (job: string) =>
    [
      'sleep() { echo "$1" >>"$SANDBOX/pauses"; }',
      `start_job ${job} tail -f /dev/null`,
      `trap 'kill "$(job_pid ${job})"' EXIT`,
      // containerd's socket, in the sandbox: the host's engine may have one where a level's is.
      'CONTAINERD_SOCKET="$SANDBOX/containerd.sock"',
    ].join('\n')
  const pauses = (box: InitSandbox) => readFileSync(box.path('pauses'), 'utf8').trimEnd().split('\n')

  it.each([1, 3])('dockerd has INCEPTION_READY_TIMEOUT=%i seconds to answer, in twentieths, then the level fails', async (seconds) => {
    const box = sandbox(fakes)
    const result = await box.run(`${counting('dockerd')}\nwait_for_dockerd`, {INCEPTION_READY_TIMEOUT: String(seconds)})
    expect(result.exitCode).toBe(1)
    expect(result.stderr).toContain(`error: dockerd did not answer within ${seconds}s`)
    expect(pauses(box)).toEqual(Array.from({length: seconds * 20 - 1}, () => '0.05'))
  })

  it.each([1, 3])('containerd has INCEPTION_READY_TIMEOUT=%i seconds to listen, in fiftieths, then the level fails', async (seconds) => {
    const box = sandbox(fakes)
    const result = await box.run(`${counting('containerd')}\nwait_for_containerd`, {INCEPTION_READY_TIMEOUT: String(seconds)})
    expect(result.exitCode).toBe(1)
    expect(result.stderr).toContain(`error: containerd did not listen within ${seconds}s`)
    expect(pauses(box)).toEqual(Array.from({length: seconds * 50 - 1}, () => '0.02'))
  })
})
