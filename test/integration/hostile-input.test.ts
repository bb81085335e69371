import {execa} from 'execa'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {cli, type CliResult, integrationEngine, shAt, snapshot} from '../support/integration.js'

// What a new user tried, on purpose or not, that the tool answered badly: each is answered with
// one line that says what happened and what to do, with its documented exit code, and an input
// refused before anything is made changes nothing.

const engine = await integrationEngine()
const PREFIX = 'itest-hostile'
/** A plain image on the host engine: not a level image; `load` moves it by its ID. */
const PLAIN_IMAGE = `${PREFIX}-plain:1`
/** A bridge left down, holding an address Node's own interface list cannot see. */
const SPARE_BRIDGE = 'itest-spare0'
const SPARE_SUBNET = '10.213.77.0/24'
/** A container made by hand with the name a nest's level 1 would take. */
const TAKEN = `${PREFIX}-taken`

const docker = async (...args: string[]) => execa('docker', args, {reject: false})

/** One line on stderr: `inception: WHAT; WHAT TO DO`, matching PATTERN. */
function expectOneClearLine(stderr: string, pattern: RegExp): void {
  const lines = stderr.trim().split('\n')
  expect(lines, stderr).toHaveLength(1)
  expect(lines[0]).toMatch(/^inception: .+; .+/)
  expect(lines[0]).toMatch(pattern)
}

/** The line the failure is reported with (listr's task line and a failed level's log tail go around it). */
function clearLine(stderr: string): string {
  const line = stderr.split('\n').find((l) => l.startsWith('inception: '))
  expect(line, stderr).toMatch(/^inception: .+; .+/)
  return line!
}

/** Waits until CHECK is true, polling; fails the test after LIMIT ms (a bound, not a duration asserted). */
async function waitFor(what: string, check: () => Promise<boolean>, limitMs = 60_000): Promise<void> {
  const started = Date.now()
  while (!(await check())) {
    if (Date.now() - started > limitMs) throw new Error(`gave up waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

beforeAll(async () => {
  if (!engine) return
  await docker('rmi', PLAIN_IMAGE)
  // An image with no inception labels, from an empty file system.
  await execa('sh', ['-c', `tar -cf - -T /dev/null | docker import - ${PLAIN_IMAGE}`])
})

afterAll(async () => {
  if (engine) await docker('rmi', PLAIN_IMAGE)
})

describe.skipIf(!engine)('hostile input is refused, changing nothing', () => {
  beforeAll(async () => {
    await docker('rm', '-f', `${TAKEN}-l1`)
    expect((await docker('create', '--name', `${TAKEN}-l1`, '--label', 'itest=hostile', 'inception-base:trixie', 'true')).exitCode).toBe(0)
    await execa('ip', ['link', 'del', SPARE_BRIDGE], {reject: false})
    await execa('ip', ['link', 'add', SPARE_BRIDGE, 'type', 'bridge'])
    await execa('ip', ['addr', 'add', '10.213.77.1/24', 'dev', SPARE_BRIDGE])
  })

  afterAll(async () => {
    await docker('rm', '-f', `${TAKEN}-l1`)
    await execa('ip', ['link', 'del', SPARE_BRIDGE], {reject: false})
  })

  it.each([
    [['up', 'hx1'], 2, /`inception up` takes no arguments \(got "hx1"\); name the nest with --name hx1, or give the levels with --depth N/],
    [
      ['up', '--name', `${PREFIX}-x`, '--expose-daemons', '--dockerd-arg=--tlsverify=false'],
      2,
      /inception sets --tlsverify in every level itself; use --expose-daemons/,
    ],
    [['up', '--name', `${PREFIX}-x`, '--dockerd-arg=--host=tcp://0.0.0.0:2375'], 2, /inception sets --host in every level itself/],
    [['up', '--name', `${PREFIX}-x`, '--dockerd-arg=--bip=10.9.9.1/24'], 2, /inception sets --bip in every level itself; use --subnet-pool/],
    [['up', '--name', `${PREFIX}-x`, '--bind', '192.0.2.77'], 2, /--bind 192\.0\.2\.77 is not an address of this machine; give one of its addresses/],
    [['up', '--name', `${PREFIX}-x`, '--subnet-pool', '127.0.0.0/16'], 2, /overlaps 127\.0\.0\.0\/8, the loopback range/],
    [['up', '--name', `${PREFIX}-x`, '--subnet-pool', '224.1.0.0/16'], 2, /the multicast range/],
    [['up', '--name', `${PREFIX}-x`, '--subnet-pool', '0.0.0.0/0'], 2, /is wider than a \/8/],
    [['up', '--name', `${PREFIX}-x`, '--subnet-pool', SPARE_SUBNET], 2, /in use: 10\.213\.77\.0\/24/],
    [['up', '--name', `${PREFIX}-x`, '--image', 'Foo'], 2, /--image "Foo" is not an image reference: repository names are lowercase/],
    [['up', '--name', `${PREFIX}-x`, '--image', 'my image'], 2, /--image "my image" is not an image reference: it contains a space/],
    [['up', '--name', `${PREFIX}-x`, '--image', ''], 2, /--image "" is not an image reference: it is empty/],
    [['load', '--name', `${PREFIX}-x`, '--', '-x'], 2, /image "-x" is not an image reference: it starts with "-"/],
    [['load', '--name', `${PREFIX}-x`, 'My App'], 2, /image "My App" is not an image reference/],
    [['up', '--name', `${PREFIX}-x`, '--network', 'none', '-p', '18082:8080'], 2, /-p 18082:8080 cannot reach a nest on --network none/],
    [['up', '--name', `${PREFIX}-x`, '--image', PLAIN_IMAGE], 2, /itest-hostile-plain:1 is not an inception level image.*; leave --image out/],
    [['up', '--name', TAKEN], 6, /a container named itest-hostile-taken-l1 is already on this engine, and it is not nest "itest-hostile-taken"'s; remove it/],
  ])('inception %j exits %i with one clear line', async (args, code, pattern) => {
    const before = await snapshot()
    const result = await cli(args)
    expect(result.exitCode, result.stderr).toBe(code)
    expectOneClearLine(result.stderr, pattern)
    expect(await snapshot()).toEqual(before)
  })

  it("a dockerd that refuses its options is answered with dockerd's own words, not a timeout", async () => {
    const before = await snapshot()
    const result = await cli(['up', '--name', `${PREFIX}-dockerd`, '--dockerd-arg=--log-level=nope'])
    expect(result.exitCode, result.stderr).toBe(5)
    const line = clearLine(result.stderr)
    expect(line).toMatch(/^inception: level 1 failed: dockerd exited while starting: invalid logging level: nope; .*--dockerd-arg/)
    expect(line).not.toMatch(/--timeout/)
    expect(await snapshot()).toEqual(before)
  })
})

describe.skipIf(!engine)('a nest used as a new user would', () => {
  const NEST = `${PREFIX}-bind`
  let up: CliResult

  beforeAll(async () => {
    await cli(['down', '--name', NEST])
    up = await cli(['up', '--name', NEST, '--bind', '0.0.0.0', '-p', '18093:80', '--expose-daemons'])
    expect(up.exitCode, up.stderr).toBe(0)
  })

  afterAll(async () => {
    await cli(['down', '--name', NEST])
  })

  it("--bind 0.0.0.0 warns that the ports are open to other machines, and keeps the engines' ports on 127.0.0.1", async () => {
    expectOneClearLine(up.stderr, /^inception: warning: --bind 0\.0\.0\.0 makes the published ports reachable from other machines/)
    const ports = (await docker('port', `${NEST}-l1`)).stdout.split('\n').filter(Boolean)
    expect(ports).toContain('80/tcp -> 0.0.0.0:18093')
    const daemonPorts = ports.filter((line) => !line.startsWith('80/tcp'))
    expect(daemonPorts.length, ports.join('\n')).toBeGreaterThan(0)
    for (const line of daemonPorts) expect(line).toMatch(/ -> 127\.0\.0\.1:\d+$/)
    const env = await cli(['env', '--name', NEST, '--tls', '--format', 'json'])
    const port = /127\.0\.0\.1:(\d+)/.exec(daemonPorts[0]!)![1]
    expect((JSON.parse(env.stdout) as {DOCKER_HOST: string}).DOCKER_HOST).toBe(`tcp://127.0.0.1:${port}`)
  })

  it('load by image ID keeps the tags', async () => {
    const id = (await docker('image', 'inspect', '--format', '{{.Id}}', PLAIN_IMAGE)).stdout.trim()
    expect(id).toMatch(/^sha256:[0-9a-f]{64}$/)
    const load = await cli(['load', '--name', NEST, id.slice(7, 19)])
    expect(load.exitCode, load.stderr).toBe(0)
    const inside = await shAt(NEST, 1, `docker images --no-trunc --format '{{.Repository}}:{{.Tag}} {{.ID}}' | grep ${id}`)
    expect(inside.stdout.trim()).toBe(`${PLAIN_IMAGE} ${id}`)
  })
})

describe.skipIf(!engine)('a nest that goes away under a command', () => {
  it('up racing down says the nest was removed while it came up, not that it is up', async () => {
    const NEST = `${PREFIX}-race`
    await cli(['down', '--name', NEST])
    const before = await snapshot()
    // Deep enough that the levels below are still starting when `down` has ended level 1.
    const child = execa('node', ['bin/run.js', 'up', '--name', NEST, '--depth', '4'], {reject: false, all: true, env: {CI: 'true'}})
    let said = ''
    await new Promise<void>((resolve) => {
      child.all.on('data', (chunk: Buffer) => {
        said += chunk.toString()
        if (said.includes('Level 1: ready')) resolve()
      })
      void child.then(() => resolve())
    })
    expect(said).toContain('Level 1: ready')
    expect((await cli(['down', '--name', NEST])).exitCode).toBe(0)
    const up = await child
    expect(String(up.all)).not.toMatch(/is up/)
    expect(up.exitCode, String(up.all)).toBe(4)
    expect(clearLine(String(up.stderr))).toMatch(/^inception: nest "itest-hostile-race" was removed or stopped while it was coming up; /)
    expect(await snapshot()).toEqual(before)
  })

  it('exec cut by down says so, with the exit code of a missing nest', async () => {
    const NEST = `${PREFIX}-cut`
    await cli(['down', '--name', NEST])
    expect((await cli(['up', '--name', NEST])).exitCode).toBe(0)
    const child = execa('node', ['bin/run.js', 'exec', '--name', NEST, '--', 'sleep', '47'], {reject: false, env: {CI: 'true'}, stdin: 'ignore'})
    let ended = false
    void child.then(() => (ended = true))
    await waitFor('sleep 47 to run at level 1', async () => {
      if (ended) throw new Error(`exec ended before down: ${String((await child).stderr)}`)
      return (await docker('top', `${NEST}-l1`)).stdout.includes('sleep 47')
    })
    expect((await cli(['down', '--name', NEST])).exitCode).toBe(0)
    const exec = await child
    expect(exec.exitCode, String(exec.stderr)).toBe(4)
    expectOneClearLine(String(exec.stderr), /nest "itest-hostile-cut" was removed or stopped while `sleep 47` ran at level 1/)
  })

  it('exec into a level whose dockerd died, and logs once level 1 is gone, say which level stopped', async () => {
    const NEST = `${PREFIX}-dead`
    await cli(['down', '--name', NEST])
    try {
      expect((await cli(['up', '--name', NEST, '--depth', '3'])).exitCode).toBe(0)
      expect((await shAt(NEST, 2, 'kill -9 "$(cat /run/inception/dockerd.pid)"')).exitCode).toBe(0)
      await waitFor('ps to show level 2 down', async () => {
        const ps = await cli(['ps', '--name', NEST, '--json'])
        return (JSON.parse(ps.stdout) as Array<{levels: Array<{state: string}>}>)[0]!.levels[1]!.state !== 'running'
      })
      const exec = await cli(['exec', '--name', NEST, '--level', '3', '--', 'true'])
      expect(exec.exitCode, exec.stderr).toBe(5)
      expectOneClearLine(exec.stderr, /level 2 of nest "itest-hostile-dead" is \w+.*: `true` at level 3 got no answer or was cut off; see `inception ps/)

      expect((await docker('kill', `${NEST}-l1`)).exitCode).toBe(0)
      const logs = await cli(['logs', '--name', NEST, '--level', '2'])
      expect(logs.exitCode, logs.stderr).toBe(5)
      expectOneClearLine(logs.stderr, /level 1 of nest "itest-hostile-dead" is exited .*: level 2's output cannot be read; /)
    } finally {
      await cli(['down', '--name', NEST])
    }
  })
})
