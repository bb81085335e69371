import {readFileSync} from 'node:fs'
import {describe, expect, it} from 'vitest'

import {initSandboxes, type InitSandbox} from '../support/init-shell.js'

/**
 * The init's engine steps, run by `sh`: the options its dockerd is started with (dockerd is a
 * fake that writes its arguments down), what goes down to the next level for its own dockerd, and
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

/** The environment file launch_next_level writes for the next level, as variables. */
function nextLevelEnvironment(box: InitSandbox): Record<string, string> {
  const lines = readFileSync(box.path('state/next-level.env'), 'utf8').trimEnd().split('\n')
  return Object.fromEntries(lines.map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]))
}

describe("the init's dockerd options", () => {
  const extra = '--debug --max-concurrent-downloads=1'

  it.each([1, 2, 5])('level %i starts its dockerd with the --dockerd-arg options, after its own', async (level) => {
    const args = await dockerdArguments(sandbox(fakes), {INCEPTION_LEVEL: String(level), INCEPTION_DEPTH: '5', INCEPTION_DOCKERD_ARGS: extra})
    expect(args.slice(0, 2)).toEqual(['--host=unix:///var/run/docker.sock', '--storage-driver=overlay2'])
    expect(args.slice(-2)).toEqual(['--debug', '--max-concurrent-downloads=1'])
  })

  it("without --dockerd-arg, dockerd gets only the init's own options", async () => {
    const args = await dockerdArguments(sandbox(fakes), {INCEPTION_LEVEL: '2', INCEPTION_DEPTH: '3', INCEPTION_MTU: '1500'})
    expect(args).toEqual([
      '--host=unix:///var/run/docker.sock',
      '--storage-driver=overlay2',
      '--mtu=1500',
      '--default-network-opt=bridge=com.docker.network.driver.mtu=1500',
    ])
  })

  it('hands the --dockerd-arg options and the MTU to the next level, whose dockerd gets them too', async () => {
    const box = sandbox(fakes)
    const levelOne = {
      INCEPTION_LEVEL: '1',
      INCEPTION_DEPTH: '3',
      INCEPTION_PRIVILEGE: 'privileged',
      INCEPTION_DOCKERD_ARGS: extra,
      INCEPTION_MTU: '1400',
      INCEPTION_STORAGE_DRIVER: 'vfs',
      INCEPTION_POOLS: '10.211.0.0/21 10.212.0.0/21 10.213.0.0/21',
      INCEPTION_READY_TIMEOUT: '7',
    }
    const launched = await box.run('mkdir -p "$STATE_DIR"; STORAGE_DRIVER=overlay2; DOCKERD_MAJOR=26; launch_next_level; wait', levelOne)
    expect(launched.exitCode, launched.stderr).toBe(0)
    expect(launched.calls.some((call) => call.startsWith('docker run '))).toBe(true)
    const levelTwo = nextLevelEnvironment(box)
    // Every INCEPTION_ variable goes down as it is, but the level and the privilege it got.
    expect(levelTwo).toMatchObject({...levelOne, INCEPTION_LEVEL: '2', INCEPTION_PRIVILEGE_USED: 'privileged'})
    // Level 2's init, started with that environment (its uplink says nothing in the sandbox).
    const args = await dockerdArguments(box, levelTwo)
    expect(args).toContain('--mtu=1400')
    expect(args.slice(-2)).toEqual(['--debug', '--max-concurrent-downloads=1'])
  })
})

describe("the init's bounded waits", () => {
  // Counts the pauses instead of taking them; the process waited for lives until the shell exits.
  const counting = [
    'sleep() { echo "$1" >>"$SANDBOX/pauses"; }',
    'tail -f /dev/null & ENGINE=$!',
    'trap \'kill "$ENGINE"\' EXIT',
    // containerd's socket, in the sandbox: the host's engine may have one where a level's is.
    'CONTAINERD_SOCKET="$SANDBOX/containerd.sock"',
  ].join('\n')
  const pauses = (box: InitSandbox) => readFileSync(box.path('pauses'), 'utf8').trimEnd().split('\n')

  it.each([1, 3])('dockerd has INCEPTION_READY_TIMEOUT=%i seconds to answer, in twentieths, then the level fails', async (seconds) => {
    const box = sandbox(fakes)
    const result = await box.run(`${counting}\nDOCKERD_PID=$ENGINE\nwait_for_dockerd`, {INCEPTION_READY_TIMEOUT: String(seconds)})
    expect(result.exitCode).toBe(1)
    expect(result.stderr).toContain(`error: dockerd did not answer within ${seconds}s`)
    expect(pauses(box)).toEqual(Array.from({length: seconds * 20 - 1}, () => '0.05'))
  })

  it.each([1, 3])('containerd has INCEPTION_READY_TIMEOUT=%i seconds to listen, in fiftieths, then the level fails', async (seconds) => {
    const box = sandbox(fakes)
    const result = await box.run(`${counting}\nCONTAINERD_PID=$ENGINE\nwait_for_containerd`, {INCEPTION_READY_TIMEOUT: String(seconds)})
    expect(result.exitCode).toBe(1)
    expect(result.stderr).toContain(`error: containerd did not listen within ${seconds}s`)
    expect(pauses(box)).toEqual(Array.from({length: seconds * 50 - 1}, () => '0.02'))
  })
})
