import {connect, createServer, type Server} from 'node:net'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {LABEL} from '../../src/nesting/contract.js'
import {cli, type CliResult, describeEvent, engineChanges, engineEventsDuring, integrationEngine, snapshot} from '../support/integration.js'

const engine = await integrationEngine()
const NEST = 'itest-bad'
const DEAD_ENGINE = {DOCKER_HOST: 'tcp://127.0.0.1:1'}
/** A port this test holds on the host, so that `-p` onto it must be refused. */
const BUSY_PORT = 18_111

/** Whether something accepts TCP connections at 127.0.0.1:PORT. */
async function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

/**
 * Runs the CLI with `args` and returns its result with the events this machine's engine recorded
 * meanwhile. For refused input the engine must record nothing at all: no create or destroy of a
 * container, volume, network or image, and no read either (a refusal is decided before the engine
 * is asked for anything that shows as an event).
 */
async function refusedOnThisEngine(args: string[], env?: Record<string, string>): Promise<CliResult> {
  const {result, events} = await engineEventsDuring(() => cli(args, env ? {env} : undefined))
  expect(events.map(describeEvent), `events while \`inception ${args.join(' ')}\` ran`).toEqual([])
  return result
}

/** One line on stderr that says what went wrong and what to do. */
function expectOneClearLine(stderr: string, pattern: RegExp): void {
  const lines = stderr.trim().split('\n')
  expect(lines, stderr).toHaveLength(1)
  expect(lines[0]).toMatch(/^inception: .+; .+/)
  expect(lines[0]).toMatch(pattern)
}

describe.skipIf(!engine)('bad input is refused, changing nothing', () => {
  let busy: Server

  beforeAll(async () => {
    await cli(['down', '--name', NEST])
    {
      const up = await cli(['up', '--name', NEST, '--depth', '1'])
      expect(up.exitCode, up.stderr).toBe(0)
    }
    busy = createServer()
    await new Promise<void>((resolve) => busy.listen(BUSY_PORT, '127.0.0.1', resolve))
  })

  afterAll(async () => {
    busy.close()
    await cli(['down', '--name', NEST])
  })

  it.each([
    [['up', '--depth', '0'], 2, /--depth 0 is out of range/],
    [['up', '--depth', '-1'], 2, /--depth -1 is out of range/],
    [['up', '--depth', '2', '--depth', '3'], 2, /--depth can only be specified once/],
    [['up', '--depth'], 2, /--depth expects a value/],
    [['up', '--max-depth', '1000', '--depth', '400'], 2, /--depth 400 needs about 32000 MB .* use --depth \d+ or less/],
    [['up', '--name', 'has space'], 2, /nest name "has space" is not allowed/],
    [['up', '--name', 'x'.repeat(300)], 2, /nest name "x{57}\.\.\." is not allowed/],
    [['up', '-p', `${BUSY_PORT}:80`], 6, /port 127\.0\.0\.1:18111 is already in use/],
    [['up', '-p', '0:80'], 2, /port 0 in -p 0:80 is out of range/],
    [['up', '-p', '70000:80'], 2, /port 70000 in -p 70000:80 is out of range/],
    [['up', '-p', '8080:80:90'], 2, /not HOST:INNER/],
    [['up', '-p', '18120:80', '-p', '18120:81'], 2, /host port 18120 is given twice/],
    [['up', '--data-root', 'loop:0'], 2, /loop data root size 0 is out of range/],
    [['up', '--data-root', 'loop:1PB'], 2, /loop data root size 1PB is out of range/],
    [['up', '--depth', '3', '--subnet-pool', '10.213.0.0/23'], 2, /has 2 free \/24 subnets, the nest needs 3/],
    [['up', '--subnet-pool', '172.17.0.0/24'], 2, /in use: 172\.17\.0\.0\/16/],
    [['up', '--memory', '1k'], 2, /--memory 1K is less than a level's engine needs \(128M\); give --memory at least 128M/],
    [['up', '--memory', '64T'], 2, /--memory 64T is more than the engine has \(\d+M\)/],
    [['up', '--depth', '3', '--memory', '300m'], 2, /--memory 300M leaves level 3 44M, less than a level's engine needs \(128M\); give --memory at least 384M/],
    [
      ['up', '--depth', '3', '--memory', '1g', '--memory', '900m@3'],
      2,
      /--memory 900M@3 is more than level 2 can give it \(its 896M less its engine's 128M: 768M\)/,
    ],
    [['up', '--memory', '512m@2'], 2, /--memory 512M@2: the nest has 1 level/],
    [['up', '--cpus', '0'], 2, /--cpus 0 gives no CPU time at all/],
    [['up', '--cpus', 'abc'], 2, /--cpus abc is not a number of CPUs/],
    [['up', '--cpus', '4096'], 2, /--cpus 4096 is more than the engine's \d+ CPUs/],
    [['up', '--depth', '2', '--cpus', '1', '--cpus', '2@2'], 2, /--cpus 2@2 is more than level 1 can give it \(its 1\)/],
    [['up', '--pids', '5'], 2, /--pids 5 is less than a level's engine needs \(64\)/],
    [['up', '--depth', '2', '--pids', '512', '--pids', '500@2'], 2, /--pids 500@2 is more than level 1 can give it \(its 512 less its engine's 64: 448\)/],
    [['up', '--privilege', 'root'], 2, /Expected --privilege=root to be one of: auto, privileged, caps, minimal; see `inception up --help`/],
    [
      ['up', '--image', 'inception:no-such-tag'],
      6,
      /the level image inception:no-such-tag is not in the engine; run `inception build --suite trixie --tag inception:no-such-tag` first/,
    ],
    [['ps', '--context', 'no-such-context'], 2, /unknown docker context "no-such-context"/],
    [['env', '--name', NEST, '--format', 'yaml'], 2, /Expected --format=yaml to be one of: shell, fish, json; see `inception env --help`/],
    [['up', '--registry-mirror', 'http://127.0.0.1:5000'], 2, /--registry-mirror http:\/\/127\.0\.0\.1:5000 is on this machine's loopback; no level reaches/],
    [['up', '--registry-mirror', 'mirror.lan:5000'], 2, /--registry-mirror mirror\.lan:5000 is not an http:\/\/ or https:\/\/ URL/],
    [['up', '--ca-cert', '/no/such/ca.pem'], 2, /--ca-cert \/no\/such\/ca\.pem cannot be read \(ENOENT\); give the path of a PEM file/],
    [['up', '--dns', 'abc'], 2, /--dns abc is not an IP address; give the address of a DNS server/],
    [['up', '--dockerd-arg=--registry-mirror=http://m.lan'], 2, /inception sets --registry-mirror in every level itself; use --registry-mirror/],
    [['up', '--depth', 'abc'], 2, /--depth "abc" is not a whole number/],
    [['up', '--depth', '2.5'], 2, /not a whole number/],
    [['up', '--depth', '10000'], 2, /out of range.*--max-depth/],
    [['up', '--storage-driver', 'nope'], 2, /Expected --storage-driver=nope to be one of: overlay2, fuse-overlayfs, vfs/],
    [['up', '--name', 'a/b'], 2, /nest name "a\/b" is not allowed/],
    [['up', '-p', '8080'], 2, /not HOST:INNER/],
    [['up', '--no-such-flag'], 2, /Nonexistent flag: --no-such-flag/],
    [['up', '--name', NEST], 6, /already exists.*inception down --name itest-bad/],
    [['exec', '--name', NEST, '--level', '2', '--', 'true'], 2, /level 2 is outside nest "itest-bad".*between 1 and 1/],
    [['exec', '--name', 'nosuchnest', '--', 'true'], 4, /no nest named "nosuchnest"/],
    [['logs', '--name', NEST, '--level', '0'], 2, /--level 0 does not exist/],
    [['up', '--network', 'itest-no-such-network'], 2, /the network "itest-no-such-network" does not exist on this engine; create it/],
    [['up', '--mtu', '100'], 2, /--mtu 100 is out of range; give 576 to 9216/],
    [['up', '--mtu', 'abc'], 2, /--mtu "abc" is not a whole number/],
    [['up', '--max-depth', '0'], 2, /--max-depth: Expected an integer greater than or equal to 1 but received: 0/],
    [['exec', '--level', 'abc', '--', 'true'], 2, /--level "abc" is not a whole number/],
    [['logs', '--name', NEST, '--tail', '0'], 2, /--tail: Expected an integer greater than or equal to 1 but received: 0/],
    [['demo', '--port', '0'], 2, /--port 0 is out of range; give a port from 1 to 65535/],
    [['build', '--suite', 'nope'], 2, /Expected --suite=nope to be one of: trixie, forky, bookworm; see `inception build --help`/],
    [['up', '--suite', 'sid'], 2, /Expected --suite=sid to be one of: trixie, forky, bookworm/],
    [['load', '--name', NEST], 2, /Missing 1 required arg/],
    [['load', 'busybox', '--name', NEST, '--level', '1', '--all-levels'], 2, /--all-levels=true cannot also be provided when using --level/],
  ])('inception %j exits %i with one clear line', async (args, code, pattern) => {
    const before = await snapshot()
    const result = await refusedOnThisEngine(args)
    expect(result.exitCode).toBe(code)
    expectOneClearLine(result.stderr, pattern)
    expect(await snapshot()).toEqual(before)
  })

  // The command is pointed at an address where no engine can be: nothing can be made there. What
  // can go wrong is the command reaching another engine (this machine's, the default) instead:
  // that engine must record nothing, and the command must name the address it was given.
  it.each([['up', '--depth', '2'], ['down'], ['ps'], ['exec', '--', 'true'], ['logs'], ['build']])(
    'inception %j with an engine that does not answer exits 3 and names the address',
    async (...args) => {
      expect(await listening(1), 'something listens on 127.0.0.1:1, the address this test needs dead').toBe(false)
      const before = await snapshot()
      const result = await refusedOnThisEngine(args, {...DEAD_ENGINE, CI: 'true'})
      expect(result.exitCode).toBe(3)
      expectOneClearLine(result.stderr, /no Docker engine answers at tcp:\/\/127\.0\.0\.1:1 .*ensure-engine\.sh/)
      expect(await snapshot()).toEqual(before)
    },
  )

  it('an unreadable DOCKER_CERT_PATH is named, with what to do', async () => {
    const before = await snapshot()
    // Refused before any engine is reached: this machine's, the one it could fall back to, records nothing.
    const result = await refusedOnThisEngine(['ps'], {
      DOCKER_HOST: 'tcp://127.0.0.1:2376',
      DOCKER_TLS_VERIFY: '1',
      DOCKER_CERT_PATH: '/nonexistent/certs',
      CI: 'true',
    })
    expect(result.exitCode).toBe(2)
    expectOneClearLine(result.stderr, /DOCKER_CERT_PATH \/nonexistent\/certs: \/nonexistent\/certs\/ca\.pem is missing \(ENOENT\); point it at/)
    expect(await snapshot()).toEqual(before)
  })

  it('the event check sees what end states cannot: an up that made level 1 and rolled it back', async () => {
    const name = 'itest-bad-rollback'
    await cli(['down', '--name', name])
    const before = await snapshot()
    // Level 1's dockerd refuses an option it does not know: up fails after making level 1, and removes it.
    const {result, events} = await engineEventsDuring(() => cli(['up', '--name', name, '--dockerd-arg=--no-such-option']))
    expect(result.exitCode, result.stderr).not.toBe(0)
    expect(await snapshot()).toEqual(before)
    const changes = engineChanges(events).map(describeEvent)
    for (const change of [`volume create ${name}-l1`, `container create ${name}-l1`, `container destroy ${name}-l1`, `volume destroy ${name}-l1`])
      expect(changes, "the engine's account of the rolled back up").toContain(change)
  })

  it('the nest it refused to touch is still up', async () => {
    const result = await cli(['exec', '--name', NEST, '--', 'docker', 'version', '--format', '{{.Server.Version}}'])
    expect(result.exitCode).toBe(0)
  })
})

describe.skipIf(!engine)('privilege modes against this engine', () => {
  it('--privilege privileged works where the engine allows it, and otherwise says to use caps, changing nothing', async () => {
    const {decidePrivilege} = await import('../../src/nesting/privilege.js')
    const {DEFAULT_IMAGE} = await import('../../src/nesting/suites.js')
    const allowed = (await decidePrivilege(engine!, DEFAULT_IMAGE, 'auto')).mode === 'privileged'
    await cli(['down', '--name', 'itest-privileged'])
    const before = await snapshot()
    const {result, events} = await engineEventsDuring(() => cli(['up', '--name', 'itest-privileged', '--privilege', 'privileged']))
    if (allowed) {
      expect(result.exitCode, result.stderr).toBe(0)
      expect((await cli(['down', '--name', 'itest-privileged'])).exitCode).toBe(0)
    } else {
      expect(result.exitCode).toBe(2)
      expectOneClearLine(result.stderr, /this engine refuses --privileged .*; use --privilege caps \(or auto, which chooses it by itself\)/)
      // Finding out may start the privilege probe (a throwaway container, labelled as one, that
      // the engine connects to its default bridge and disconnects): the only thing the refusal may
      // make, and everything it made is gone again.
      const changes = engineChanges(events)
      const probes = new Set(
        changes.filter((event) => event.Type === 'container' && event.Actor.Attributes?.[LABEL.probe] !== undefined).map((event) => event.Actor.ID),
      )
      const probe = (event: (typeof events)[number]) =>
        probes.has(event.Type === 'network' ? (event.Actor.Attributes?.container ?? '') : event.Type === 'container' ? event.Actor.ID : '')
      expect(changes.filter((event) => !probe(event)).map(describeEvent)).toEqual([])
      const made = changes.filter((event) => event.Action === 'create').map((event) => event.Actor.ID)
      const removed = changes.filter((event) => event.Action === 'destroy').map((event) => event.Actor.ID)
      expect(removed.sort()).toEqual(made.sort())
    }
    expect(await snapshot()).toEqual(before)
  })
})
